"""Raw protocol clients for every transport and codec: WebSocket + JSON, WebSocket +
Protobuf, and TCP with length-prefixed Protobuf frames.

They speak the wire directly (frames in, frames out, raw bytes when a test wants to
send garbage), not through the SDK, so tests built on them pin the contract. Each
reads frames into one shape — the dict of the JSON view — so one test body can run
over all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from enum import Enum
from typing import Any, Protocol

import aiohttp

from harness import WAIT_S, ServerProcess
from pigeon.protocol import framing, protobuf
from pigeon.protocol.wire import Codec

from .wsclient import Closed

Frame = dict[str, Any]
MAX_FRAMES = 100_000  # most frames one wait reads before giving up


class Wire(Enum):
    """A transport with its codec, as a test parameter."""

    WS_JSON = "ws+json"
    WS_PROTO = "ws+proto"
    TCP_PROTO = "tcp+proto"


class Channel(Protocol):
    async def send(self, frame: Frame) -> None: ...

    async def send_raw(self, data: bytes) -> None:
        """One frame's payload exactly as given (garbage included)."""
        ...

    async def read(self, timeout: float) -> Frame:
        """The next frame; raises ``Closed`` with the close code when the server ends."""
        ...

    async def close(self) -> None: ...


class WsChannel:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, codec: Codec) -> None:
        self.ws = ws
        self.codec = codec

    async def send(self, frame: Frame) -> None:
        await self.send_raw(self.codec.encode_command(frame))

    async def send_raw(self, data: bytes) -> None:
        if self.codec is Codec.JSON:
            await self.ws.send_str(data.decode(errors="replace"))
        else:
            await self.ws.send_bytes(data)

    async def read(self, timeout: float) -> Frame:
        msg = await self.ws.receive(timeout=max(timeout, 0.01))
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return self.codec.decode_frame(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
            raise Closed(msg.data if isinstance(msg.data, int) else self.ws.close_code)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise Closed(self.ws.close_code)
        raise AssertionError(f"unexpected websocket message {msg!r}")

    async def close(self) -> None:
        await self.ws.close()


class TcpChannel:
    """Length-prefixed Protobuf; the server's ``close`` frame becomes ``Closed``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = framing.FrameDecoder(framing.MAX_PAYLOAD_BYTES)
        self.ready: list[bytes] = []
        self.close_frame: Frame | None = None

    async def send(self, frame: Frame) -> None:
        await self.send_raw(protobuf.encode_command(frame))

    async def send_raw(self, data: bytes) -> None:
        await self.send_bytes(framing.encode(data))

    async def send_bytes(self, data: bytes) -> None:
        """Bytes on the stream as they are (a header alone, half a frame …)."""
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, timeout: float) -> Frame:
        async with asyncio.timeout(max(timeout, 0.01)):
            while not self.ready:
                try:
                    data = await self.reader.read(65536)
                except ConnectionError:
                    data = b""
                if not data:
                    raise Closed(None if self.close_frame is None else self.close_frame["code"])
                self.ready.extend(self.decoder.feed(data))
        frame = protobuf.decode_frame(self.ready.pop(0))
        if frame.get("t") == "close":
            assert self.close_frame is None, "a second close frame"
            self.close_frame = frame
            return await self.read(timeout)  # nothing may follow it but the end
        return frame

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class WireClient:
    """One connection on one ``Wire``; frames not yet asked for wait in ``backlog``."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.backlog: list[Frame] = []
        self._rids = itertools.count(1)

    @classmethod
    async def open(
        cls, wire: Wire, http: aiohttp.ClientSession, server: ServerProcess, tcp_port: int
    ) -> WireClient:
        if wire is Wire.TCP_PROTO:
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            return cls(TcpChannel(reader, writer))
        codec = Codec.PROTO if wire is Wire.WS_PROTO else Codec.JSON
        ws = await http.ws_connect(
            server.ws_url, protocols=(codec.subprotocol,), autoping=True, max_msg_size=0
        )
        assert ws.protocol == codec.subprotocol, ws.protocol
        return cls(WsChannel(ws, codec))

    async def send(self, frame: Frame) -> None:
        await self.channel.send(frame)

    async def expect(self, t: str, timeout: float = WAIT_S, **fields: Any) -> Frame:
        """The first frame of type ``t`` with ``fields``, in order; others are kept."""
        for index, frame in enumerate(self.backlog):
            if frame.get("t") == t and all(frame.get(k) == v for k, v in fields.items()):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        for _ in range(MAX_FRAMES):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                frame = await self.channel.read(left)
            except TimeoutError:
                continue
            if frame.get("t") == t and all(frame.get(k) == v for k, v in fields.items()):
                return frame
            self.backlog.append(frame)
        raise TimeoutError(f"no {t!r} frame with {fields}; backlog {self.backlog}")

    async def request(self, frame: Frame, reply: str | None = None) -> Frame:
        """Send ``frame`` with a fresh rid; the reply (or error) echoing it."""
        rid = f"r{next(self._rids)}"
        await self.send({**frame, "rid": rid})
        answer = await self.reply_to(rid)
        if reply is not None:
            assert answer["t"] == reply, answer
        return answer

    async def reply_to(self, rid: str) -> Frame:
        for index, frame in enumerate(self.backlog):
            if frame.get("rid") == rid:
                return self.backlog.pop(index)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            frame = await self.channel.read(deadline - time.monotonic())
            if frame.get("rid") == rid:
                return frame
            self.backlog.append(frame)
        raise TimeoutError(f"no reply to {rid}; backlog {self.backlog}")

    async def auth(self, token: str) -> Frame:
        return await self.request({"t": "auth", "token": token}, reply="ready")

    async def closed(self, timeout: float = WAIT_S) -> int | None:
        """Read (keeping frames) until the server ends the connection; its close code."""
        deadline = time.monotonic() + timeout
        for _ in range(MAX_FRAMES):
            try:
                self.backlog.append(await self.channel.read(deadline - time.monotonic()))
            except Closed as closed:
                return closed.code
            except TimeoutError:
                break
        raise AssertionError(f"the server did not close the connection; backlog {self.backlog}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.channel.close()
