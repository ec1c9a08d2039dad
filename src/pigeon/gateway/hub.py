"""The connections of this node, indexed by user, login and conversation, and
broker-driven fan-out.

A ``Push`` names its users; a ``ConvPush`` names a conversation, and reaches the
local connections of the users the conversation index (gateway/convindex.py) holds
under it, kept current by ``Membership`` events. So a post costs this node work in
proportion to its own receivers, however many members the conversation has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator

from pigeon.broker.base import ConvPush, Event, Kick, Membership, Push, Resubscribed
from pigeon.gateway.connection import Connection
from pigeon.gateway.convindex import ConversationIndex, ConversationsOf
from pigeon.gateway.silence import SilenceWheel
from pigeon.metrics import Metrics
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.frames import Frame

log = logging.getLogger(__name__)


RevokedCheck = Callable[[set[str]], Awaitable[set[str]]]


class Hub:
    def __init__(
        self,
        metrics: Metrics,
        heartbeat_s: int,
        revoked: RevokedCheck | None = None,
        revocation_check_s: float = 30.0,
        max_sockets_per_user: int = 16,
        conversations_of: ConversationsOf | None = None,
    ) -> None:
        self.metrics = metrics
        self.max_sockets_per_user = max_sockets_per_user
        self.heartbeat_s = heartbeat_s
        self._revoked = revoked
        self.revocation_check_s = revocation_check_s
        self._by_user: dict[str, set[Connection]] = {}
        self._by_login: dict[str, set[Connection]] = {}
        self.index = ConversationIndex(conversations_of)
        self._sweeper: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None
        # Slots as fine as the periodic sweep's period used to be.
        self._silence = SilenceWheel(max(0.5, heartbeat_s / 4))

    # --- registry

    async def add(self, conn: Connection) -> None:
        """Register ``conn``; a user over ``max_sockets_per_user`` loses the oldest
        sockets (4011). The newest wins because excess sockets are mostly stale ones
        (a network change the heartbeat has not noticed yet), while the new one is the
        user at the keyboard; refusing it would lock them out until the sweep.

        Returns once the user's conversations are indexed, so every conversation push
        published after that reaches ``conn``. ``remove`` is due even if this raises."""
        live = [c for c in self._by_user.get(conn.user_id, ()) if not c.closed]
        excess = len(live) + 1 - self.max_sockets_per_user
        for old in sorted(live, key=lambda c: c.opened_at)[: max(0, excess)]:
            old.close(CloseCode.TOO_MANY_SOCKETS, "too many sockets for this user")
        self._by_user.setdefault(conn.user_id, set()).add(conn)
        self._by_login.setdefault(conn.login_id, set()).add(conn)
        self._silence.watch(conn)
        self.metrics.connections.inc()
        await self.index.track(conn.user_id)

    def remove(self, conn: Connection) -> None:
        users = self._by_user.get(conn.user_id)
        if users is None or conn not in users:
            return
        for index, key in ((self._by_user, conn.user_id), (self._by_login, conn.login_id)):
            conns = index.get(key)
            if conns is not None and conn in conns:
                conns.discard(conn)
                if not conns:
                    del index[key]
        self._silence.forget(conn)
        self.index.untrack(conn.user_id)
        self.metrics.connections.dec()

    def __len__(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def connections(self) -> Iterator[Connection]:
        for conns in self._by_user.values():
            yield from conns

    # --- delivery

    def on_event(self, event: Event) -> None:
        if isinstance(event, Push):
            self._deliver(event.frame, self._of_users(event.users), event.skip_connection)
        elif isinstance(event, ConvPush):
            self._deliver(event.frame, self._of_conversation(event), event.skip_connection)
        elif isinstance(event, Membership):
            self.index.apply(event.user_id, event.conv_id, event.joined)
        elif isinstance(event, Resubscribed):
            self._reload_index()
        else:
            self._kick(event)

    def _reload_index(self) -> None:
        """Membership events of other nodes may have been lost: read the index again."""
        if self._reloading is not None and not self._reloading.done():
            self._reloading.cancel()  # a newer loss: start over
        self._reloading = asyncio.create_task(self._reload(), name="conversation-index-reload")

    async def _reload(self) -> None:
        try:
            await self.index.reload()
        except Exception:
            log.exception("conversation index reload failed")

    def _of_users(self, users: Iterable[str]) -> Iterator[Connection]:
        for user in users:
            yield from self._by_user.get(user, ())

    def _of_conversation(self, event: ConvPush) -> Iterator[Connection]:
        # A copy: writing may close a slow connection, and nothing may resize the
        # index under the loop.
        for user in tuple(self.index.members(event.conv_id)):
            if user != event.skip_user:
                yield from self._by_user.get(user, ())

    def _deliver(self, frame: Frame, conns: Iterable[Connection], skip: str | None) -> None:
        # Wire bytes are built once per wire format among the receivers here, and only
        # if someone here receives the push; a format may show nothing (None).
        encoded: dict[Hashable, bytes | None] = {}
        delivered = dropped = 0
        for conn in conns:
            if conn.id == skip:
                continue
            key = conn.wire.key
            if key in encoded:
                data = encoded[key]
            else:
                data = encoded[key] = conn.wire.encode(frame)
            if data is None:
                continue
            if conn.push_frame(data):
                delivered += 1
            else:
                dropped += 1
        if delivered:
            self.metrics.pushes_delivered.inc(delivered)
            self.metrics.frames_out.labels(frame["t"]).inc(delivered)
        if dropped:
            self.metrics.pushes_dropped.inc(dropped)

    def _kick(self, event: Kick) -> None:
        targets: set[Connection] = set()
        for login_id in event.login_ids:
            targets.update(self._by_login.get(login_id, ()))
        if event.user_id is not None:
            targets.update(self._by_user.get(event.user_id, ()))
        for conn in targets:
            conn.close(CloseCode(event.code))

    # --- heartbeat and shutdown

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep(), name="heartbeat-sweeper")

    async def _sweep(self) -> None:
        """Close connections silent for two heartbeats, looking only at those whose
        deadline has come (an idle server's cost does not grow with its connections);
        and, now and then, those whose login was revoked while no kick reached this
        node (pub/sub is at most once; an operator may disable a user from the CLI)."""
        next_revocation_check = time.monotonic() + self.revocation_check_s
        while True:
            await asyncio.sleep(self._silence.seconds_to_next(time.monotonic()))
            now = time.monotonic()
            self._silence.sweep(now)
            if self._revoked is not None and now >= next_revocation_check:
                next_revocation_check = now + self.revocation_check_s
                await self._close_revoked(self._revoked)

    async def _close_revoked(self, revoked: RevokedCheck) -> None:
        try:
            gone = await revoked(set(self._by_login))
        except Exception:
            log.exception("revocation check failed")
            return
        if gone:
            self._kick(Kick(CloseCode.REVOKED, login_ids=tuple(gone)))

    async def close_all(self, code: CloseCode, reason: str = "", *, drain_s: float = 0.0) -> None:
        for task in (self._sweeper, self._reloading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        conns = list(self.connections())
        for conn in conns:
            conn.close(code, reason, drain_s=drain_s)
        await asyncio.gather(*(conn.wait_closed() for conn in conns), return_exceptions=True)
