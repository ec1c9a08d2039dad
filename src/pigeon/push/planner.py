"""Planning: who gets a notification for the messages past a conversation's cursor.

A recipient is an active member other than the sender who, at planning time, has
no live connection anywhere in the cluster (the presence port), has notifications
enabled and is outside their do-not-disturb window; in a conversation they muted,
only messages that mention them (or ``@all``) count. Recalls, edits and system
messages never notify.

Bots are not notified as people are: a bot member with an outgoing webhook gets one
event per message, whatever its presence, never collapsed (``bot_jobs``).

Planning is woken by this node's commits (``notice``) and also runs over every
conversation at start and every ``scan_s``: that pass plans what a node that died
between commit and planning left behind, whichever node committed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from pigeon.bots.store import BotEvent
from pigeon.broker.base import Presence
from pigeon.core.ids import now_ms
from pigeon.core.messaging import ALL_MEMBERS
from pigeon.protocol.membership import ConversationKind
from pigeon.push.store import Backlog, Plan, PlannedJob, PushStore, Unplanned

log = logging.getLogger(__name__)

NOTIFYING_KINDS = frozenset({"text", "image", "file", "custom"})
_BACKLOG_PAGE = 500  # messages per conversation per planning transaction
_PLAN_BATCH = 200  # conversations per planning transaction
_SCAN_PAGE = 1000  # conversations per scan query
_MAX_SCAN_PAGES = 10_000  # bounds one scan; the next scan goes on where it stopped
_MAX_RACES = 5  # cursor moved by another node this often in a row: wait for the next pass
_GATHER_S = 0.25  # a woken planner waits this long before its pass

TargetsFor = Callable[[Sequence[str]], Awaitable[dict[str, list[str]]]]


@dataclass(slots=True)
class _Tally:
    first_seq: int
    last_seq: int
    count: int
    mention: bool
    created_at: int


#: The outbox target of a bot's outgoing webhook (docs/bots.md).
BOT_TARGET = "bot"


def _mentions(message: Unplanned, user_id: str) -> bool:
    mentioned = message.mentions or ()
    return user_id in mentioned or ALL_MEMBERS in mentioned


def bot_wants(events: frozenset[BotEvent], conv_kind: ConversationKind, mention: bool) -> bool:
    """Whether a bot subscribed to ``events`` is sent a message: every message of a
    direct conversation; elsewhere every message, or only mentions of it."""
    if conv_kind is ConversationKind.DIRECT or BotEvent.MESSAGE in events:
        return True
    return mention and BotEvent.MENTION in events


def bot_jobs(backlog: Backlog, notifying: Sequence[Unplanned]) -> list[PlannedJob]:
    """One job per (bot, message) the bot's webhook is to be sent, its own excepted."""
    jobs = []
    for bot, events in sorted(backlog.bots.items()):
        for message in notifying:
            mention = _mentions(message, bot)
            if message.sender_id != bot and bot_wants(events, backlog.kind, mention):
                jobs.append(
                    PlannedJob(
                        bot, BOT_TARGET, message.seq, message.seq, 1, mention, message.ts, False
                    )
                )
    return jobs


class Planner:
    def __init__(
        self,
        store: PushStore,
        presence: Presence,
        targets_for: TargetsFor,
        *,
        first_delay_ms: int,
        scan_s: float,
        on_planned: Callable[[int], None],
    ) -> None:
        self.store = store
        self.presence = presence
        self.targets_for = targets_for  # user ids → their delivery targets
        self.first_delay_ms = first_delay_ms
        self.scan_s = scan_s
        self.on_planned = on_planned  # told how many notifications each plan wrote
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-planner")

    def notice(self, conv_ids: Iterable[str]) -> None:
        """Conversations that just had messages committed on this node."""
        self._dirty.update(conv_ids)
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_scan = loop.time()  # scan at once: a previous process may have died mid-way
        while True:
            if loop.time() >= next_scan:
                await self._guarded(self.scan())
                next_scan = loop.time() + self.scan_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_scan - loop.time()))
            # Let the commits of the next moment join this pass: fewer, larger passes.
            await asyncio.sleep(_GATHER_S)
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            await self._guarded(self.plan(dirty))

    async def _guarded(self, work: Awaitable[None]) -> None:
        """A failing database must not end the loop; the next scan retries."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("push planning failed")

    async def scan(self) -> None:
        """Plan every conversation with messages past its cursor."""
        for _ in range(_MAX_SCAN_PAGES):
            conv_ids = await self.store.unplanned_conversations(_SCAN_PAGE)
            await self.plan(conv_ids)
            if len(conv_ids) < _SCAN_PAGE:
                return

    async def plan(self, conv_ids: Iterable[str]) -> None:
        """Plan ``conv_ids`` up to their newest messages, a batch of conversations per
        transaction: a wave of sends costs one commit here, not one per conversation."""
        pending = sorted(set(conv_ids))
        races: dict[str, int] = {}
        while pending:
            batch, pending = pending[:_PLAN_BATCH], pending[_PLAN_BATCH:]
            backlogs = await self.store.backlogs(batch, _BACKLOG_PAGE)
            plans = [
                Plan(b, b.messages[-1].seq, await self._decide(b)) for b in backlogs if b.messages
            ]
            now = now_ms()
            lost = await self.store.commit_plans(plans, now + self.first_delay_ms, now)
            written = sum(len(p.jobs) for p in plans if p.backlog.conv_id not in lost)
            if written:
                self.on_planned(written)
            for plan in plans:
                conv_id = plan.backlog.conv_id
                if conv_id in lost:  # another node moved the cursor: read again
                    races[conv_id] = races.get(conv_id, 0) + 1
                    if races[conv_id] < _MAX_RACES:
                        pending.append(conv_id)
                    else:  # the next pass reads it again: what the winner had not seen yet
                        self.notice([conv_id])
                elif len(plan.backlog.messages) == _BACKLOG_PAGE:  # more past this page
                    pending.append(conv_id)

    async def _decide(self, backlog: Backlog) -> list[PlannedJob]:
        notifying = [m for m in backlog.messages if m.kind in NOTIFYING_KINDS]
        if not notifying:
            return []
        return bot_jobs(backlog, notifying) + await self._people_jobs(backlog, notifying)

    async def _people_jobs(
        self, backlog: Backlog, notifying: Sequence[Unplanned]
    ) -> list[PlannedJob]:
        candidates = set(backlog.members)
        online = await self.presence.online_users(sorted(candidates))
        offline = sorted(candidates - online)
        if not offline:  # the common case under load: no query at all
            return []
        prefs = await self.store.preferences(offline)
        now = now_ms()
        awake = [u for u in offline if prefs[u].enabled and not prefs[u].quiet_at(now)]
        tallies: dict[str, _Tally] = {}
        for message in notifying:
            for user in awake:
                if user == message.sender_id:
                    continue
                mention = _mentions(message, user)
                if backlog.members[user] and not mention:
                    continue  # muted conversation: only mentions break through
                tally = tallies.get(user)
                if tally is None:
                    tallies[user] = _Tally(message.seq, message.seq, 1, mention, message.ts)
                else:
                    tally.last_seq, tally.count = message.seq, tally.count + 1
                    tally.mention = tally.mention or mention
        if not tallies:
            return []
        targets = await self.targets_for(sorted(tallies))
        return [
            PlannedJob(user, target, t.first_seq, t.last_seq, t.count, t.mention, t.created_at)
            for user, t in tallies.items()
            for target in targets.get(user, ())
        ]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
