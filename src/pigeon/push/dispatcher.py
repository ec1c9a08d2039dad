"""Dispatch: lease due notifications, deliver them, and settle each by its outcome.

- ``DELIVERED``: the row is deleted (or, when messages collapsed into it while it
  was in flight, made due again with the rest).
- ``RETRY``: due again after ``base · 2^(attempts-1)`` seconds (at most ``max_s``,
  with jitter so a recovered receiver is not hit by every retry at once); after
  ``max_attempts`` it is dead-lettered.
- ``GONE``: the target no longer exists; the row (and for Web Push the
  subscription) is deleted.
- ``REFUSED``: dead-lettered at once; retrying cannot help.

A node that dies mid-delivery leaves its rows leased; they fall due again when the
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
from pigeon.push.store import Job, PushStore

log = logging.getLogger(__name__)

WEBHOOK_TARGET = "webhook"
_CONCURRENCY = 64  # deliveries in flight per node

Compose = Callable[[Sequence[Job]], Awaitable[dict[int, Notification | None]]]
Observer = Callable[[Job, Result], None]


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
        try:
            notes = await self.compose(jobs)
        except Exception:
            log.exception("composing notifications failed")
            return  # the leases run out and the rows fall due again
        await asyncio.gather(*(self._deliver(job, notes.get(job.id)) for job in jobs))

    async def _deliver(self, job: Job, note: Notification | None) -> None:
        async with self._slots:
            try:
                if note is None:
                    await self.store.drop(job)  # conversation or message gone
                    return
                provider = self.providers.get(_kind(job.target))
                if provider is None:  # the provider was switched off since planning
                    await self.store.drop(job)
                    return
                result = await provider.deliver(job.target, note)
                await self._settle(job, result)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The row stays leased and falls due again when the lease ends.
                log.exception("delivering a notification failed", extra={"job": job.id})

    async def _settle(self, job: Job, result: Result) -> None:
        if self.observe is not None:
            self.observe(job, result)
        now = now_ms()
        if result.outcome is Outcome.DELIVERED:
            await self.store.finish(job, now)
        elif result.outcome is Outcome.GONE:
            await self.store.drop(job)
        elif result.outcome is Outcome.REFUSED or job.attempts >= self.policy.max_attempts:
            log.warning(
                "notification dead-lettered",
                extra={"job": job.id, "attempts": job.attempts, "error": result.detail},
            )
            await self.store.bury(job, result.detail)
        else:
            await self.store.retry(job, now + self.policy.delay_ms(job.attempts), result.detail)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _kind(target: str) -> str:
    return WEBHOOK_TARGET if target == WEBHOOK_TARGET else "webpush"
