"""Retention: how long conversations keep messages, and the job that removes the rest.

The server keeps messages ``retention_days`` (0: forever); a group's or channel's
owner and admins may override that for their conversation (``Action.SET_RETENTION``;
a direct chat follows the server, it has nobody to decide for both). The job removes
expired messages from the front of each stream (store/retention.py says how nodes
running it at once stay out of each other's way), then deletes the files only those
messages showed. ``run_once`` is the whole job once, for the CLI and tests; the
server runs it every ``interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pigeon.core import policy
from pigeon.core.access import ConversationAccess
from pigeon.core.clock import Clock
from pigeon.core.errors import CoreError
from pigeon.core.policy import Action, Situation
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.views import RetentionView
from pigeon.store.facade import Store

log = logging.getLogger(__name__)

# (file ids, touched_before) → how many of them were deleted: those no message
# references any more and nobody touched since (files/service.py).
ReleaseFiles = Callable[[Sequence[str], int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class RetentionLimits:
    default_days: int
    max_days: int
    interval_s: float
    batch: int


@dataclass(frozen=True, slots=True)
class PruneReport:
    messages: int
    files: int
    conversations: int


class RetentionService:
    def __init__(
        self,
        store: Store,
        access: ConversationAccess,
        limits: RetentionLimits,
        clock: Clock,
        release_files: ReleaseFiles,
    ) -> None:
        self.store = store
        self.access = access
        self.limits = limits
        self.clock = clock
        self.release_files = release_files
        self._task: asyncio.Task[None] | None = None

    # --- the setting

    async def describe(self, user_id: str, conv_id: str) -> RetentionView:
        conversation, _ = await self.access.active_member(conv_id, user_id)
        days = conversation.retention_days
        return {
            "conv": conv_id,
            "days": days,
            "effective_days": self.limits.default_days if days is None else days,
            "first_seq": conversation.pruned_seq + 1,
        }

    async def set_days(self, user_id: str, conv_id: str, days: int | None) -> RetentionView:
        conversation, member = await self.access.active_member(conv_id, user_id)
        policy.require(Action.SET_RETENTION, Situation(conversation.kind, member.role))
        if days is not None and days > self.limits.max_days:
            raise CoreError(
                ErrorCode.NUMBER_OUT_OF_RANGE,
                f"days must be at most {self.limits.max_days}",
                {"retention_max_days": self.limits.max_days},
            )
        await self.store.retention.set_days(conv_id, days)
        return await self.describe(user_id, conv_id)

    # --- the job

    async def run_once(self) -> PruneReport:
        """Remove up to ``batch`` expired messages, and the files only they showed."""
        now = self.clock.now_ms()
        budget = self.limits.batch
        messages = files = 0
        touched: set[str] = set()
        while budget > 0:
            due = await self.store.retention.due(now, self.limits.default_days, budget)
            removed_this_pass = 0
            for conv_id in due:
                pruned = await self.store.retention.prune(
                    conv_id, now, self.limits.default_days, budget
                )
                if pruned.removed:
                    touched.add(conv_id)
                    removed_this_pass += pruned.removed
                    budget -= pruned.removed
                if pruned.file_ids:
                    files += await self.release_files(pruned.file_ids, pruned.cutoff)
                if budget <= 0:
                    break
            messages += removed_this_pass
            if removed_this_pass == 0:  # nothing due, or another node got there first
                break
        return PruneReport(messages, files, len(touched))

    async def run_until_done(self) -> PruneReport:
        """``run_once`` until nothing is left to remove (the CLI's ``db prune``)."""
        total = PruneReport(0, 0, 0)
        while True:
            report = await self.run_once()
            total = PruneReport(
                total.messages + report.messages,
                total.files + report.files,
                total.conversations + report.conversations,
            )
            if report.messages == 0:
                return total

    async def _run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.interval_s)
            try:
                report = await self.run_once()
            except Exception:
                log.exception("retention run failed; retrying next round")
                continue
            if report.messages:
                log.info(
                    "expired messages removed",
                    extra={"messages": report.messages, "files": report.files},
                )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="retention")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
