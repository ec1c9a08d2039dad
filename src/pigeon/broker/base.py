"""The broker port and the events it carries.

Guarantees every backend gives:
- **At most once.** An event reaches each subscriber zero or one time; the store
  is the truth and clients recover anything lost by sync.
- **Per-publisher order.** Events published by one node reach a subscriber in the
  order they were published.
- **No blocking.** ``publish`` never waits on a subscriber's connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Push:
    """Write ``frame`` to every connection of ``users``, except ``skip_connection``."""

    users: tuple[str, ...]
    frame: Frame
    skip_connection: str | None = None


@dataclass(frozen=True, slots=True)
class Kick:
    """Close every connection of ``login_ids`` (or all of ``user_id``) with ``code``."""

    code: int
    login_ids: tuple[str, ...] = ()
    user_id: str | None = None


Event = Push | Kick
Handler = Callable[[Event], None]


class Broker(Protocol):
    async def start(self) -> None:
        """Connect and begin delivering events to subscribers."""

    async def close(self) -> None:
        """Stop delivering; pending events may be dropped."""

    def subscribe(self, handler: Handler) -> None:
        """Call ``handler`` for every event published by any node (this one included).

        Handlers run on the event loop and must not block.
        """

    async def publish(self, event: Event) -> None:
        """Send ``event`` to every subscribed node."""
