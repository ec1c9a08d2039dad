"""Database engine: the thin dialect shim between SQLite and PostgreSQL.

Everything dialect-specific lives here: URL normalisation, SQLite pragmas, and how
a statement reaches the database. Queries elsewhere are written once, in
SQLAlchemy Core, against the small ``Conn`` interface, for both backends:

- **PostgreSQL** runs on SQLAlchemy's async engine over asyncpg.
- **SQLite** runs a synchronous engine *on the event loop*. An SQLite statement on
  pages already in memory takes microseconds, while the async driver's thread hop
  for every cursor call cost ~0.5 ms of CPU per query (measured; see
  docs/architecture.md). Only the commit, which waits for fsync, leaves the loop,
  and an in-process lock keeps SQLite's single writer to one transaction at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy import exc as exc_module
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import QueuePool

from pigeon.metrics import BackendErrorKind
from pigeon.protocol.errors import ErrorCode, PigeonError

T = TypeVar("T")


class StoreError(PigeonError):
    """The store is unreachable or refused an operation."""


def classify_db_error(exc: BaseException, *, is_disconnect: bool) -> BackendErrorKind:
    if is_disconnect or isinstance(exc, (exc_module.InterfaceError, ConnectionError)):
        return BackendErrorKind.CONNECTION
    if isinstance(exc, (exc_module.TimeoutError, TimeoutError)):
        return BackendErrorKind.TIMEOUT
    if isinstance(exc, exc_module.IntegrityError):
        return BackendErrorKind.CONSTRAINT
    return BackendErrorKind.OTHER


class Conn(Protocol):
    """What queries need from a connection (an open transaction, for writes)."""

    async def execute(self, statement: Any, parameters: Any = None) -> Any: ...

    async def run_sync(self, fn: Callable[[Connection], T]) -> T: ...

    @property
    def dialect(self) -> Dialect:
        """The backend, for the few statements written differently for each."""


LIKE_ESCAPE = "\\"


def escape_like(value: str) -> str:
    """``value`` as a LIKE literal: the escape character, ``%`` and ``_`` escaped
    (use with ``escape=LIKE_ESCAPE``)."""
    for special in (LIKE_ESCAPE, "%", "_"):
        value = value.replace(special, LIKE_ESCAPE + special)
    return value


def normalize_url(url: str) -> str:
    """Accept the URLs people type (``postgresql://``, ``sqlite:///``) and pick drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite+aiosqlite://", "sqlite+pysqlite://"),
        ("sqlite://", "sqlite+pysqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class _LoopConn:
    """A synchronous SQLite connection used from the event loop."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        return fn(self._conn)

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect


async def _off_loop(fn: Callable[[], None]) -> None:
    """Run ``fn`` in a thread and wait for it even if cancelled meanwhile (a commit
    must finish before its connection is reused)."""
    job = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        await job
        raise


class Database:
    """An engine plus the right way to open read and write transactions."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = normalize_url(url)
        self._synchronous = sqlite_synchronous
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.sync_engine = create_engine(
                self.url,
                poolclass=QueuePool,
                pool_size=8,
                max_overflow=32,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
            self._install_sqlite_pragmas(sqlite_synchronous)
        else:
            self.async_engine = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            self.sync_engine = self.async_engine.sync_engine

    @property
    def dialect(self) -> str:
        return str(self.sync_engine.dialect.name)

    def _install_sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    def observe_errors(self, observer: Callable[[BackendErrorKind], None]) -> None:
        """Call ``observer`` for every error the driver raises, whichever query raised
        it (SQLAlchemy's ``handle_error`` hook: one place for every statement and
        connection attempt, on both backends)."""

        @event.listens_for(self.sync_engine, "handle_error")
        def _on_error(context: Any) -> None:
            error = context.sqlalchemy_exception or context.original_exception
            observer(classify_db_error(error, is_disconnect=bool(context.is_disconnect)))

    @contextlib.asynccontextmanager
    async def write(self, *, durable: bool = True) -> AsyncIterator[Conn]:
        """A transaction that commits on success and rolls back on error.

        ``durable=False`` skips the wait for the disk at commit (SQLite
        ``synchronous=NORMAL`` in WAL mode, PostgreSQL ``synchronous_commit off``): a
        process crash loses nothing, a power or OS failure may lose this transaction
        whole, never half of it. For work that is redone when lost (the push outbox).
        """
        if not self.is_sqlite:
            async with self.async_engine.begin() as transaction_conn:
                if not durable:
                    await transaction_conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield transaction_conn
            return
        async with self._write_lock:
            conn = self.sync_engine.connect()
            relaxed = not durable and self._synchronous.upper() != "NORMAL"
            try:
                if relaxed:  # a pragma cannot change inside a transaction
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                    conn.commit()
                transaction = conn.begin()
                try:
                    yield _LoopConn(conn)
                except BaseException:
                    transaction.rollback()
                    raise
                await _off_loop(transaction.commit)
            finally:
                if relaxed:  # the pooled connection goes back as it came
                    conn.exec_driver_sql(f"PRAGMA synchronous={self._synchronous}")
                    conn.commit()
                conn.close()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if not self.is_sqlite:
            async with self.async_engine.connect() as async_conn:
                yield async_conn
            return
        conn = self.sync_engine.connect()
        try:
            yield _LoopConn(conn)
        finally:
            conn.close()

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
        if self.is_sqlite:
            self.sync_engine.dispose()
        else:
            await self.async_engine.dispose()
