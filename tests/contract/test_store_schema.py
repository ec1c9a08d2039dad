"""Migrations and the engine shim, on every backend."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from pigeon.store import migrate
from pigeon.store.facade import Store


def _head_revision() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


async def test_store_is_at_the_head_revision(store: Store) -> None:
    assert await migrate.current_revision(store.db) == _head_revision()


async def test_upgrade_is_idempotent(store: Store) -> None:
    await store.upgrade()
    await store.upgrade()
    assert await migrate.current_revision(store.db) == _head_revision()


async def test_ping(store: Store) -> None:
    await store.db.ping()
