"""Message streams: group-committed appends with dedup, gapless seq, and history reads."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, case, insert, select, text, tuple_, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import MemberState
from pigeon.store.changes import allocate_change_ids, lock_change_counter
from pigeon.store.engine import Conn, Database
from pigeon.store.files import reference_files
from pigeon.store.marks import PinRecord, forget_marks, settle_marks, with_reactions
from pigeon.store.records import (
    Appended,
    AppendOutcome,
    Forwarded,
    MessageRecord,
    NewMessage,
    Rejected,
)
from pigeon.store.schema import conversations, members, messages, pins
from pigeon.store.search import index_appended, reindex

log = logging.getLogger(__name__)

# How often a batch is retried when a concurrent node inserted the same (sender, cid).
_APPEND_ATTEMPTS = 3
# SQLSTATE class 22, "data exception": the database refuses a value (a NUL in text,
# an integer out of range, ...). Retrying the same value can never succeed.
_DATA_EXCEPTION_CLASS = "22"


# Built once: the group commit runs these for every batch.
_ADVANCE_CONVERSATION = (
    update(conversations)
    .where(conversations.c.id == bindparam("conv"))
    .values(
        last_seq=conversations.c.last_seq + bindparam("count"),
        # never backwards, even when nodes' clocks disagree
        last_ts=case(
            (conversations.c.last_ts > bindparam("ts"), conversations.c.last_ts),
            else_=bindparam("ts"),
        ),
        change_id=bindparam("change"),
    )
    .returning(conversations.c.last_seq)
)
# PostgreSQL: every conversation of a batch in one statement over array parameters,
# prepared once. One-to-one traffic puts nearly every message of a batch in its own
# conversation, and a statement per conversation is a round trip each inside the
# transaction that holds the change counter (measured in docs/scaling.md). SQLite
# runs in process, where the cached per-conversation statement above is cheaper.
_ADVANCE_CONVERSATIONS_PG = text(
    """
    UPDATE conversations AS c
    SET last_seq = c.last_seq + a.n, last_ts = GREATEST(c.last_ts, a.ts), change_id = a.change
    FROM unnest(CAST(:convs AS varchar[]), CAST(:counts AS bigint[]),
                CAST(:tss AS bigint[]), CAST(:changes AS bigint[])) AS a(conv, n, ts, change)
    WHERE c.id = a.conv
    RETURNING c.id, c.last_seq
    """
)
_SENDER_HAS_READ = (
    update(members)
    .where(
        members.c.conv_id == bindparam("w_conv"),
        members.c.user_id == bindparam("w_user"),
        members.c.read_seq < bindparam("w_seq"),
    )
    .values(
        read_seq=bindparam("w_seq"),
        recv_seq=bindparam("w_seq"),
        change_id=bindparam("w_change"),
    )
)


def message_from_row(row: Any) -> MessageRecord:
    return MessageRecord(
        conv_id=row.conv_id,
        seq=row.seq,
        id=row.id,
        sender_id=row.sender_id,
        cid=row.cid,
        kind=row.kind,
        body=orjson.loads(row.body),
        ts=row.ts,
        reply_to=row.reply_to,
        mentions=tuple(orjson.loads(row.mentions)) if row.mentions else None,
        edited_at=row.edited_at,
        recalled=bool(row.recalled),
        forwarded=Forwarded(row.fwd_from, row.fwd_ts) if row.fwd_from is not None else None,
    )


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
        """Store a batch of messages in one transaction (group commit).

        Guarantees, per message: a ``(sender, cid)`` seen before returns the stored
        original (``duplicate``) and writes nothing; otherwise the message gets the
        next seq of its conversation, with no gap, and the sender's read watermark
        moves to it (not for a reaction or pin). A sender who is not an active member
        is rejected with CONVERSATION_NOT_FOUND. When this returns, everything
        accepted is committed.

        Failure isolation: when the database refuses a *value* in the batch, the
        batch is split in halves and each half retried, down to the single message
        at fault, which alone is rejected with UNSTORABLE; every other message is
        stored. Any other failure (the database is unreachable, ...) is raised for
        the whole batch.
        """
        try:
            return await self._append_batch(batch)
        except Exception as exc:
            if not _is_unstorable(exc):
                raise
            if len(batch) == 1:
                log.warning(
                    "message refused by the database",
                    extra={"conv": batch[0].conv_id, "error": type(exc).__name__},
                )
                return [Rejected(ErrorCode.UNSTORABLE)]
        middle = len(batch) // 2
        return await self.append(batch[:middle]) + await self.append(batch[middle:])

    async def _append_batch(self, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                async with self.db.write() as conn:
                    return await append_in_transaction(conn, batch)
            except IntegrityError:
                # Another node committed one of these (sender, cid) first: the next
                # attempt finds it and answers with the original.
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def find_by_cid(self, sender_id: str, cid: str) -> MessageRecord | None:
        stmt = select(messages).where(messages.c.sender_id == sender_id, messages.c.cid == cid)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return message_from_row(row) if row else None

    async def history(
        self,
        conv_id: str,
        *,
        floor_seq: int,
        before: int | None,
        after: int | None,
        limit: int,
        viewer: str | None = None,
    ) -> tuple[list[MessageRecord], bool]:
        """Up to ``limit`` messages in ascending seq, and whether more lie beyond.

        ``after`` pages forward (``more``: newer exist); otherwise the page ends just
        before ``before`` (or at the newest) and ``more`` means older exist. Nothing at
        or below ``floor_seq`` is ever returned (a member's join point). With a
        ``viewer``, messages carry their reaction summaries as that user sees them.
        """
        conditions = [messages.c.conv_id == conv_id, messages.c.seq > floor_seq]
        if before is not None:
            conditions.append(messages.c.seq < before)
        if after is not None:
            conditions.append(messages.c.seq > after)
        order = messages.c.seq.asc() if after is not None else messages.c.seq.desc()
        stmt = select(messages).where(and_(*conditions)).order_by(order).limit(limit + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            records = [message_from_row(row) for row in rows[:limit]]
            if viewer is not None:
                records = await with_reactions(conn, records, viewer)
        more = len(rows) > limit
        if after is None:
            records.reverse()
        return records, more

    async def pinned(
        self, conv_id: str, floor_seq: int, ceiling_seq: int | None, viewer: str
    ) -> list[PinRecord]:
        """The pinned messages in ``(floor_seq, ceiling_seq]``, newest pin first; a
        member who left sees the pins made before they left."""
        conditions = [pins.c.conv_id == conv_id, pins.c.seq > floor_seq]
        if ceiling_seq is not None:
            conditions += [pins.c.seq <= ceiling_seq, pins.c.entry_seq <= ceiling_seq]
        stmt = (
            select(pins.c.pinned_by, pins.c.pinned_at, messages)
            .join(
                messages,
                and_(messages.c.conv_id == pins.c.conv_id, messages.c.seq == pins.c.seq),
            )
            .where(and_(*conditions))
            .order_by(pins.c.entry_seq.desc())
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            found = await with_reactions(conn, [message_from_row(row) for row in rows], viewer)
        return [
            PinRecord(message.seq, row.pinned_by, row.pinned_at, message)
            for row, message in zip(rows, found, strict=True)
        ]

    async def message_at(self, conv_id: str, seq: int) -> MessageRecord | None:
        stmt = select(messages).where(messages.c.conv_id == conv_id, messages.c.seq == seq)
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        return message_from_row(row) if row else None

    async def senders_between(self, conv_id: str, after: int, upto: int) -> list[str]:
        """Distinct senders of the messages with ``after < seq <= upto``."""
        stmt = (
            select(messages.c.sender_id)
            .where(messages.c.conv_id == conv_id, messages.c.seq > after, messages.c.seq <= upto)
            .distinct()
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def last_messages(self, keys: Sequence[tuple[str, int]]) -> dict[str, MessageRecord]:
        """The message at each ``(conv, seq)``; used for conversation-list previews."""
        wanted = [key for key in keys if key[1] > 0]
        if not wanted:
            return {}
        stmt = select(messages).where(tuple_(messages.c.conv_id, messages.c.seq).in_(wanted))
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return {row.conv_id: message_from_row(row) for row in rows}


def _is_unstorable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database refuses a value, not that it is unavailable."""
    if isinstance(exc, DBAPIError):
        if isinstance(exc, DataError):
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state.startswith(_DATA_EXCEPTION_CLASS)
    if isinstance(exc, StatementError) and isinstance(exc.orig, BaseException):
        return _is_unstorable(exc.orig)  # a bind parameter could not be converted
    # Raised before the database sees the value: by the SQLite driver (a lone
    # surrogate, an integer beyond 64 bits) or while encoding the body to JSON.
    return isinstance(exc, UnicodeError | OverflowError | TypeError | ValueError)


async def append_in_transaction(conn: Conn, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
    """The group-commit body, usable inside a caller's transaction (see ``MessageStore.append``).

    A message marked ``on_behalf`` is stored although its sender is no active member.
    Only the senders' own memberships are read, never a conversation's member list:
    a post costs the same in a conversation of two and of a million (delivery is by
    conversation, gateway/hub.py).
    """
    # Appends on other nodes commit under this lock too: taking it before looking for
    # originals means a concurrent retry of the same (sender, cid) is found, not re-inserted.
    await lock_change_counter(conn)
    originals = await _find_originals(conn, batch)
    active = await _active_senders(conn, {(m.conv_id, m.sender_id) for m in batch})
    outcomes: list[AppendOutcome | None] = [None] * len(batch)
    fresh: dict[str, list[int]] = defaultdict(list)  # conv -> batch indexes
    first_of_key: dict[tuple[str, str], int] = {}
    for index, item in enumerate(batch):
        key = (item.sender_id, item.cid)
        if key in originals:
            outcomes[index] = Appended(originals[key], True)
        elif key in first_of_key:
            continue  # a retry inside this batch: answered after the first is stored
        elif not item.on_behalf and (item.conv_id, item.sender_id) not in active:
            outcomes[index] = Rejected(ErrorCode.CONVERSATION_NOT_FOUND)
        else:
            first_of_key[key] = index
            fresh[item.conv_id].append(index)
    if fresh:
        await _store_fresh(conn, batch, fresh, outcomes)
    for index, item in enumerate(batch):
        if outcomes[index] is None:
            first = outcomes[first_of_key[(item.sender_id, item.cid)]]
            assert isinstance(first, Appended)
            outcomes[index] = Appended(first.message, True)
    return [outcome for outcome in outcomes if outcome is not None]


async def _store_fresh(
    conn: Conn,
    batch: Sequence[NewMessage],
    fresh: dict[str, list[int]],
    outcomes: list[AppendOutcome | None],
) -> None:
    last_change = await allocate_change_ids(conn, len(fresh))
    placed: list[tuple[int, MessageRecord]] = []  # (batch index, record)
    watermarks: dict[tuple[str, str], tuple[int, int]] = {}
    advances = [
        (conv_id, len(indexes), max(batch[i].ts for i in indexes), last_change - offset)
        for offset, (conv_id, indexes) in enumerate(sorted(fresh.items()))
    ]
    last_seqs = await _advance_conversations(conn, advances)
    for conv_id, count, _, change_id in advances:
        indexes = fresh[conv_id]
        first_seq = last_seqs[conv_id] - count + 1
        for seq, index in enumerate(indexes, start=first_seq):
            placed.append((index, _record(batch[index], seq)))
            if batch[index].marks is None:  # reacting to an old message reads nothing newer
                watermarks[(conv_id, batch[index].sender_id)] = (seq, change_id)
    # Reactions and pins first: a react entry's stored body says what it did.
    records = await settle_marks(
        conn, [record for _, record in placed], [batch[index].marks for index, _ in placed]
    )
    for (index, _), record in zip(placed, records, strict=True):
        outcomes[index] = Appended(record, False)
    rows = [_row(record) for record in records]
    await conn.execute(insert(messages), rows)
    await index_appended(conn, records)
    await reference_files(conn, rows)
    await _apply_amendments(conn, batch, fresh)
    if watermarks:
        await conn.execute(
            _SENDER_HAS_READ,
            [
                {"w_conv": conv, "w_user": user, "w_seq": seq, "w_change": change}
                for (conv, user), (seq, change) in watermarks.items()
            ],
        )


async def _advance_conversations(
    conn: Conn, advances: list[tuple[str, int, int, int]]
) -> dict[str, int]:
    """Grow each conversation ``(id, count, ts, change)`` by ``count`` messages; returns
    each one's new ``last_seq``. ``last_ts`` never goes backwards, even when nodes'
    clocks disagree."""
    if conn.dialect.name == "postgresql":
        convs, counts, tss, changes = (list(column) for column in zip(*advances, strict=True))
        result = await conn.execute(
            _ADVANCE_CONVERSATIONS_PG,
            {"convs": convs, "counts": counts, "tss": tss, "changes": changes},
        )
        return {row.id: int(row.last_seq) for row in result.all()}
    last_seqs = {}
    for conv_id, count, ts, change_id in advances:
        result = await conn.execute(
            _ADVANCE_CONVERSATION, {"conv": conv_id, "count": count, "ts": ts, "change": change_id}
        )
        last_seqs[conv_id] = int(result.scalar_one())
    return last_seqs


async def _apply_amendments(
    conn: Conn, batch: Sequence[NewMessage], fresh: dict[str, list[int]]
) -> None:
    """Recalls and edits change their target in the transaction that stores them.

    The search index follows the target in the same transaction (store/search.py).
    A recall also recalls every edit of its target: an ``edit`` entry carries the
    new text in its own body, which must not outlive the recall in history, pull
    or sync. An edit whose target was recalled (earlier in the same batch) is
    recalled the same way instead of bringing the text back.
    """
    for indexes in fresh.values():
        for index in indexes:
            item = batch[index]
            if item.amends is None:
                continue
            target = and_(
                messages.c.conv_id == item.conv_id,
                messages.c.seq == item.amends.seq,
                messages.c.recalled.is_(False),
            )
            if item.amends.body is None:
                recall = {"recalled": True, "body": "{}", "edited_at": None}  # no trace of edits
                await conn.execute(update(messages).where(target).values(**recall))
                await _empty_edits_of(conn, item.conv_id, item.amends.seq)
                await reindex(conn, item.conv_id, item.amends.seq)
                await forget_marks(conn, item.conv_id, item.amends.seq)
                continue
            body = orjson.dumps(item.amends.body).decode()
            result = await conn.execute(
                update(messages).where(target).values(body=body, edited_at=item.ts)
            )
            if result.rowcount == 0:  # recalled meanwhile: keep no trace of the text
                await _empty_edits_of(conn, item.conv_id, item.amends.seq)
            else:
                await reindex(conn, item.conv_id, item.amends.seq)


async def _empty_edits_of(conn: Conn, conv_id: str, seq: int) -> None:
    """Recall every ``edit`` entry of message ``seq`` too: ``recalled`` with body ``{}``.

    The same shape as the recalled target, so a client applying entries in order
    finds nothing to apply (no ``seq`` to follow, no text to show).
    """
    rows = (
        await conn.execute(
            select(messages.c.seq, messages.c.body).where(
                messages.c.conv_id == conv_id, messages.c.seq > seq, messages.c.kind == "edit"
            )
        )
    ).all()
    edits = [row.seq for row in rows if orjson.loads(row.body).get("seq") == seq]
    if edits:
        await conn.execute(
            update(messages)
            .where(messages.c.conv_id == conv_id, messages.c.seq.in_(edits))
            .values(recalled=True, body="{}")
        )


async def _find_originals(
    conn: Conn, batch: Sequence[NewMessage]
) -> dict[tuple[str, str], MessageRecord]:
    keys = list({(m.sender_id, m.cid) for m in batch})
    rows = (
        await conn.execute(
            select(messages).where(tuple_(messages.c.sender_id, messages.c.cid).in_(keys))
        )
    ).all()
    return {(row.sender_id, row.cid): message_from_row(row) for row in rows}


async def _active_senders(conn: Conn, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which ``(conv, user)`` pairs are active memberships: one primary-key lookup each."""
    rows = (
        await conn.execute(
            select(members.c.conv_id, members.c.user_id).where(
                tuple_(members.c.conv_id, members.c.user_id).in_(list(pairs)),
                members.c.state == MemberState.ACTIVE,
            )
        )
    ).all()
    return {(row.conv_id, row.user_id) for row in rows}


def _record(item: NewMessage, seq: int) -> MessageRecord:
    return MessageRecord(
        conv_id=item.conv_id,
        seq=seq,
        id=item.id,
        sender_id=item.sender_id,
        cid=item.cid,
        kind=item.kind,
        body=item.body,
        ts=item.ts,
        reply_to=item.reply_to,
        mentions=item.mentions,
        forwarded=item.forwarded,
    )


def _row(record: MessageRecord) -> dict[str, Any]:
    return {
        "conv_id": record.conv_id,
        "seq": record.seq,
        "id": record.id,
        "sender_id": record.sender_id,
        "cid": record.cid,
        "kind": record.kind,
        "body": orjson.dumps(record.body).decode(),
        "ts": record.ts,
        "reply_to": record.reply_to,
        "mentions": orjson.dumps(list(record.mentions)).decode() if record.mentions else None,
        "fwd_from": record.forwarded.sender_id if record.forwarded else None,
        "fwd_ts": record.forwarded.ts if record.forwarded else None,
    }
