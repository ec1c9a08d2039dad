"""Database engine: the thin dialect shim between SQLite and PostgreSQL.

Everything dialect-specific lives here: URL normalisation, SQLite pragmas and the
in-process write lock SQLite needs (it allows one writer; PostgreSQL needs none).
Queries elsewhere are written once, in SQLAlchemy Core, for both.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pigeon.protocol.errors import ErrorCode, PigeonError


class StoreError(PigeonError):
    """The store is unreachable or refused an operation."""


def normalize_url(url: str) -> str:
    """Accept the URLs people type (``postgresql://``, ``sqlite:///``) and pick async drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class Database:
    """An async engine plus the right way to open read and write transactions."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {}
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 30}
        else:
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._install_sqlite_pragmas(sqlite_synchronous)

    def _install_sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Raise ``StoreError`` unless a trivial query succeeds."""
        try:
            async with self.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise StoreError(
                ErrorCode.UNAVAILABLE, f"store unreachable: {type(exc).__name__}"
            ) from exc

    async def close(self) -> None:
        await self.engine.dispose()
