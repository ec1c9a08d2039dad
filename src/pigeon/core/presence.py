"""Presence: online/offline with last_seen, told to the people who may know.

Who hears about a user: their friends and their direct-chat peers, minus anyone
the user has blocked. Going offline is announced only after ``debounce_s`` of
absence, so a flapping connection (drop, reconnect) announces nothing; coming
online is announced at once unless it merely cancels a pending offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from pigeon.broker.base import Broker, Presence, Push
from pigeon.core.ids import now_ms
from pigeon.protocol import frames
from pigeon.store.facade import Store

log = logging.getLogger(__name__)


class PresenceService:
    def __init__(self, store: Store, broker: Broker, presence: Presence, debounce_s: float) -> None:
        self.store = store
        self.broker = broker
        self.presence = presence
        self.debounce_s = debounce_s
        self._pending_offline: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsaved_seen: dict[str, int] = {}
        self._saver: asyncio.Task[None] | None = None

    async def connected(self, user_id: str, login_id: str, connection_id: str) -> None:
        became_online = await self.presence.connect(user_id, login_id, connection_id)
        pending = self._pending_offline.pop(user_id, None)
        if pending is not None:
            pending.cancel()  # back before anyone was told it had left
        elif became_online:  # in the background: the connection's `ready` need not wait
            self._spawn(self._announce(user_id, online=True, last_seen=now_ms()))

    async def disconnected(self, user_id: str, login_id: str, connection_id: str) -> None:
        if not await self.presence.disconnect(user_id, login_id, connection_id):
            return
        seen = now_ms()
        # Pending before the store write: a reconnect that lands during the write
        # must find it and cancel it, or the user would be announced offline while on.
        loop = asyncio.get_running_loop()
        self._pending_offline[user_id] = loop.call_later(
            self.debounce_s, self._offline_due, user_id, seen
        )
        self._unsaved_seen[user_id] = seen
        if self._saver is None or self._saver.done():
            self._saver = self._spawn(self._save_last_seen())

    async def _save_last_seen(self) -> None:
        """Write pending last_seen times in one transaction, at most once a second:
        a wave of disconnects costs one commit, not one each."""
        await asyncio.sleep(1.0)
        await self.flush_last_seen()

    async def flush_last_seen(self) -> None:
        pending, self._unsaved_seen = self._unsaved_seen, {}
        if pending:
            try:
                await self.store.accounts.set_last_seen(pending)
            except Exception:
                log.exception("saving last_seen failed", extra={"users": len(pending)})

    def _offline_due(self, user_id: str, seen: int) -> None:
        self._pending_offline.pop(user_id, None)
        self._spawn(self._announce(user_id, online=False, last_seen=seen))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _announce(self, user_id: str, *, online: bool, last_seen: int) -> None:
        try:
            audience = await self.audience(user_id)
            if audience:
                frame = frames.presence_frame(user_id, online, last_seen)
                await self.broker.publish(Push(tuple(audience), frame))
        except Exception:
            log.exception("presence announcement failed", extra={"user": user_id})

    async def audience(self, user_id: str) -> list[str]:
        """Friends and direct-chat peers of ``user_id``, except those it has blocked."""
        people = set(await self.store.social.friend_ids(user_id))
        people.update(await self.store.conversations.direct_peers(user_id))
        people.difference_update(await self.store.social.blocked_ids(user_id))
        people.discard(user_id)
        return sorted(people)

    async def snapshot(self, viewer_id: str, user_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Presence of ``user_ids`` as ``viewer_id`` may see it: hidden from the blocked."""
        wanted = list(dict.fromkeys(user_ids))
        hidden = await self.store.social.blockers_of(viewer_id, wanted)
        online = await self.presence.online_users(wanted)
        live_seen = await self.presence.last_seen(wanted)
        stored = await self.store.accounts.users_by_ids(wanted)
        items = []
        for user in wanted:
            if user not in stored:
                continue
            if user in hidden:
                items.append({"user": user, "online": False, "last_seen": None})
                continue
            seen = live_seen.get(user) or self._unsaved_seen.get(user) or stored[user].last_seen
            items.append({"user": user, "online": user in online, "last_seen": seen})
        return items

    async def close(self) -> None:
        for handle in self._pending_offline.values():
            handle.cancel()
        self._pending_offline.clear()
        for task in list(self._tasks):
            task.cancel()
        await self.flush_last_seen()
