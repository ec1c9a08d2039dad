"""Unit tests: pure code driven as data, no server and no network."""

from __future__ import annotations
