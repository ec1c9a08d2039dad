"""Retention: removing a conversation's expired messages from the front of its stream.

Messages are removed as a prefix — every seq up to ``conversations.pruned_seq`` — so
the seqs that remain stay gapless and a reader can be told exactly where the stream
now starts. One removal is one transaction that first takes the change-counter lock
(the lock every append takes too), so two nodes running the job at once take turns:
the second re-reads ``pruned_seq`` after the first committed and finds nothing left
to do. The same transaction drops the messages' search rows and file references,
moves the push cursor past them and the conversation's ``change_id``, so a ``sync``
reports the new start.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, and_, cast, delete, func, select, update

from pigeon.store.changes import allocate_change_ids, lock_change_counter
from pigeon.store.engine import Conn, Database
from pigeon.store.schema import (
    conversations,
    file_refs,
    message_text,
    messages,
    push_cursors,
)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one removal did: how many messages went, and the files they showed
    (each is deleted once no other message references it)."""

    removed: int
    file_ids: tuple[str, ...]
    cutoff: int


class RetentionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_days(self, conv_id: str, days: int | None) -> None:
        """Override the server's retention for one conversation (None: follow it)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conv_id)
                .values(retention_days=days)
            )

    async def due(self, now: int, default_days: int, limit: int) -> list[str]:
        """Conversations whose oldest kept message has expired, at most ``limit``."""
        # BIGINT: days in milliseconds outgrow PostgreSQL's integer after 24 days
        days = cast(func.coalesce(conversations.c.retention_days, default_days), BigInteger)
        stmt = (
            select(conversations.c.id)
            .join(
                messages,
                and_(
                    messages.c.conv_id == conversations.c.id,
                    messages.c.seq == conversations.c.pruned_seq + 1,
                ),
            )
            .where(
                conversations.c.pruned_seq < conversations.c.last_seq,
                days > 0,
                messages.c.ts < now - days * DAY_MS,
            )
            .order_by(conversations.c.id)
            .limit(limit)
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def prune(self, conv_id: str, now: int, default_days: int, budget: int) -> Pruned:
        """Remove up to ``budget`` expired messages from the front of ``conv_id``."""
        async with self.db.write() as conn:
            await lock_change_counter(conn)
            row = (
                await conn.execute(
                    select(conversations.c.pruned_seq, conversations.c.retention_days).where(
                        conversations.c.id == conv_id
                    )
                )
            ).first()
            days = default_days if row is None or row.retention_days is None else row.retention_days
            if row is None or days <= 0:
                return Pruned(0, (), now)
            cutoff = now - days * DAY_MS
            upto = await _expired_prefix(conn, conv_id, row.pruned_seq, cutoff, budget)
            if upto <= row.pruned_seq:
                return Pruned(0, (), cutoff)
            file_ids = await _remove_range(conn, conv_id, row.pruned_seq, upto)
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conv_id)
                .values(pruned_seq=upto, change_id=await allocate_change_ids(conn))
            )
        return Pruned(upto - row.pruned_seq, file_ids, cutoff)


async def _expired_prefix(conn: Conn, conv_id: str, after: int, cutoff: int, budget: int) -> int:
    """The highest seq such that every message in ``(after, seq]`` is older than
    ``cutoff``, looking at no more than ``budget`` messages."""
    rows = (
        await conn.execute(
            select(messages.c.seq, messages.c.ts)
            .where(
                messages.c.conv_id == conv_id,
                messages.c.seq > after,
                messages.c.seq <= after + budget,
            )
            .order_by(messages.c.seq)
        )
    ).all()
    upto = after
    for row in rows:
        if row.ts >= cutoff:
            break
        upto = row.seq
    return upto


async def _remove_range(conn: Conn, conv_id: str, after: int, upto: int) -> tuple[str, ...]:
    """Delete the messages ``(after, upto]`` with their search rows and file references;
    returns the ids of the files they referenced."""
    refs = and_(file_refs.c.conv_id == conv_id, file_refs.c.seq > after, file_refs.c.seq <= upto)
    file_ids = tuple(
        sorted(set((await conn.execute(select(file_refs.c.file_id).where(refs))).scalars()))
    )
    await conn.execute(delete(file_refs).where(refs))
    await conn.execute(
        delete(message_text).where(
            message_text.c.conv_id == conv_id,
            message_text.c.seq > after,
            message_text.c.seq <= upto,
        )
    )
    await conn.execute(
        delete(messages).where(
            messages.c.conv_id == conv_id, messages.c.seq > after, messages.c.seq <= upto
        )
    )
    # A removed message can no longer be notified: the push planner's cursor skips it
    # (a planner that read the old cursor loses its compare-and-set and reads again).
    await conn.execute(
        update(push_cursors)
        .where(push_cursors.c.conv_id == conv_id, push_cursors.c.seq < upto)
        .values(seq=upto)
    )
    return file_ids
