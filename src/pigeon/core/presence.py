"""Presence: online/offline with last_seen, told only to the people who may know.

Who sees what of user T (docs/protocol.md, "Presence visibility") — the one rule,
applied to pushes, the presence endpoint and group online lists alike:

- nobody, across a block in either direction;
- ``online`` and exact ``last_seen``: T's friends, and direct-chat peers T has
  written to (opening a direct conversation alone earns nothing);
- ``online`` only: active members of a live group T is an active member of;
- everyone else sees what a user who was never online shows: offline, no last_seen.

Pushes go to the first kind only. Going offline is announced only after
``debounce_s`` of absence, so a flapping connection (drop, reconnect) announces
nothing; coming online is announced at once unless it merely cancels a pending
offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from enum import IntEnum
from typing import Any

from pigeon.broker.base import Broker, Presence, Push
from pigeon.core.ids import now_ms
from pigeon.protocol import frames
from pigeon.store.facade import Store

log = logging.getLogger(__name__)

_CHUNK = 500  # users per visibility query (keeps IN lists within database limits)


class Visibility(IntEnum):
    """How much of a user's presence a viewer may see; ordered, more is larger."""

    NONE = 0
    ONLINE = 1  # online or not, but no last_seen
    FULL = 2


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
        """Who is pushed ``user_id``'s presence: those who see it in full."""
        people = set(await self.store.social.friend_ids(user_id))
        people |= await self.store.conversations.direct_peers_who_wrote(
            user_id, writer_is_peer=False
        )
        people.discard(user_id)
        people -= await self._blocked_either_way(user_id, sorted(people))
        return sorted(people)

    async def _blocked_either_way(self, user_id: str, among: Sequence[str]) -> set[str]:
        blocked = set(await self.store.social.blocked_ids(user_id)).intersection(among)
        return blocked | await self.store.social.blockers_of(user_id, list(among))

    async def visibility(self, viewer_id: str, user_ids: Sequence[str]) -> dict[str, Visibility]:
        """How much of each user's presence ``viewer_id`` may see (the module's rule)."""
        others = [u for u in user_ids if u != viewer_id]
        seen = {u: Visibility.FULL for u in user_ids if u == viewer_id}
        if not others:
            return seen
        full = set(await self.store.social.friend_ids(viewer_id)).intersection(others)
        full |= await self.store.conversations.direct_peers_who_wrote(viewer_id, others)
        rest = [u for u in others if u not in full]
        partial = await self.store.conversations.group_peers(viewer_id, rest)
        hidden = await self._blocked_either_way(viewer_id, others)
        for user in others:
            if user in hidden:
                seen[user] = Visibility.NONE
            elif user in full:
                seen[user] = Visibility.FULL
            else:
                seen[user] = Visibility.ONLINE if user in partial else Visibility.NONE
        return seen

    async def visible_online(
        self, viewer_id: str, user_ids: Sequence[str], limit: int, *, shared_group: bool = False
    ) -> list[str]:
        """Up to ``limit`` of ``user_ids`` (in order) that are online and that
        ``viewer_id`` may see online. ``shared_group``: they are all the viewer's
        co-members in a live group, so only blocks can hide them."""
        online = await self.presence.online_users(user_ids)
        candidates = [u for u in user_ids if u in online]
        shown: list[str] = []
        for start in range(0, len(candidates), _CHUNK):  # bounded queries for big rooms
            chunk = candidates[start : start + _CHUNK]
            if shared_group:
                hidden = await self._blocked_either_way(viewer_id, chunk)
                shown.extend(u for u in chunk if u not in hidden)
            else:
                seen = await self.visibility(viewer_id, chunk)
                shown.extend(u for u in chunk if seen[u] >= Visibility.ONLINE)
            if len(shown) >= limit:
                break
        return shown[:limit]

    async def snapshot(self, viewer_id: str, user_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Presence of ``user_ids`` as ``viewer_id`` may see it; unknown users are left out."""
        wanted = list(dict.fromkeys(user_ids))
        stored = await self.store.accounts.users_by_ids(wanted)
        wanted = [u for u in wanted if u in stored]
        seen = await self.visibility(viewer_id, wanted)
        shown = [u for u in wanted if seen[u] >= Visibility.ONLINE]
        online = await self.presence.online_users(shown)
        live_seen = await self.presence.last_seen(shown)
        items = []
        for user in wanted:
            last_seen = None
            if seen[user] == Visibility.FULL:
                last_seen = (
                    live_seen.get(user) or self._unsaved_seen.get(user) or stored[user].last_seen
                )
            items.append({"user": user, "online": user in online, "last_seen": last_seen})
        return items

    async def close(self) -> None:
        for handle in self._pending_offline.values():
            handle.cancel()
        self._pending_offline.clear()
        for task in list(self._tasks):
            task.cancel()
        await self.flush_last_seen()
