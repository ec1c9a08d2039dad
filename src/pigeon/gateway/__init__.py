"""Live connections: sessions, the local connection hub, transports. Knows no SQL."""

from __future__ import annotations
