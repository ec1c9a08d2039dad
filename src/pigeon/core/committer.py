"""Group commit: concurrent sends share one transaction.

While one batch commits, new sends queue up; the next batch takes them all (up to
``max_batch``). One commit in flight per node keeps SQLite's single writer busy
without contention and turns N fsyncs into one.

A batch holds many users' messages, so failures are kept apart: the store's
``append`` answers a message the database refuses with its own ``Rejected``
(UNSTORABLE) and commits the rest; only an exception from ``append`` — the store
is unavailable — fails every waiting sender, with UNAVAILABLE (retry).

One connection may have several sends in flight (docs/protocol.md, "Pipelining"):
their checks overlap, but they join the queue in the order they arrived, each
behind its ``SubmitTurn``, so their sequence numbers follow the sender's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.store.records import AppendOutcome, NewMessage
from pigeon.tracing import NoTracer, Tracer

log = logging.getLogger(__name__)

AppendFn = Callable[[Sequence[NewMessage]], Awaitable[list[AppendOutcome]]]
BatchObserver = Callable[[int, float], None]


class SubmitTurn:
    """One send's place among its connection's sends on the way into the queue.

    A turn is over when its send was queued or gave up (a refused check); only then
    may the next send of the connection queue. The turns chain: one passes only
    after every turn before it has, so a send that fails fast never lets a later
    one overtake an earlier one still being checked.
    """

    __slots__ = ("_before", "_mine")

    def __init__(self, before: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self._before = before
        self._mine = mine

    async def arrived(self) -> None:
        """Wait until every earlier send of the connection is queued or gave up."""
        if self._before is not None and not self._before.done():
            # Shielded: a cancelled waiter must not cancel the turn it waits on.
            await asyncio.shield(self._before)

    def passed(self) -> None:
        """This send is queued or gave up; idempotent."""
        if self._mine.done():
            return
        if self._before is None or self._before.done():
            self._mine.set_result(None)
        else:
            self._before.add_done_callback(lambda _: self.passed())


class SubmitOrder:
    """Hands out one connection's turns in the order its sends arrived."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    def next_turn(self) -> SubmitTurn:
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turn = SubmitTurn(self._last, mine)
        self._last = mine
        return turn


class GroupCommitter:
    def __init__(
        self,
        append: AppendFn,
        max_batch: int,
        observe: BatchObserver | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._append = append
        self._max_batch = max_batch
        self._observe = observe
        self._tracer = tracer or NoTracer()
        # (message, its sender's future, the sender's span to link the commit to)
        self._pending: deque[tuple[NewMessage, asyncio.Future[AppendOutcome], object | None]] = (
            deque()
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, item: NewMessage, turn: SubmitTurn | None = None) -> AppendOutcome:
        """Resolve once ``item`` is committed (or rejected); raise if the store failed.

        With a ``turn``, ``item`` is queued only after the earlier sends of its
        connection, and the turn is passed once it is queued (or refused here)."""
        try:
            if turn is not None:
                await turn.arrived()
            if self._closing:
                raise CoreError(ErrorCode.UNAVAILABLE, "server is shutting down")
            future: asyncio.Future[AppendOutcome] = asyncio.get_running_loop().create_future()
            with self._tracer.span("commit.wait"):
                self._pending.append((item, future, self._tracer.link()))
                self._wake.set()
                if turn is not None:
                    turn.passed()
                return await future
        finally:
            if turn is not None:
                turn.passed()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not (self._closing and not self._pending):
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [
                self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))
            ]
            started = loop.time()
            try:
                links = [link for _, _, link in batch if link is not None]
                with self._tracer.span("commit", {"batch.size": len(batch)}, links):
                    outcomes = await self._append([item for item, _, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} messages")
            except Exception as exc:
                log.exception("group commit failed", extra={"batch": len(batch)})
                error = CoreError(ErrorCode.UNAVAILABLE, "message store unavailable; retry")
                error.__cause__ = exc
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            if self._observe:
                self._observe(len(batch), loop.time() - started)
            for (_, future, _), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def close(self) -> None:
        """Refuse new sends, commit everything already queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        error = CoreError(ErrorCode.UNAVAILABLE, "server is shutting down")
        while self._pending:  # only if never started: nothing will commit these
            _, future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(error)
