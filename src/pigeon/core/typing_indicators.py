"""Typing indicators: relayed, throttled, self-expiring, never stored.

A typer's ``on: true`` is relayed at most once per ``throttle_s`` while it keeps
typing; if no refresh comes for ``expire_s`` the server relays ``on: false``
itself. Sending a message also ends typing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from pigeon.broker.base import Broker, ConvPush
from pigeon.core.access import ConversationAccess, check_may_post
from pigeon.protocol import frames
from pigeon.store.facade import Store

log = logging.getLogger(__name__)

Relay = Callable[[str, str, bool], Awaitable[None]]  # (conv, user, on)


class TypingTracker:
    def __init__(self, relay: Relay, throttle_s: float = 3.0, expire_s: float = 6.0) -> None:
        self._relay = relay
        self.throttle_s = throttle_s
        self.expire_s = expire_s
        self._last_relayed: dict[tuple[str, str], float] = {}
        self._expiry: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def update(self, conv_id: str, user_id: str, on: bool) -> None:
        key = (conv_id, user_id)
        if not on:
            await self.stop(conv_id, user_id)
            return
        now = time.monotonic()
        handle = self._expiry.pop(key, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self._expiry[key] = loop.call_later(self.expire_s, self._expired, key)
        last = self._last_relayed.get(key)
        if last is None or now - last >= self.throttle_s:
            self._last_relayed[key] = now
            await self._relay(conv_id, user_id, True)

    async def stop(self, conv_id: str, user_id: str) -> None:
        """End typing (explicit off, or a message was sent); relays off only if on was."""
        key = (conv_id, user_id)
        handle = self._expiry.pop(key, None)
        if handle is not None:
            handle.cancel()
        if self._last_relayed.pop(key, None) is not None:
            await self._relay(conv_id, user_id, False)

    def _expired(self, key: tuple[str, str]) -> None:
        self._expiry.pop(key, None)
        if self._last_relayed.pop(key, None) is None:
            return
        task = asyncio.create_task(self._relay_quietly(*key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay_quietly(self, conv_id: str, user_id: str) -> None:
        try:
            await self._relay(conv_id, user_id, False)
        except Exception:
            log.exception("typing expiry relay failed")

    def close(self) -> None:
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        self._last_relayed.clear()
        for task in list(self._tasks):
            task.cancel()


class TypingService:
    """``typing`` commands: checked like a post, relayed to the other active members."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        access: ConversationAccess,
        throttle_s: float = 3.0,
        expire_s: float = 6.0,
    ) -> None:
        self.store = store
        self.broker = broker
        self.access = access
        self.tracker = TypingTracker(self._relay, throttle_s, expire_s)

    async def typing(self, user_id: str, conv_id: str, on: bool) -> None:
        conversation, member = await self.access.active_member(conv_id, user_id)
        check_may_post(conversation, member)
        await self.tracker.update(conv_id, user_id, on)

    async def stopped(self, conv_id: str, user_id: str) -> None:
        """The user sent a message: their typing indicator ends with it."""
        await self.tracker.stop(conv_id, user_id)

    def close(self) -> None:
        self.tracker.close()

    async def _relay(self, conv_id: str, user_id: str, on: bool) -> None:
        frame = frames.typing_frame(conv_id, user_id, on)
        await self.broker.publish(ConvPush(conv_id, frame, skip_user=user_id))
