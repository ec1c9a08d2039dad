"""Dispatch: lease due notifications, deliver them, and settle each by its outcome.

- ``DELIVERED``: the row is deleted (or, when messages collapsed into it while it
  was in flight, made due again with the rest).
- ``RETRY``: due again after ``base · 2^(attempts-1)`` seconds (at most ``max_s``,
  with jitter so a recovered receiver is not hit by every retry at once); after
  ``max_attempts`` it is dead-lettered.
- ``GONE``: the target no longer exists; the row (and for Web Push the
  subscription) is deleted.
- ``REFUSED``: dead-lettered at once; retrying cannot help.

A claimed batch is delivered concurrently and settled in one transaction: one commit
for the batch, not one per notification. A node that dies mid-delivery leaves its rows leased; they fall due again when the
lease ends, which is what makes delivery at least once rather than at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from pigeon.core.ids import now_ms
from pigeon.push.base import Notification, Outcome, Provider, Result
from pigeon.push.planner import BOT_TARGET
from pigeon.push.store import Job, PushStore, Settle, Settlement

log = logging.getLogger(__name__)

WEBHOOK_TARGET = "webhook"
WEBPUSH = "webpush"  # the provider of every other target: a Web Push subscription id
# The row's conversation or message is gone (or its provider was switched off): the
# row goes, but its target is fine. Compared by identity.
_NOTHING_TO_SEND = Result(Outcome.GONE, "nothing to send")
_CONCURRENCY = 64  # deliveries in flight per node

Compose = Callable[[Sequence[Job]], Awaitable[dict[int, Notification | None]]]
Observer = Callable[[str, Job, Result], None]  # (provider, job, result)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float

    def delay_ms(self, attempts: int) -> int:
        """Backoff before attempt ``attempts + 1``: exponential, capped, jittered down
        by up to a half."""
        delay = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        return int(delay * random.uniform(0.5, 1.0) * 1000)


class Dispatcher:
    def __init__(
        self,
        store: PushStore,
        providers: Mapping[str, Provider],
        compose: Compose,
        policy: RetryPolicy,
        *,
        lease_ms: int,
        batch: int,
        poll_s: float,
        observe: Observer | None = None,
    ) -> None:
        self.store = store
        self.providers = providers  # "webhook" / "webpush" → provider
        self.compose = compose  # jobs → what to send for each (None: nothing left to say)
        self.policy = policy
        self.lease_ms = lease_ms
        self.batch = batch
        self.poll_s = poll_s
        self.observe = observe
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(_CONCURRENCY)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                jobs = await self.store.claim(now_ms(), self.lease_ms, self.batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming notifications failed")
                jobs = []
            if jobs:
                await self._deliver_all(jobs)
                continue  # more may be due
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _deliver_all(self, jobs: Sequence[Job]) -> None:
        """Deliver a claimed batch concurrently, then settle it in one transaction."""
        try:
            notes = await self.compose(jobs)
        except Exception:
            log.exception("composing notifications failed")
            return  # the leases run out and the rows fall due again
        results = await asyncio.gather(*(self._deliver(job, notes.get(job.id)) for job in jobs))
        now = now_ms()
        settlements = [
            self._settlement(job, result, now)
            for job, result in zip(jobs, results, strict=True)
            if result is not None
        ]
        try:
            await self.store.settle(now, settlements)
        except Exception:
            # Unsettled rows fall due when their lease ends: sent again, at least once.
            log.exception("settling notifications failed", extra={"jobs": len(settlements)})

    async def _deliver(self, job: Job, note: Notification | None) -> Result | None:
        """The attempt's result; None leaves the row leased (it falls due again)."""
        provider = self.providers.get(_kind(job.target))
        if note is None or provider is None:
            return _NOTHING_TO_SEND
        async with self._slots:
            try:
                result = await provider.deliver(job.target, note)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivering a notification failed", extra={"job": job.id})
                return None
        if self.observe is not None:
            self.observe(_kind(job.target), job, result)
        return result

    def _settlement(self, job: Job, result: Result, now: int) -> Settlement:
        if result.outcome is Outcome.DELIVERED:
            return Settlement(job, Settle.DELIVERED)
        if result.outcome is Outcome.GONE:
            forget = _kind(job.target) == WEBPUSH and result is not _NOTHING_TO_SEND
            return Settlement(job, Settle.GONE, forget_target=forget)
        if result.outcome is Outcome.REFUSED or job.attempts >= self.policy.max_attempts:
            log.warning(
                "notification dead-lettered",
                extra={"job": job.id, "attempts": job.attempts, "error": result.detail},
            )
            return Settlement(job, Settle.DEAD, error=result.detail)
        due = now + self.policy.delay_ms(job.attempts)
        return Settlement(job, Settle.RETRY, due_at=due, error=result.detail)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _kind(target: str) -> str:
    return target if target in (WEBHOOK_TARGET, BOT_TARGET) else WEBPUSH
