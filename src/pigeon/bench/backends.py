"""What a cluster run asks of its shared backends: Redis commands and PostgreSQL work.

These counts are the inputs of the scaling model (docs/scaling.md): unlike CPU time
they do not depend on how busy the machine is, so a run on a crowded laptop still
says how many Redis commands and database transactions one message costs.

Both sources are server-wide counters read before and after the measured phase:
Redis ``INFO commandstats`` (every command any client ran) and PostgreSQL's
``pg_stat_database`` row for the benchmark's database. The readings themselves add a
few commands and one transaction each, which is noise next to thousands of messages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from pigeon.store.engine import normalize_url

# PostgreSQL sends a backend's statistics at most once a second, when it goes idle
# (PostgreSQL 15+), so the "after" reading waits a little longer than that.
STATS_FLUSH_S = 1.5

_PG_QUERY = """
SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched
FROM pg_stat_database WHERE datname = current_database()
"""


@dataclass(frozen=True)
class Reading:
    redis_calls: int
    redis_cpu_us: int  # the Redis server's own CPU time (user + system)
    pg_commits: int
    pg_rollbacks: int
    pg_rows_inserted: int
    pg_rows_updated: int
    pg_rows_deleted: int
    pg_rows_fetched: int
    redis_by_command: tuple[tuple[str, int], ...] = ()

    def minus(self, before: Reading) -> Reading:
        counts = {
            f.name: getattr(self, f.name) - getattr(before, f.name)
            for f in fields(self)
            if f.name != "redis_by_command"
        }
        earlier = dict(before.redis_by_command)
        by_command = tuple(
            (name, calls - earlier.get(name, 0))
            for name, calls in self.redis_by_command
            if calls > earlier.get(name, 0)
        )
        return Reading(**counts, redis_by_command=by_command)

    def per(self, messages: int) -> dict[str, Any]:
        """This difference divided by ``messages``, as the report shows it."""
        n = max(1, messages)
        written = self.pg_rows_inserted + self.pg_rows_updated + self.pg_rows_deleted
        return {
            "redis_commands": self.redis_calls / n,
            "redis_cpu_us": self.redis_cpu_us / n,
            "redis_by_command": {name: calls / n for name, calls in self.redis_by_command},
            "pg_transactions": (self.pg_commits + self.pg_rollbacks) / n,
            "pg_rows_written": written / n,
            "pg_rows_fetched": self.pg_rows_fetched / n,
        }


class BackendCounters:
    """Reads the counters of one PostgreSQL database and one Redis."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = normalize_url(database_url)
        self.redis_url = redis_url

    async def read(self, *, after_activity: bool = False) -> Reading:
        if after_activity:
            await asyncio.sleep(STATS_FLUSH_S)
        by_command, redis_cpu_us = await self._redis_work()
        row = await self._pg_row()
        return Reading(
            redis_calls=sum(calls for _, calls in by_command),
            redis_cpu_us=redis_cpu_us,
            pg_commits=row["xact_commit"],
            pg_rollbacks=row["xact_rollback"],
            pg_rows_inserted=row["tup_inserted"],
            pg_rows_updated=row["tup_updated"],
            pg_rows_deleted=row["tup_deleted"],
            pg_rows_fetched=row["tup_fetched"],
            redis_by_command=by_command,
        )

    async def _redis_work(self) -> tuple[tuple[tuple[str, int], ...], int]:
        """Calls per command name, and the server's CPU time in µs."""
        client = aioredis.from_url(self.redis_url)
        try:
            stats: dict[str, Any] = await client.info("commandstats")
            cpu: dict[str, Any] = await client.info("cpu")
        finally:
            await client.aclose()
        cpu_us = round((float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])) * 1e6)
        calls = tuple(
            sorted(
                (name.removeprefix("cmdstat_"), int(value["calls"]))
                for name, value in stats.items()
                if name.startswith("cmdstat_") and name != "cmdstat_info"
            )
        )
        return calls, cpu_us

    async def _pg_row(self) -> dict[str, int]:
        engine = create_async_engine(self.database_url, poolclass=sa.pool.NullPool)
        try:
            async with engine.connect() as conn:
                # A transaction's statistics are a snapshot taken at its first read.
                await conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
                row = (await conn.execute(sa.text(_PG_QUERY))).mappings().one()
        finally:
            await engine.dispose()
        return {key: int(value) for key, value in row.items()}
