"""The change counter behind sync cursors.

Every write a sync must report (new messages, a member's watermark or settings,
membership) stamps the rows it touches with fresh values from one counter row,
updated inside the same transaction. Holding that row's lock until commit makes
commit order follow counter order, even across nodes on PostgreSQL, so a reader
that first reads the counter and then the rows never misses a smaller stamp.
"""

from __future__ import annotations

from sqlalchemy import select, update

from pigeon.store.engine import Conn
from pigeon.store.schema import CHANGE_COUNTER, counters


async def allocate_change_ids(conn: Conn, count: int = 1) -> int:
    """Reserve ``count`` consecutive change ids; returns the last one."""
    result = await conn.execute(
        update(counters)
        .where(counters.c.name == CHANGE_COUNTER)
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    )
    return int(result.scalar_one())


async def lock_change_counter(conn: Conn) -> None:
    """Wait for the counter row's lock and hold it until commit (PostgreSQL; SQLite has
    one writer anyway). Whoever holds it next sees every write committed before."""
    await conn.execute(
        select(counters.c.value).where(counters.c.name == CHANGE_COUNTER).with_for_update()
    )


async def current_change_id(conn: Conn) -> int:
    result = await conn.execute(select(counters.c.value).where(counters.c.name == CHANGE_COUNTER))
    return int(result.scalar_one())
