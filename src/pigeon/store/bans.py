"""Group bans: who may not join, be invited to or be added back to a conversation.

Bans are written in the membership change that enforces them (store/groups.py), so a
ban and the removal it implies commit together, and the same transaction refuses
adding anyone banned: no path in (join, invite, add, create) can slip past it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from pigeon.store.engine import Conn, Database
from pigeon.store.schema import group_bans


@dataclass(frozen=True, slots=True)
class BanRecord:
    conv_id: str
    user_id: str
    actor_id: str | None  # None: the operator's command line
    reason: str | None
    created_at: int


def _record(row: Any) -> BanRecord:
    return BanRecord(
        conv_id=row.conv_id,
        user_id=row.user_id,
        actor_id=row.actor_id,
        reason=row.reason,
        created_at=row.created_at,
    )


async def banned_among(conn: Conn, conv_id: str, user_ids: Sequence[str]) -> list[str]:
    """Which of ``user_ids`` are banned from ``conv_id``."""
    if not user_ids:
        return []
    query = select(group_bans.c.user_id).where(
        group_bans.c.conv_id == conv_id, group_bans.c.user_id.in_(list(user_ids))
    )
    return sorted((await conn.execute(query)).scalars())


async def write_ban(conn: Conn, ban: BanRecord) -> None:
    """Ban, or for someone banned already, replace the reason and who banned them."""
    where = and_(group_bans.c.conv_id == ban.conv_id, group_bans.c.user_id == ban.user_id)
    found = (await conn.execute(select(group_bans.c.user_id).where(where))).first()
    values = {"actor_id": ban.actor_id, "reason": ban.reason, "created_at": ban.created_at}
    if found is None:
        await conn.execute(
            insert(group_bans).values(conv_id=ban.conv_id, user_id=ban.user_id, **values)
        )
    else:
        await conn.execute(update(group_bans).where(where).values(**values))


async def lift_ban(conn: Conn, conv_id: str, user_id: str) -> bool:
    """Unban; False when they were not banned."""
    result = await conn.execute(
        delete(group_bans).where(group_bans.c.conv_id == conv_id, group_bans.c.user_id == user_id)
    )
    return bool(result.rowcount)


class BanStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ban(self, conv_id: str, user_id: str) -> BanRecord | None:
        stmt = select(group_bans).where(
            group_bans.c.conv_id == conv_id, group_bans.c.user_id == user_id
        )
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return _record(row) if row else None

    async def page(
        self, conv_id: str, after: str | None, limit: int
    ) -> tuple[list[BanRecord], bool]:
        """Bans of ``conv_id`` by user id, after the user id ``after``."""
        stmt = select(group_bans).where(group_bans.c.conv_id == conv_id)
        if after is not None:
            stmt = stmt.where(group_bans.c.user_id > after)
        stmt = stmt.order_by(group_bans.c.user_id).limit(limit + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_record(r) for r in rows[:limit]], len(rows) > limit
