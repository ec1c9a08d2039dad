"""Line mode's fan-out: pushed frames become lines on each reader's terminal, in order.

Line connections sit in the node's ``Hub`` like any other; their ``WireFormat`` is
``LineFormat``, which renders each frame for its own reader (their room, their
direct chats, people's names). Its ``key`` is the connection's own, so the fan-out
never shares one reader's lines with another.

Delivery never waits (docs/architecture.md, "The message path"): a frame whose names
and conversation are known is rendered at once and the hub writes the bytes. One
that needs a name not yet cached, or a conversation not yet seen (a first private
message), waits in a short per-reader queue while one task looks them up; frames
behind it wait too, so lines always print in the order their frames arrived. A
reader whose queue fills up, like one whose socket buffer does, is too slow and is
closed (4009).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol

from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command, Frame
from pigeon.protocol.lineview import Viewpoint, names_needed, render
from pigeon.protocol.wire import Codec
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


def encode_lines(shown: list[str]) -> bytes:
    """Lines as a terminal expects them: UTF-8, each ended by CR LF."""
    return ("\r\n".join(shown) + "\r\n").encode()


class LineOutput:
    """One reader's printer: frames in, bytes out, in arrival order.

    ``encode`` answers the fan-out at once when it can (the bytes to write, or None
    when the frame shows nothing or must wait); frames that wait are written later,
    still in order, through ``write``.
    """

    def __init__(
        self,
        reader: Reader,
        names: NickCache,
        write: Callable[[bytes], object],
        on_overflow: Callable[[], None],
    ) -> None:
        self.reader = reader
        self.names = names
        self.write = write
        self.on_overflow = on_overflow
        self._pending: deque[Frame] = deque()
        self._drainer: asyncio.Task[None] | None = None

    def encode(self, frame: Frame) -> bytes | None:
        """The bytes to write for ``frame`` now, or None (nothing to show, or queued)."""
        if not self._pending and self._ready(frame):
            return self._render(frame)
        if len(self._pending) >= MAX_PENDING_FRAMES:
            self.on_overflow()
            return None
        self._pending.append(frame)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="line-output")
        return None

    def _ready(self, frame: Frame) -> bool:
        conv = frame.get("conv")
        if frame.get("t") == "msg" and isinstance(conv, str) and not self.reader.knows(conv):
            return False
        return not self.names.missing(names_needed(frame))

    def _render(self, frame: Frame) -> bytes | None:
        shown = render(frame, self.reader.view, self.names.name)
        return encode_lines(shown) if shown else None

    async def _drain(self) -> None:
        try:
            while self._pending:
                frame = self._pending[0]
                await self._look_up(frame)
                self._pending.popleft()
                data = self._render(frame)
                if data is not None:
                    self.write(data)
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


class LineFormat:
    """The ``WireFormat`` of a line connection: frames rendered for one reader.

    Commands do not arrive as frames on this transport (``protocol.lines`` parses
    them), so ``decode`` refuses everything.
    """

    __slots__ = ("_key", "output")

    def __init__(self, connection_id: str) -> None:
        self._key = ("line", connection_id)
        self.output: LineOutput | None = None  # set once the reader has signed in

    @property
    def key(self) -> Hashable:
        return self._key

    @property
    def codec(self) -> Codec:
        return Codec.JSON  # what its frames are, before they are rendered as text

    def encode(self, frame: Frame) -> bytes | None:
        if self.output is None:  # only replies before sign-in: errors
            shown = render(frame, Viewpoint("", "", {}), str)
            return encode_lines(shown) if shown else None
        return self.output.encode(frame)

    def decode(self, data: str | bytes) -> Command:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "line mode reads lines, not frames")
