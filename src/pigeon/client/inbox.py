"""``Inbox``: turns live pushes, catch-up pulls and acks into a connection's message events.

After every (re)connect it catches up — ``sync`` from the saved cursor, then
``pull after=<delivered>`` for each conversation that changed — and while the
socket lives it pulls whatever gap a live push reveals. All arrivals pass
through one ``StreamTracker``, so each ``(conv, seq)`` is emitted at most once
and each conversation's messages are emitted in seq order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pigeon.backoff import Backoff, ReconnectPolicy
from pigeon.client.errors import PigeonApiError
from pigeon.client.events import (
    Ack,
    ConversationChange,
    Event,
    Message,
    MessageEvent,
    MessagePage,
    SyncPage,
)
from pigeon.client.link import Link, LinkLost
from pigeon.client.tracker import StreamTracker
from pigeon.protocol.frames import Frame

log = logging.getLogger("pigeon.client")

CONVERSATION_NOT_FOUND = 40402
# Waits between repeats of a request the server refused for a transient reason.
TRANSIENT_RETRY = ReconnectPolicy(initial_delay=0.2, max_delay=5.0)


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where a connection stands: enough to resume in a later process without repeats.

    ``delivered`` maps each conversation to the seq up to which its messages were
    put into the event stream.
    """

    cursor: str | None
    delivered: Mapping[str, int]


async def request_with_retries(link: Link, frame: Frame, retries: int) -> Frame:
    """``link.request``, repeated on the same socket after transient errors."""
    delays = Backoff(TRANSIENT_RETRY)
    while True:
        try:
            return await link.request(frame)
        except PigeonApiError as exc:
            if not exc.transient or delays.attempt >= retries:
                raise
            await asyncio.sleep(delays.next_delay())


class Inbox:
    """The message side of one ``Connection``; ``emit`` receives the events in order.

    Without ``resume``, the first catch-up only records each conversation's
    ``last_seq`` (the baseline): messages up to it are history, not events.
    Live messages that arrive before the baseline is known wait for it.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        *,
        resume: SyncState | None,
        pull_limit: int,
        transient_retries: int,
    ) -> None:
        self.user: str | None = None  # set on ready: recognizes this user's own messages
        self._emit = emit
        self._pull_limit = pull_limit
        self._retries = transient_retries
        self._tracker = StreamTracker(resume.delivered if resume else None)
        self._cursor = resume.cursor if resume else None
        self._baselined = resume is not None
        self._before_baseline: list[Message] = []
        self._held_live: set[tuple[str, int]] = set()
        self._dirty: dict[str, None] = {}  # conversations with a gap to pull, oldest first
        self._dirty_signal = asyncio.Event()
        self._own_cids: Counter[str] = Counter()

    def state(self) -> SyncState:
        return SyncState(self._cursor, self._tracker.snapshot())

    # --- this connection's own sends

    @contextmanager
    def sending(self, cid: str) -> Iterator[None]:
        """While a send is unacknowledged, its message is not emitted if it shows up.

        It can: after a reconnect, catch-up may pull the stored message before the
        repeated send returns its ack.
        """
        self._own_cids[cid] += 1
        try:
            yield
        finally:
            self._own_cids[cid] -= 1
            if self._own_cids[cid] <= 0:
                del self._own_cids[cid]

    def acked(self, ack: Ack) -> None:
        """The application has this message (as the ack): settle its seq without emitting it."""
        self._emit_messages(self._tracker.note_known(ack.conv, ack.seq))
        self._mark_if_gap(ack.conv)

    def _is_own_in_flight(self, message: Message) -> bool:
        return message.sender == self.user and message.cid in self._own_cids

    # --- arrivals

    def accept(self, message: Message, *, live: bool) -> None:
        """One message from a push (``live``) or elsewhere; emits what became deliverable."""
        if not self._baselined:
            self._before_baseline.append(message)  # judged once the baseline is known
            return
        conv, seq = message.conv, message.seq
        if self._is_own_in_flight(message):
            out = self._tracker.note_known(conv, seq)
        else:
            out = self._tracker.offer(message)
            if live and self._tracker.holds(conv, seq):
                self._held_live.add((conv, seq))  # waits for the gap before it
        self._emit_messages(out, live_key=(conv, seq) if live else None)
        self._mark_if_gap(conv)

    def _offer_page(self, conv: str, after: int, items: list[Message]) -> None:
        for message in items:
            if self._is_own_in_flight(message):
                self._emit_messages(self._tracker.note_known(conv, message.seq))
        self._emit_messages(self._tracker.offer_page(conv, after, items))

    def _mark_if_gap(self, conv: str) -> None:
        if self._tracker.has_gap(conv) and conv not in self._dirty:
            self._dirty[conv] = None
            self._dirty_signal.set()

    def _emit_messages(
        self, messages: Iterable[Message], live_key: tuple[str, int] | None = None
    ) -> None:
        for message in messages:
            key = (message.conv, message.seq)
            live = key == live_key or key in self._held_live
            self._held_live.discard(key)
            self._emit(MessageEvent(message, live))

    def _forget(self, conv: str) -> None:
        self._tracker.forget(conv)
        self._dirty.pop(conv, None)
        self._held_live = {key for key in self._held_live if key[0] != conv}

    # --- catching up

    async def catch_up(self, link: Link, on_caught_up: Callable[[], None]) -> None:
        """Sync and pull until current, call ``on_caught_up``, then fill gaps as they appear.

        Runs until the socket ends (``LinkLost``); a catch-up that cannot finish
        closes the socket, so the next one starts over.
        """
        try:
            await self._sync_all(link)
            self._end_baseline()
            on_caught_up()
            self._dirty_signal.set()  # gaps left over from an earlier socket
            while True:
                await self._dirty_signal.wait()
                self._dirty_signal.clear()
                await self._fill_dirty(link)
        except LinkLost:
            return
        except (TimeoutError, PigeonApiError) as exc:
            # Without catch-up this socket would leave gaps open: start over on a new one.
            log.warning("catch-up failed, reconnecting: %r", exc)
            await link.close(code=4000)

    async def _fill_dirty(self, link: Link) -> None:
        while self._dirty:
            conv = next(iter(self._dirty))
            del self._dirty[conv]
            try:
                await self._fill(link, conv)
            except BaseException:
                self._dirty[conv] = None  # still to do, on the next socket
                raise

    def _end_baseline(self) -> None:
        if self._baselined:
            return
        self._baselined = True
        waiting, self._before_baseline = self._before_baseline, []
        for message in waiting:
            self.accept(message, live=True)

    async def _sync_all(self, link: Link) -> None:
        """Page through ``sync`` from the saved cursor, pulling what each page says changed."""
        baseline = not self._baselined
        cursor = None if baseline else self._cursor
        while True:
            frame: Frame = {"t": "sync"} if cursor is None else {"t": "sync", "cursor": cursor}
            try:
                page = SyncPage.from_frame(await request_with_retries(link, frame, self._retries))
            except PigeonApiError as exc:
                if cursor is None or exc.transient:
                    raise
                log.warning("sync cursor refused (%s); syncing everything", exc)
                cursor = None
                continue
            await self._apply_changes(link, page.convs, baseline)
            if not baseline:
                self._cursor = page.cursor  # only now: everything before it is pulled
            if not page.more or page.cursor == cursor:
                break
            cursor = page.cursor
        if baseline:
            self._cursor = page.cursor

    async def _apply_changes(
        self, link: Link, changes: Iterable[ConversationChange], baseline: bool
    ) -> None:
        for change in changes:
            if change.removed:
                self._forget(change.conv)
            elif baseline:
                self._emit_messages(self._tracker.set_baseline(change.conv, change.last_seq))
            elif self._tracker.behind(change.conv, change.last_seq):
                self._dirty.pop(change.conv, None)
                await self._fill(link, change.conv)

    async def _fill(self, link: Link, conv: str) -> None:
        """Pull ``after=<delivered>`` until the conversation has no gap and nothing newer."""
        while True:
            after = self._tracker.delivered(conv)
            frame: Frame = {"t": "pull", "conv": conv, "after": after, "limit": self._pull_limit}
            try:
                page = MessagePage.from_frame(
                    await request_with_retries(link, frame, self._retries)
                )
            except PigeonApiError as exc:
                if exc.transient:
                    raise
                if exc.code == CONVERSATION_NOT_FOUND:
                    self._forget(conv)  # the user left or was removed
                else:
                    log.warning("cannot pull %s (%s); delivering what is held", conv, exc)
                    self._emit_messages(self._tracker.release(conv))
                return
            self._offer_page(conv, after, page.items)
            if self._tracker.delivered(conv) <= after:
                # Nothing settled: the server has nothing to fill the gap with.
                self._emit_messages(self._tracker.release(conv))
                return
            if not page.more and not self._tracker.has_gap(conv):
                return
