"""Backend errors are counted by kind: the database through SQLAlchemy's error hook (a
real SQLite file here), Redis by the exception class its client raises."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy import text

from pigeon.broker.redis import classify_redis_error
from pigeon.metrics import Backend, BackendErrorKind, Metrics
from pigeon.store.engine import Database


def _count(metrics: Metrics, backend: Backend, kind: BackendErrorKind) -> float:
    value = metrics.registry.get_sample_value(
        "pigeon_backend_errors_total", {"backend": backend.value, "kind": kind.value}
    )
    assert value is not None, "declared series exist from the start"
    return value


async def test_database_errors_are_counted_by_kind(tmp_path: Path) -> None:
    metrics = Metrics()
    metrics.declare_backend(Backend.SQLITE)
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.observe_errors(lambda kind: metrics.backend_error(Backend.SQLITE, kind))
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(Exception, match="UNIQUE"):
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(Exception, match="no such table"):
            async with db.read() as conn:
                await conn.execute(text("SELECT * FROM missing"))
    finally:
        await db.close()
    assert _count(metrics, Backend.SQLITE, BackendErrorKind.CONSTRAINT) == 1
    assert _count(metrics, Backend.SQLITE, BackendErrorKind.OTHER) == 1
    assert _count(metrics, Backend.SQLITE, BackendErrorKind.CONNECTION) == 0


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (RedisConnectionError("refused"), BackendErrorKind.CONNECTION),
        (ConnectionRefusedError(111, "refused"), BackendErrorKind.CONNECTION),
        (RedisTimeout("slow"), BackendErrorKind.TIMEOUT),
        (TimeoutError(), BackendErrorKind.TIMEOUT),
        (ResponseError("NOSCRIPT"), BackendErrorKind.OTHER),
    ],
)
def test_redis_errors_are_classified(error: BaseException, kind: BackendErrorKind) -> None:
    assert classify_redis_error(error) is kind
