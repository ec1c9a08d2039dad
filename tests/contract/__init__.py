"""Contract tests: one suite per port, run against every available backend."""

from __future__ import annotations
