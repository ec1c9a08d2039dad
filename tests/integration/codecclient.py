"""A WebSocket client that speaks whichever codec the server chose, for the codec tests.

Built on the ``websockets`` library (not aiohttp, which the server uses), so these tests
see the subprotocol negotiation and the message kinds as an unrelated client would. The
codec follows the subprotocol the server picked, and every server message must be of that
codec's kind — text for JSON, binary for Protobuf — or the read fails. Frames are handed
out as the dicts of the JSON view whichever codec carried them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from harness import WAIT_S, ServerProcess
from pigeon.protocol.wire import Codec, FrameKind

Frame = dict[str, Any]
MAX_FRAMES = 10_000  # most frames one wait reads before giving up

PROTO = [Codec.PROTO.subprotocol]
JSON = [Codec.JSON.subprotocol]


class Closed(Exception):
    """The server closed the socket with ``code``."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"websocket closed with {code}")
        self.code = code


class CodecSocket:
    """One WebSocket; frames not yet asked for wait in ``backlog``, in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.codec = Codec.for_subprotocol(ws.subprotocol)
        self.backlog: list[Frame] = []
        self._rids = itertools.count(1)

    @classmethod
    async def open(
        cls, server: ServerProcess, offer: Sequence[str] | None, *, deflate: bool = False
    ) -> CodecSocket:
        """Connect offering the subprotocols ``offer`` (None: no header at all), and
        permessage-deflate when ``deflate``."""
        ws = await connect(
            server.ws_url,
            subprotocols=None if offer is None else [Subprotocol(name) for name in offer],
            compression="deflate" if deflate else None,
            open_timeout=WAIT_S,
            ping_timeout=None,  # pings keep the socket alive; a slow pong must not end it
            max_size=None,
        )
        return cls(ws)

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send(self, command: Frame) -> None:
        data = self.codec.encode_command(command)
        await self.send_raw(data.decode() if self.codec.frame_kind is FrameKind.TEXT else data)

    async def send_raw(self, data: str | bytes) -> None:
        """A text message (str) or a binary one (bytes), as it is."""
        await self.ws.send(data)

    async def _read(self, timeout: float) -> Frame:
        try:
            data = await asyncio.wait_for(self.ws.recv(), max(timeout, 0.01))
        except ConnectionClosed as closed:
            raise Closed(closed.rcvd.code if closed.rcvd else None) from closed
        wanted = bytes if self.codec.frame_kind is FrameKind.BINARY else str
        assert isinstance(data, wanted), f"{self.codec.name} connection got {data!r}"
        return self.codec.decode_frame(data)

    async def first(
        self, matches: Callable[[Frame], bool], what: str, timeout: float = WAIT_S
    ) -> Frame:
        """The first frame (backlog, then socket) that ``matches``; others are kept."""
        for index, frame in enumerate(self.backlog):
            if matches(frame):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        for _ in range(MAX_FRAMES):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                frame = await self._read(left)
            except TimeoutError:
                continue
            if matches(frame):
                return frame
            self.backlog.append(frame)
        raise TimeoutError(f"no {what} within {timeout}s; backlog {self.backlog}")

    async def expect(self, t: str, **fields: Any) -> Frame:
        """The first frame of type ``t`` whose ``fields`` have the given values."""

        def matches(frame: Frame) -> bool:
            return frame.get("t") == t and all(frame.get(k) == v for k, v in fields.items())

        return await self.first(matches, f"{t!r} frame with {fields}")

    async def request(self, command: Frame, reply: str | None = None) -> Frame:
        """Send ``command`` with a fresh rid (integers and strings alternate); its answer."""
        n = next(self._rids)
        rid: int | str = n if n % 2 else f"r{n}"
        await self.send({**command, "rid": rid})
        answer = await self.first(lambda f: f.get("rid") == rid, f"reply to rid {rid!r}")
        if reply is not None:
            assert answer["t"] == reply, answer
        return answer

    async def auth(self, token: str) -> Frame:
        return await self.request({"t": "auth", "token": token}, reply="ready")

    async def closed(self) -> int | None:
        """Read (keeping frames in the backlog) until the server closes; its close code."""
        try:
            await self.first(lambda _: False, "close")
        except Closed as closed:
            return closed.code
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.ws.close()
