"""The broker and presence ports, and the events the broker carries.

Guarantees every backend gives:
- **At most once.** An event reaches each subscriber zero or one time; the store
  is the truth and clients recover anything lost by sync.
- **Per-publisher order.** Events published by one node reach a subscriber in the
  order they were published.
- **No blocking.** ``publish`` never waits on a subscriber's connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from pigeon.protocol.frames import Frame


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


class Presence(Protocol):
    """Who is online, across every node.

    Guarantees every backend gives:
    - A user is online while at least one of their connections is registered on
      a live node. ``connect`` returns True only for the first connection of a
      user and ``disconnect`` True only for the last (cluster-wide).
    - A node that dies without disconnecting stops refreshing; its connections
      expire within ``ttl_s`` and their users go offline then.
    - ``last_seen`` is the time (ms) a user was last online, None if never seen.
    """

    async def start(self) -> None:
        """Connect and begin refreshing this node's entries."""

    async def close(self) -> None:
        """Withdraw this node's connections and stop."""

    async def connect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        """Register a live connection; True if the user was offline until now."""

    async def disconnect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        """Withdraw a connection; True if it was the user's last one."""

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        """Which of ``user_ids`` are online."""

    async def online_logins(self, user_id: str) -> set[str]:
        """Ids of the user's logins holding at least one live connection."""

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, int | None]:
        """When each user was last online (now, for those online)."""
