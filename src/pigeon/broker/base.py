"""The broker and presence ports, and the events the broker carries.

Guarantees every ``Broker`` gives (tests/contract/test_broker_contract.py checks
each one on every backend; the in-memory backend is a whole cluster of one node, so
what it says of other nodes holds there trivially):

- **This node at once.** ``publish`` hands the event to every subscriber of the
  publishing node before it returns, in subscription order, whatever the state of
  the backend. A subscriber that raises does not keep the event from the others.
- **Other nodes while the backend is reachable.** A ``Kick``, a ``ConvPush`` and a
  ``Membership`` reach the subscribers of every node (O(nodes) per event: a node
  knows which of its own connections a conversation concerns, the publisher does
  not). A ``Push`` reaches each other node that holds a live connection of
  one of its ``users`` (registered with that node's ``Presence``), carrying only the
  users that node holds. Who holds whom travels between nodes like the events do,
  so a push published in the moment after a connection was registered elsewhere may
  miss it; once the route has arrived, every push for that user reaches its node.
- **At most once.** An event reaches each subscriber zero or one time. What cannot
  be delivered (backend unreachable, the bounded outgoing queue full) is dropped,
  never delivered late; the store is the truth and clients recover by sync.
- **Per-publisher order.** Events published by one node reach a subscriber in the
  order they were published.
- **Membership window.** A node learns who is in a conversation from ``Membership``
  events. On the node that published a change, a later ``ConvPush`` is always
  delivered under the new membership. Another node applies the change when the
  event arrives, so a ``ConvPush`` published by a third node around the same moment
  may still reach a member who just left (or miss one who just joined) there;
  history and sync never show it, since the store enforces the membership window.
- **No blocking.** ``publish`` never waits on a subscriber's connections or on the
  backend, and never raises because the backend failed.
- **Recovery.** When the backend is back after an outage or a restart, delivery to
  other nodes resumes by itself: the node subscribes again and relearns the routes,
  and hands its own subscribers a ``Resubscribed`` event (other nodes' events of the
  outage are lost: state kept from them, such as membership, is to be read again).
- **Close.** After ``close`` returns, the node's subscribers are not called again.
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


@dataclass(frozen=True, slots=True)
class ConvPush:
    """Write ``frame`` to every connection of the active members of ``conv_id``, except
    ``skip_connection`` and every connection of ``skip_user``. Each node delivers it
    to its own connections indexed under the conversation (gateway/hub.py)."""

    conv_id: str
    frame: Frame
    skip_connection: str | None = None
    skip_user: str | None = None


@dataclass(frozen=True, slots=True)
class Membership:
    """``user_id`` became (``joined``) or stopped being an active member of ``conv_id``."""

    user_id: str
    conv_id: str
    joined: bool


@dataclass(frozen=True, slots=True)
class Resubscribed:
    """Given to this node's subscribers only (never published): the node subscribed
    again after losing the backend, so other nodes' events may have been lost."""


Event = Push | Kick | ConvPush | Membership | Resubscribed
Handler = Callable[[Event], None]


class Broker(Protocol):
    async def start(self) -> None:
        """Connect and begin delivering events to subscribers."""

    async def close(self) -> None:
        """Stop delivering; events still queued for other nodes may be dropped."""

    def subscribe(self, handler: Handler) -> None:
        """Call ``handler`` for every event published by any node (this one included).

        Handlers run on the event loop and must not block.
        """

    async def publish(self, event: Event) -> None:
        """Send ``event`` to this node's subscribers and to the other nodes it is for
        (see the guarantees above)."""


class Presence(Protocol):
    """Who is online, across every node.

    Guarantees every backend gives (tests/contract/test_presence_contract.py checks
    each one; for the in-memory backend, one process, "every node" is this one):

    - **First and last, cluster-wide.** A user is online while at least one of their
      connections is registered on a live node. ``connect`` returns True exactly when
      the user had no connection on a live node before (their first), ``disconnect``
      True exactly when it withdrew the user's last one. Withdrawing a connection
      that is not registered (never was, or already withdrawn) returns False and
      changes nothing.
    - **Read your writes.** Once ``connect`` or ``disconnect`` has returned, every
      node's ``online_users``, ``online_logins`` and ``last_seen`` reflect it.
    - ``online_logins`` are the logins with at least one connection on a live node.
    - ``last_seen`` (ms) is now for a user online; for one offline, when their last
      connection was withdrawn (or, after a crash, their node's last refresh); None
      if never seen.
    - **Close.** ``close`` withdraws this node's connections, as ``disconnect`` of
      each would: their users go offline unless connected on another node.
    - **Crash.** A node that dies without withdrawing stops refreshing; its
      connections stop counting within ``ttl_s``: their users go offline then, and
      a connection elsewhere is a first one again.
    - **Backend outage.** While the shared backend (Redis) is unreachable, answers
      come from this node's own connections; once it is back, the node registers its
      connections again by itself (within one refresh, a third of ``ttl_s``) and
      cluster-wide answers are whole again.
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
