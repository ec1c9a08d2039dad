"""Line mode's fan-out: pushed frames become lines on each reader's terminal, in order.

A WebSocket push is encoded once and the same bytes go to every recipient; a line
connection renders each frame for its own reader (their room, their direct chats,
people's names), so nothing is shared. ``LineHub`` is the line connections' registry
and their broker subscriber; ``LineOutput`` is one reader's ordered printer.

Delivery never waits (docs/architecture.md, "The message path"): a frame whose names
and conversation are known is rendered and written at once. One that needs a name
not yet cached, or a conversation not yet seen (a first private message), waits in a
short per-reader queue while one task looks them up; frames behind it wait too, so
lines always print in the order their frames arrived. A reader whose queue fills
up, like one whose socket buffer does, is too slow and is closed (4009).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

from pigeon.broker.base import Event, Kick, Push
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.frames import Frame
from pigeon.protocol.lineview import Viewpoint, names_needed, render
from pigeon.store.accounts import AccountStore

log = logging.getLogger(__name__)

MAX_PENDING_FRAMES = 1000  # frames one reader may have waiting on look-ups


class NickCache:
    """User id → username for rendering, shared by a node's line connections.

    Bounded (least recently used names are forgotten) and short-lived: a rename made
    on another node shows here within ``ttl_s``; one made here shows at once.
    """

    def __init__(self, accounts: AccountStore, max_entries: int = 10_000, ttl_s: float = 300.0):
        self.accounts = accounts
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._names: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, user_id: str) -> str | None:
        found = self._names.get(user_id)
        if found is None or found[1] < time.monotonic():
            return None
        self._names.move_to_end(user_id)
        return found[0]

    def name(self, user_id: str) -> str:
        """The name to print; the id itself if it could not be looked up."""
        return self.get(user_id) or user_id

    def put(self, user_id: str, username: str) -> None:
        self._names[user_id] = (username, time.monotonic() + self.ttl_s)
        self._names.move_to_end(user_id)
        while len(self._names) > self.max_entries:
            self._names.popitem(last=False)

    def missing(self, user_ids: Iterable[str]) -> set[str]:
        return {u for u in user_ids if self.get(u) is None}

    async def fetch(self, user_ids: Iterable[str]) -> None:
        """Look up whichever of ``user_ids`` are not cached (one query)."""
        wanted = self.missing(user_ids)
        if wanted:
            for user in (await self.accounts.users_by_ids(wanted)).values():
                self.put(user.id, user.username)


class Reader(Protocol):
    """What the printer needs to know about the person it prints for."""

    @property
    def view(self) -> Viewpoint: ...

    def knows(self, conv_id: str) -> bool:
        """Whether the reader's view already says if ``conv_id`` is shown."""

    async def learn(self, conv_id: str) -> None:
        """Find out what ``conv_id`` is to the reader (a direct chat, or not shown)."""


class LineOutput:
    """One reader's printer: frames in, lines out through ``write``, in arrival order."""

    def __init__(
        self,
        reader: Reader,
        names: NickCache,
        write: Callable[[list[str]], None],
        on_overflow: Callable[[], None],
    ) -> None:
        self.reader = reader
        self.names = names
        self.write = write
        self.on_overflow = on_overflow
        self._pending: deque[Frame] = deque()
        self._drainer: asyncio.Task[None] | None = None

    def deliver(self, frame: Frame) -> None:
        """Print ``frame`` now if nothing must be looked up first; never waits."""
        if not self._pending and self._ready(frame):
            self._print(frame)
            return
        if len(self._pending) >= MAX_PENDING_FRAMES:
            self.on_overflow()
            return
        self._pending.append(frame)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="line-output")

    def _ready(self, frame: Frame) -> bool:
        conv = frame.get("conv")
        if frame.get("t") == "msg" and isinstance(conv, str) and not self.reader.knows(conv):
            return False
        return not self.names.missing(names_needed(frame))

    def _print(self, frame: Frame) -> None:
        shown = render(frame, self.reader.view, self.names.name)
        if shown:
            self.write(shown)

    async def _drain(self) -> None:
        try:
            while self._pending:
                frame = self._pending[0]
                await self._look_up(frame)
                self._pending.popleft()
                self._print(frame)
        finally:
            self._drainer = None

    async def _look_up(self, frame: Frame) -> None:
        try:
            conv = frame.get("conv")
            if frame.get("t") == "msg" and isinstance(conv, str) and not self.reader.knows(conv):
                await self.reader.learn(conv)
            await self.names.fetch(names_needed(frame))
        except Exception:  # the store is away: print with ids rather than lose the line
            log.warning("line output look-up failed", exc_info=True)

    def close(self) -> None:
        self._pending.clear()
        if self._drainer is not None:
            self._drainer.cancel()


class LineEndpoint(Protocol):
    """A line connection as the hub sees it."""

    id: str
    user_id: str
    login_id: str

    def deliver(self, frame: Frame) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


Endpoint = TypeVar("Endpoint", bound=LineEndpoint)


class LineHub(Generic[Endpoint]):
    """The signed-in line connections of this node, by user and login, fed by the broker."""

    def __init__(self) -> None:
        self._by_user: dict[str, set[Endpoint]] = {}
        self._by_login: dict[str, set[Endpoint]] = {}

    def add(self, conn: Endpoint) -> None:
        self._by_user.setdefault(conn.user_id, set()).add(conn)
        self._by_login.setdefault(conn.login_id, set()).add(conn)

    def remove(self, conn: Endpoint) -> None:
        for index, key in ((self._by_user, conn.user_id), (self._by_login, conn.login_id)):
            conns = index.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del index[key]

    def __len__(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def connections(self) -> Iterator[Endpoint]:
        for conns in list(self._by_user.values()):
            yield from list(conns)

    def user_ids(self) -> list[str]:
        return list(self._by_user)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Push):
            for user in event.users:
                for conn in list(self._by_user.get(user, ())):
                    if conn.id != event.skip_connection:
                        conn.deliver(event.frame)
            return
        self._kick(event)

    def _kick(self, event: Kick) -> None:
        targets: set[Endpoint] = set()
        for login_id in event.login_ids:
            targets.update(self._by_login.get(login_id, ()))
        if event.user_id is not None:
            targets.update(self._by_user.get(event.user_id, ()))
        for conn in targets:
            reason = "signed out" if event.code == CloseCode.REVOKED else "closed by the server"
            conn.close(event.code, reason)
