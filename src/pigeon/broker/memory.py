"""Single-node broker: events go straight to this process's subscribers."""

from __future__ import annotations

import logging

from pigeon.broker.base import Event, Handler

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
