"""The ``store`` fixture: a migrated store on every backend the machine offers.

SQLite (a file in a temporary directory) always runs. PostgreSQL runs when the local
server answers, on a throwaway database ``pigeon_test_<random>`` dropped at the end
of the session. Point ``PIGEON_TEST_POSTGRES_URL`` at another server's maintenance
database to use it instead; under ``PIGEON_REQUIRE_SERVICES=1`` an unreachable
server fails the PostgreSQL tests instead of skipping them.

Migrations run once per session; each SQLite test starts from a copy of a migrated
file, which keeps the suite fast.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from cluster.services import RedisClusterServers, RedisServer
from harness import require_service
from pigeon.store.engine import normalize_url
from pigeon.store.facade import Store

from .portkit import Cluster, PortBackend

POSTGRES_ADMIN_URL = os.environ.get(
    "PIGEON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_CONNECT_TIMEOUT_S = 30.0  # generous: a loaded machine can be slow to accept
# Durable enough for tests (WAL survives a process crash) and spares an fsync per commit.
SQLITE_SYNCHRONOUS = "NORMAL"


def _run_apart(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on its own loop in a helper thread.

    Session fixtures may be first requested from inside a test's running loop, where
    ``asyncio.run`` is not allowed.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, main).result()


def open_store(url: str) -> Store:
    return Store.open(url, sqlite_synchronous=SQLITE_SYNCHRONOUS)


async def _migrate(url: str) -> None:
    store = open_store(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


def _database_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    """Run one statement on the maintenance database, outside any transaction."""
    engine = create_async_engine(
        normalize_url(POSTGRES_ADMIN_URL),
        isolation_level="AUTOCOMMIT",
        connect_args={"timeout": _CONNECT_TIMEOUT_S},
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store-template") / "template.db"
    _run_apart(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throwaway database for the session (skips, or fails in CI, when unreachable).

    pytest keeps a session fixture's skip, so an absent server costs one timeout in all.
    """
    name = f"pigeon_test_{secrets.token_hex(6)}"
    try:
        _run_apart(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        where = make_url(POSTGRES_ADMIN_URL).host
        require_service("PostgreSQL", False, f"{where}: {type(exc).__name__}: {exc}")
    try:
        _run_apart(_migrate(_database_url(name)))
        yield _database_url(name)
    finally:
        _run_apart(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of a migrated database on one backend.

    SQLite: a fresh copy per test. PostgreSQL: one database per session, since creating
    databases is slow there; tests never depend on an empty store, only on fresh users.
    """
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A migrated store; tests isolate themselves by creating fresh users."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=list(PortBackend))
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Nodes of the Broker and Presence ports on one backend (tests/contract/portkit.py)."""
    backend = PortBackend(request.param)
    redis: RedisServer | RedisClusterServers | None = None
    if backend is PortBackend.REDIS:
        redis = RedisServer(tmp_path / "redis").start()
    elif backend is PortBackend.REDIS_CLUSTER:
        redis = RedisClusterServers(tmp_path / "redis-cluster").create()
    made = Cluster(backend, redis)
    try:
        yield made
    finally:
        await made.close()
        if redis is not None:
            redis.kill()
