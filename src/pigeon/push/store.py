"""The outbox tables and every query on them.

Planning (``plan``) turns the messages past a conversation's push cursor into
notification rows and moves the cursor, in one transaction guarded by a
compare-and-set on the cursor: two nodes planning the same conversation at once
cannot both commit, so no message is planned twice, and a crash before the commit
leaves the cursor where it was, so none is lost.

Claiming (``claim``) leases due rows by moving their ``due_at`` past the lease. On
PostgreSQL the rows are selected ``FOR UPDATE SKIP LOCKED``, so nodes claiming at
once take disjoint rows without waiting on each other; SQLite has one writer and
runs single-node, where SQLAlchemy leaves the clause out.

Planning, claiming and settling commit without waiting for the disk
(``Database.write(durable=False)``): they run several times a second beside the
message commits, whose fsync they would otherwise compete with. A process crash loses
none of them; an OS or power failure may lose the last few whole, which only means
planning or delivering again: at least once already allows that. Preferences and
subscriptions, which users are told were saved, are written durably.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pigeon.bots.store import BotEvent, decode_events
from pigeon.protocol.membership import ConversationKind
from pigeon.push.prefs import Preferences
from pigeon.store.engine import Database
from pigeon.store.messages import message_from_row
from pigeon.store.records import MessageRecord
from pigeon.store.schema import (
    bot_webhooks,
    conversations,
    members,
    messages,
    push_cursors,
    push_jobs,
    push_prefs,
    push_subscriptions,
    users,
)

_IN_CHUNK = 500  # ids per IN list (database parameter limits)


class JobState(enum.StrEnum):
    PENDING = "pending"
    DEAD = "dead"


class Settle(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """What planning decided for one (user, target) of a conversation."""

    user_id: str
    target: str
    first_seq: int
    last_seq: int
    count: int
    mention: bool
    created_at: int
    #: False for one event per message (bots' webhooks): never merged, due at once.
    collapse: bool = True


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    user_id: str
    conv_id: str
    target: str
    first_seq: int
    last_seq: int
    count: int
    mention: bool
    attempts: int
    created_at: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one attempt ended, for ``PushStore.settle``."""

    job: Job
    how: Settle
    due_at: int = 0  # RETRY: when to try again
    error: str = ""
    forget_target: bool = False  # GONE: the target (a subscription) no longer exists


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: int

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "endpoint": self.endpoint, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class Unplanned:
    """What planning needs of a message past the cursor (never its body)."""

    seq: int
    sender_id: str
    kind: str
    mentions: tuple[str, ...]
    ts: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """Messages past a conversation's cursor, as read before planning."""

    conv_id: str
    cursor: int | None  # None: no cursor row yet (a conversation newer than the outbox)
    messages: list[Unplanned]
    members: dict[str, bool]  # active member who is a person → muted
    kind: ConversationKind = ConversationKind.GROUP
    #: Active members that are bots with an outgoing webhook → what they subscribed to.
    bots: dict[str, frozenset[BotEvent]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """What planning decided for one conversation: its jobs, and how far it got."""

    backlog: Backlog
    upto: int
    jobs: list[PlannedJob]


def _unplanned_messages(cursors: dict[str, int], limit: int) -> Any:
    """The first ``limit`` messages past each conversation's cursor, by (conv, seq).

    One range per conversation (``conv_id = c AND seq > cursor``), so each is a
    primary-key range scan however long the conversation's history is.
    """
    m = messages.c
    rank = func.row_number().over(partition_by=m.conv_id, order_by=m.seq).label("rank")
    ranges = [and_(m.conv_id == conv, m.seq > seq) for conv, seq in cursors.items()]
    past = (
        select(m.conv_id, m.seq, m.sender_id, m.kind, m.mentions, m.ts, rank)
        .where(or_(*ranges))
        .subquery()
    )
    return select(past).where(past.c.rank <= limit).order_by(past.c.conv_id, past.c.seq)


def _active_members(conv_ids: Sequence[str]) -> Any:
    """Active members of ``conv_ids``: whether each muted the conversation, is a
    bot, and (for a bot) what its outgoing webhook subscribed to."""
    return (
        select(
            members.c.conv_id,
            members.c.user_id,
            members.c.muted,
            users.c.bot,
            bot_webhooks.c.events,
        )
        .select_from(
            members.outerjoin(users, users.c.id == members.c.user_id).outerjoin(
                bot_webhooks, bot_webhooks.c.user_id == members.c.user_id
            )
        )
        .where(members.c.conv_id.in_(conv_ids), members.c.state == "active")
    )


@dataclass(frozen=True, slots=True)
class ConvInfo:
    id: str
    kind: ConversationKind
    title: str | None


def _job(row: Any) -> Job:
    return Job(
        id=row.id,
        user_id=row.user_id,
        conv_id=row.conv_id,
        target=row.target,
        first_seq=row.first_seq,
        last_seq=row.last_seq,
        count=row.count,
        mention=bool(row.mention),
        attempts=row.attempts,
        created_at=row.created_at,
    )


class PushStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- planning

    async def unplanned_conversations(self, limit: int) -> list[str]:
        """Conversations whose stream has messages past their push cursor."""
        stmt = (
            select(conversations.c.id)
            .select_from(
                conversations.outerjoin(push_cursors, push_cursors.c.conv_id == conversations.c.id)
            )
            .where(conversations.c.last_seq > func.coalesce(push_cursors.c.seq, 0))
            .limit(limit)
        )
        async with self.db.read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def backlogs(self, conv_ids: Sequence[str], limit: int) -> list[Backlog]:
        """For each conversation, up to ``limit`` messages past its cursor and its
        active members, in three queries whatever the number of conversations."""
        wanted = sorted(set(conv_ids))
        cursors: dict[str, int] = {}
        found: dict[str, list[Unplanned]] = {c: [] for c in wanted}
        people: dict[str, dict[str, bool]] = {c: {} for c in wanted}
        bots: dict[str, dict[str, frozenset[BotEvent]]] = {c: {} for c in wanted}
        kinds: dict[str, ConversationKind] = {}
        async with self.db.read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                rows = await conn.execute(
                    select(push_cursors.c.conv_id, push_cursors.c.seq).where(
                        push_cursors.c.conv_id.in_(chunk)
                    )
                )
                cursors.update({r.conv_id: r.seq for r in rows})
                bounds = {c: cursors.get(c, 0) for c in chunk}
                for r in await conn.execute(_unplanned_messages(bounds, limit)):
                    mentions = tuple(orjson.loads(r.mentions)) if r.mentions else ()
                    found[r.conv_id].append(Unplanned(r.seq, r.sender_id, r.kind, mentions, r.ts))
                for r in await conn.execute(_active_members(chunk)):
                    if not r.bot:
                        people[r.conv_id][r.user_id] = bool(r.muted)
                    elif r.events is not None:  # bots are told only through their webhook
                        bots[r.conv_id][r.user_id] = decode_events(r.events)
                rows = await conn.execute(
                    select(conversations.c.id, conversations.c.kind).where(
                        conversations.c.id.in_(chunk)
                    )
                )
                kinds.update({r.id: ConversationKind(r.kind) for r in rows})
        return [
            Backlog(
                c,
                cursors.get(c),
                found[c],
                people[c],
                kinds.get(c, ConversationKind.GROUP),
                bots[c],
            )
            for c in wanted
        ]

    async def backlog(self, conv_id: str, limit: int) -> Backlog:
        return (await self.backlogs([conv_id], limit))[0]

    async def commit_plans(
        self, plans: Sequence[Plan], due_at: int, now: int | None = None
    ) -> set[str]:
        """Record each plan's jobs and move its cursor from ``backlog.cursor`` to
        ``upto``, all in one transaction (one commit for a whole wave of sends).

        Returns the conversations whose cursor another node moved first: for those
        nothing is written. A job for a (user, target) with a pending row of the
        conversation collapses into it: the count grows, the newest seq moves, the
        due time stays. A job that does not collapse gets a row of its own, due at
        ``now`` (default: ``due_at``).
        """
        if not plans:
            return set()
        at_once = due_at if now is None else now
        async with self.db.write(durable=False) as conn:
            moved = await self._move_cursors(conn, plans)
            for plan in plans:
                if plan.jobs and plan.backlog.conv_id in moved:
                    await _merge_jobs(conn, plan.backlog.conv_id, plan.jobs, due_at, at_once)
        return {p.backlog.conv_id for p in plans} - moved

    async def _move_cursors(self, conn: Any, plans: Sequence[Plan]) -> set[str]:
        """Compare-and-set every plan's cursor in two statements (not one per
        conversation: under load a pass moves hundreds); returns those that moved."""
        moved: set[str] = set()
        known = [p for p in plans if p.backlog.cursor is not None]
        if known:
            upto = {p.backlog.conv_id: p.upto for p in known}
            rows = await conn.execute(
                update(push_cursors)
                .where(
                    tuple_(push_cursors.c.conv_id, push_cursors.c.seq).in_(
                        [(p.backlog.conv_id, p.backlog.cursor) for p in known]
                    )
                )
                .values(seq=case(upto, value=push_cursors.c.conv_id))
                .returning(push_cursors.c.conv_id)
            )
            moved.update(rows.scalars())
        fresh = [
            {"conv_id": p.backlog.conv_id, "seq": p.upto} for p in plans if p.backlog.cursor is None
        ]
        if fresh:
            # Another node may insert the same cursor first: skipped, not an error,
            # which on PostgreSQL would abort the whole transaction.
            dialect_insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
            rows = await conn.execute(
                dialect_insert(push_cursors)
                .values(fresh)
                .on_conflict_do_nothing(index_elements=["conv_id"])
                .returning(push_cursors.c.conv_id)
            )
            moved.update(rows.scalars())
        return moved

    async def commit_plan(
        self, backlog: Backlog, upto: int, jobs: Sequence[PlannedJob], due_at: int
    ) -> bool:
        """``commit_plans`` for one conversation: False when it lost the race."""
        return not await self.commit_plans([Plan(backlog, upto, list(jobs))], due_at)

    # --- dispatch

    async def claim(self, now: int, lease_ms: int, limit: int) -> list[Job]:
        """Lease up to ``limit`` due jobs: each counts an attempt and is not due again
        until the lease runs out, so a node that dies holding it only delays it."""
        async with self.db.write(durable=False) as conn:
            ids = list(
                (
                    await conn.execute(
                        select(push_jobs.c.id)
                        .where(push_jobs.c.state == JobState.PENDING, push_jobs.c.due_at <= now)
                        .order_by(push_jobs.c.due_at)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if not ids:
                return []
            await conn.execute(
                update(push_jobs)
                .where(push_jobs.c.id.in_(ids))
                .values(due_at=now + lease_ms, attempts=push_jobs.c.attempts + 1)
            )
            rows = (await conn.execute(select(push_jobs).where(push_jobs.c.id.in_(ids)))).all()
        return [_job(r) for r in rows]

    async def settle(self, now: int, settlements: Sequence[Settlement]) -> None:
        """Record how attempts ended, all in one transaction (one commit, one fsync,
        for a whole claimed batch).

        ``DELIVERED`` deletes the row, unless messages collapsed into it while it was
        in flight: then it stays, due at once, covering only the messages not yet sent.
        ``GONE`` deletes the row, and for a Web Push target the subscription and all
        its rows. ``DEAD`` keeps it with the error, never claimed again. ``RETRY``
        makes it due at ``due_at``.
        """
        if not settlements:
            return
        async with self.db.write(durable=False) as conn:
            for item in settlements:
                await _settle_one(conn, now, item)

    async def finish(self, job: Job, now: int) -> None:
        await self.settle(now, [Settlement(job, Settle.DELIVERED)])

    async def bury(self, job: Job, error: str) -> None:
        await self.settle(0, [Settlement(job, Settle.DEAD, error=error)])

    async def drop(self, job: Job) -> None:
        await self.settle(0, [Settlement(job, Settle.GONE)])

    async def counts(self) -> dict[str, int]:
        """Rows per state (for metrics and tests)."""
        stmt = select(push_jobs.c.state, func.count()).group_by(push_jobs.c.state)
        async with self.db.read() as conn:
            return {row[0]: int(row[1]) for row in (await conn.execute(stmt)).all()}

    async def context(
        self, keys: Iterable[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], MessageRecord], dict[str, ConvInfo]]:
        """The messages at ``(conv, seq)`` and their conversations, for composing."""
        wanted = sorted(set(keys))
        found: dict[tuple[str, int], MessageRecord] = {}
        convs: dict[str, ConvInfo] = {}
        async with self.db.read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                rows = (
                    await conn.execute(
                        select(messages).where(
                            tuple_(messages.c.conv_id, messages.c.seq).in_(chunk)
                        )
                    )
                ).all()
                found.update({(r.conv_id, r.seq): message_from_row(r) for r in rows})
            conv_ids = sorted({c for c, _ in wanted})
            for start in range(0, len(conv_ids), _IN_CHUNK):
                rows = (
                    await conn.execute(
                        select(
                            conversations.c.id, conversations.c.kind, conversations.c.title
                        ).where(conversations.c.id.in_(conv_ids[start : start + _IN_CHUNK]))
                    )
                ).all()
                convs.update(
                    {r.id: ConvInfo(r.id, ConversationKind(r.kind), r.title) for r in rows}
                )
        return found, convs

    # --- preferences

    async def preferences(self, user_ids: Iterable[str]) -> dict[str, Preferences]:
        """Each user's preferences; users who never set any get the defaults."""
        wanted = list(dict.fromkeys(user_ids))
        found = {u: Preferences() for u in wanted}
        async with self.db.read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                rows = (
                    await conn.execute(select(push_prefs).where(push_prefs.c.user_id.in_(chunk)))
                ).all()
                for r in rows:
                    found[r.user_id] = Preferences(
                        bool(r.enabled), bool(r.preview), r.dnd_start, r.dnd_end, r.time_zone
                    )
        return found

    async def save_preferences(self, user_id: str, prefs: Preferences) -> None:
        values = {
            "enabled": prefs.enabled,
            "preview": prefs.preview,
            "dnd_start": prefs.dnd_start,
            "dnd_end": prefs.dnd_end,
            "time_zone": prefs.time_zone,
        }
        async with self.db.write() as conn:
            changed = await conn.execute(
                update(push_prefs).where(push_prefs.c.user_id == user_id).values(**values)
            )
            if changed.rowcount == 0:
                await conn.execute(insert(push_prefs).values(user_id=user_id, **values))

    # --- Web Push subscriptions

    async def add_subscription(self, sub: Subscription) -> Subscription:
        """Store ``sub``; an endpoint already stored moves to this user with these keys
        (a browser re-subscribing, or another account signing in on it)."""
        async with self.db.write() as conn:
            existing = (
                await conn.execute(
                    select(push_subscriptions.c.id).where(
                        push_subscriptions.c.endpoint == sub.endpoint
                    )
                )
            ).scalar_one_or_none()
            if existing is not None:
                await conn.execute(
                    update(push_subscriptions)
                    .where(push_subscriptions.c.id == existing)
                    .values(user_id=sub.user_id, p256dh=sub.p256dh, auth=sub.auth)
                )
                return Subscription(
                    existing, sub.user_id, sub.endpoint, sub.p256dh, sub.auth, sub.created_at
                )
            await conn.execute(
                insert(push_subscriptions).values(
                    id=sub.id,
                    user_id=sub.user_id,
                    endpoint=sub.endpoint,
                    p256dh=sub.p256dh,
                    auth=sub.auth,
                    created_at=sub.created_at,
                )
            )
        return sub

    async def remove_subscription(self, user_id: str, sub_id: str) -> bool:
        async with self.db.write() as conn:
            gone = await conn.execute(
                delete(push_subscriptions).where(
                    push_subscriptions.c.id == sub_id, push_subscriptions.c.user_id == user_id
                )
            )
        return bool(gone.rowcount)

    async def subscriptions(self, user_ids: Iterable[str]) -> dict[str, list[Subscription]]:
        wanted = list(dict.fromkeys(user_ids))
        found: dict[str, list[Subscription]] = {}
        async with self.db.read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                rows = (
                    await conn.execute(
                        select(push_subscriptions).where(push_subscriptions.c.user_id.in_(chunk))
                    )
                ).all()
                for r in rows:
                    found.setdefault(r.user_id, []).append(
                        Subscription(r.id, r.user_id, r.endpoint, r.p256dh, r.auth, r.created_at)
                    )
        return found

    async def subscription(self, sub_id: str) -> Subscription | None:
        async with self.db.read() as conn:
            r = (
                await conn.execute(
                    select(push_subscriptions).where(push_subscriptions.c.id == sub_id)
                )
            ).first()
        return (
            Subscription(r.id, r.user_id, r.endpoint, r.p256dh, r.auth, r.created_at) if r else None
        )


async def _settle_one(conn: Any, now: int, item: Settlement) -> None:
    job, row = item.job, push_jobs.c.id == item.job.id
    error = item.error[:500]
    if item.how is Settle.DELIVERED:
        gone = await conn.execute(
            delete(push_jobs).where(row, push_jobs.c.last_seq == job.last_seq)
        )
        if gone.rowcount == 0:  # grew while in flight: the rest is a fresh notification
            await conn.execute(
                update(push_jobs)
                .where(row)
                .values(
                    due_at=now,
                    attempts=0,
                    first_seq=job.last_seq + 1,
                    count=push_jobs.c.count - job.count,
                )
            )
    elif item.how is Settle.GONE:
        await conn.execute(delete(push_jobs).where(row))
        if item.forget_target:
            await conn.execute(
                delete(push_subscriptions).where(push_subscriptions.c.id == job.target)
            )
            await conn.execute(delete(push_jobs).where(push_jobs.c.target == job.target))
    elif item.how is Settle.DEAD:
        await conn.execute(
            update(push_jobs).where(row).values(state=JobState.DEAD, last_error=error)
        )
    else:
        await conn.execute(
            update(push_jobs).where(row).values(due_at=item.due_at, last_error=error)
        )


async def _merge_jobs(
    conn: Any, conv_id: str, jobs: Sequence[PlannedJob], due_at: int, at_once: int
) -> None:
    people = sorted({j.user_id for j in jobs if j.collapse})
    pending: dict[tuple[str, str], int] = {}
    for start in range(0, len(people), _IN_CHUNK):
        rows = (
            await conn.execute(
                select(push_jobs.c.id, push_jobs.c.user_id, push_jobs.c.target).where(
                    push_jobs.c.conv_id == conv_id,
                    push_jobs.c.state == JobState.PENDING,
                    push_jobs.c.user_id.in_(people[start : start + _IN_CHUNK]),
                )
            )
        ).all()
        pending.update({(r.user_id, r.target): r.id for r in rows})
    fresh = []
    for job in jobs:
        found = pending.get((job.user_id, job.target)) if job.collapse else None
        if found is None:
            fresh.append(
                {
                    "user_id": job.user_id,
                    "conv_id": conv_id,
                    "target": job.target,
                    "first_seq": job.first_seq,
                    "last_seq": job.last_seq,
                    "count": job.count,
                    "mention": job.mention,
                    "state": JobState.PENDING.value,
                    "attempts": 0,
                    "due_at": due_at if job.collapse else at_once,
                    "created_at": job.created_at,
                }
            )
            continue
        changes: dict[str, Any] = {"last_seq": job.last_seq, "count": push_jobs.c.count + job.count}
        if job.mention:
            changes["mention"] = True
        await conn.execute(update(push_jobs).where(push_jobs.c.id == found).values(**changes))
    if fresh:
        await conn.execute(insert(push_jobs), fresh)
