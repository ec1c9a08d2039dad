"""Reactions and pins: the state that ``react``, ``pin`` and ``unpin`` entries keep.

The entries are ordinary messages of the stream (they take a seq, sync and pull
carry them); the tables here are what those entries add up to, so history can show
a message's reaction summary and ``GET …/pins`` the current pins without replaying
the stream. Both are written only inside the group commit that stores the entry
(``settle_marks``), and a recall clears its target's (``forget_marks``), so the
tables can never disagree with the stream.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, select

from pigeon.store.engine import Conn, Database
from pigeon.store.records import Mark, MessageRecord
from pigeon.store.schema import messages, pins, reactions


@dataclass(frozen=True, slots=True)
class ReactionState:
    """Before a reaction is planned: what the message carries now."""

    mine: bool  # the reactor already has this emoji on it
    present: bool  # someone has this emoji on it
    emojis: int  # different emojis on it


@dataclass(frozen=True, slots=True)
class PinRecord:
    seq: int
    pinned_by: str
    pinned_at: int
    message: MessageRecord


class MarkStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def reaction_state(
        self, conv_id: str, seq: int, user_id: str, emoji: str
    ) -> ReactionState:
        on_target = and_(reactions.c.conv_id == conv_id, reactions.c.seq == seq)
        stmt = select(
            func.count(func.distinct(reactions.c.emoji)),
            func.sum(case((reactions.c.emoji == emoji, 1), else_=0)),
            func.sum(
                case((and_(reactions.c.emoji == emoji, reactions.c.user_id == user_id), 1), else_=0)
            ),
        ).where(on_target)
        async with self.db.read() as conn:
            emojis, present, mine = (await conn.execute(stmt)).one()
        return ReactionState(bool(mine), bool(present), int(emojis or 0))

    async def pin_state(self, conv_id: str, seq: int) -> tuple[bool, int]:
        """Whether message ``seq`` is pinned, and how many messages of the conversation are."""
        stmt = select(func.count(), func.sum(case((pins.c.seq == seq, 1), else_=0))).where(
            pins.c.conv_id == conv_id
        )
        async with self.db.read() as conn:
            count, pinned = (await conn.execute(stmt)).one()
        return bool(pinned), int(count or 0)


async def with_reactions(
    conn: Conn, records: Sequence[MessageRecord], viewer: str
) -> list[MessageRecord]:
    """``records`` with their reaction summaries as ``viewer`` sees them."""
    if not records:
        return list(records)
    conv_id = records[0].conv_id
    stmt = (
        select(
            reactions.c.seq,
            reactions.c.emoji,
            func.count().label("count"),
            func.sum(case((reactions.c.user_id == viewer, 1), else_=0)).label("mine"),
            func.min(reactions.c.entry_seq).label("first"),
        )
        .where(reactions.c.conv_id == conv_id, reactions.c.seq.in_([r.seq for r in records]))
        .group_by(reactions.c.seq, reactions.c.emoji)
        .order_by(reactions.c.seq, func.min(reactions.c.entry_seq))
    )
    summaries: dict[int, list[Any]] = defaultdict(list)
    for row in (await conn.execute(stmt)).all():
        summaries[row.seq].append(
            {"emoji": row.emoji, "count": int(row.count), "mine": bool(row.mine)}
        )
    return [
        replace(r, reactions=tuple(summaries[r.seq])) if r.seq in summaries else r for r in records
    ]


async def settle_marks(
    conn: Conn, records: Sequence[MessageRecord], marks: Sequence[Mark | None]
) -> list[MessageRecord]:
    """Apply each entry's mark in stream order; return the entries with their final bodies.

    A ``react`` entry's stored body says what happened: ``{seq, emoji, on, count}``,
    ``count`` being how many reactors the emoji has after it, so a client applying
    entries in order converges to the summary history shows. A mark on a message
    recalled meanwhile changes nothing (a reaction then reads ``on: false, count: 0``).
    """
    settled = []
    for record, mark in zip(records, marks, strict=True):
        if mark is None:
            settled.append(record)
        elif mark.emoji is not None:
            settled.append(await _react(conn, record, mark, mark.emoji))
        else:
            await _pin(conn, record, mark)
            settled.append(record)
    return settled


async def _recalled(conn: Conn, conv_id: str, seq: int) -> bool:
    stmt = select(messages.c.recalled).where(messages.c.conv_id == conv_id, messages.c.seq == seq)
    return bool((await conn.execute(stmt)).scalar())


async def _react(conn: Conn, entry: MessageRecord, mark: Mark, emoji: str) -> MessageRecord:
    mine = and_(
        reactions.c.conv_id == entry.conv_id,
        reactions.c.seq == mark.seq,
        reactions.c.emoji == emoji,
    )
    on = False
    if not await _recalled(conn, entry.conv_id, mark.seq):
        had = (
            await conn.execute(
                select(func.count()).where(mine, reactions.c.user_id == entry.sender_id)
            )
        ).scalar_one() > 0
        on = (not had) if mark.on is None else mark.on
        if on and not had:
            await conn.execute(
                insert(reactions).values(
                    conv_id=entry.conv_id,
                    seq=mark.seq,
                    emoji=emoji,
                    user_id=entry.sender_id,
                    entry_seq=entry.seq,
                )
            )
        elif had and not on:
            await conn.execute(
                delete(reactions).where(mine, reactions.c.user_id == entry.sender_id)
            )
    count = (await conn.execute(select(func.count()).where(mine))).scalar_one()
    body = {"seq": mark.seq, "emoji": emoji, "on": on, "count": int(count)}
    return replace(entry, body=body)


async def _pin(conn: Conn, entry: MessageRecord, mark: Mark) -> None:
    target = and_(pins.c.conv_id == entry.conv_id, pins.c.seq == mark.seq)
    if not mark.on:
        await conn.execute(delete(pins).where(target))
        return
    exists = (await conn.execute(select(func.count()).where(target))).scalar_one() > 0
    if not exists and not await _recalled(conn, entry.conv_id, mark.seq):
        await conn.execute(
            insert(pins).values(
                conv_id=entry.conv_id,
                seq=mark.seq,
                pinned_by=entry.sender_id,
                pinned_at=entry.ts,
                entry_seq=entry.seq,
            )
        )


async def forget_marks(conn: Conn, conv_id: str, seq: int) -> None:
    """A recalled message keeps no reactions and is no longer pinned."""
    await conn.execute(
        delete(reactions).where(reactions.c.conv_id == conv_id, reactions.c.seq == seq)
    )
    await conn.execute(delete(pins).where(pins.c.conv_id == conv_id, pins.c.seq == seq))
