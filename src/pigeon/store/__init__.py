"""Storage: one SQL code path for SQLite and PostgreSQL, plus migrations."""

from __future__ import annotations
