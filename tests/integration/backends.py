"""A real server per storage backend, for modules whose every test runs on SQLite and
on PostgreSQL (the local one on 5432, a fresh database per module)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from harness import ServerProcess, require_service

POSTGRES_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]


def _admin(statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(
            POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5}
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:  # fixtures may run inside a test's loop
        pool.submit(asyncio.run, run()).result()


def serve_on(
    backend: str,
    data_dirs: pytest.TempPathFactory,
    label: str,
    settings: dict[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """Start a server on ``backend`` (with ``settings``, ``PIGEON_*`` variables) for a
    module fixture; drop its database afterwards."""
    env: dict[str, str] = dict(settings or {})
    database = f"pigeon_test_{secrets.token_hex(6)}"
    if backend == "postgresql":
        try:
            _admin(f'CREATE DATABASE "{database}"')
        except (OSError, SQLAlchemyError, TimeoutError) as exc:
            require_service("PostgreSQL", False, f"{type(exc).__name__}: {exc}")
        env["PIGEON_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{database}"
    server = ServerProcess(data_dirs.mktemp(f"{label}-{backend}"), env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if backend == "postgresql":
            _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
