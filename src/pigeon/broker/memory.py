"""Single-node broker and presence: everything stays in this process."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pigeon.broker.base import Event, Handler
from pigeon.core.ids import now_ms

log = logging.getLogger(__name__)


class MemoryBroker:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:  # one bad subscriber must not starve the others
                log.exception("broker subscriber failed")


class MemoryPresence:
    """Single-node presence: the node's own connections are the whole truth."""

    def __init__(self) -> None:
        self._connections: dict[str, dict[str, str]] = {}  # user -> {connection: login}
        self._last_seen: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        now = now_ms()
        for user_id in self._connections:
            self._last_seen[user_id] = now
        self._connections.clear()

    async def connect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        conns = self._connections.setdefault(user_id, {})
        conns[connection_id] = login_id
        return len(conns) == 1

    async def disconnect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        conns = self._connections.get(user_id)
        if conns is None or conns.pop(connection_id, None) is None:
            return False
        if conns:
            return False
        del self._connections[user_id]
        self._last_seen[user_id] = now_ms()
        return True

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if u in self._connections}

    async def online_logins(self, user_id: str) -> set[str]:
        return set(self._connections.get(user_id, {}).values())

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, int | None]:
        now = now_ms()
        return {u: now if u in self._connections else self._last_seen.get(u) for u in user_ids}
