"""A lean client for load generation, on any wire the server speaks.

One ``LoadConnection`` per socket. ``Wire`` picks the codec (JSON or Protobuf), the
transport (WebSocket through picows, C-level framing with no per-frame task, or the
raw TCP port through a plain asyncio protocol) and, on a WebSocket, permessage-
deflate. Frames are handed to a callback as the JSON codec's dicts whatever carried
them; replies are matched by ``rid``. Every socket counts the bytes of the frames it
wrote and read (header and payload as they travelled, compressed when they were;
TCP/IP overhead is not counted). Nothing here retries or reconnects: a benchmark
wants failures counted, not hidden.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from pigeon.protocol import framing
from pigeon.protocol.frames import Frame
from pigeon.protocol.wire import Codec, FrameKind

OnFrame = Callable[["LoadConnection", Frame, int], None]  # (conn, frame, recv time ns)

_rids = itertools.count(1)
OPEN_TIMEOUT_S = 30.0
# Neither side keeps a compression context between messages: the server never does,
# and a load client holding zlib state for thousands of sockets would measure itself.
DEFLATE_OFFER = (
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "client_max_window_bits"
)
DEFLATE_MIN_BYTES = 64  # what the server's default threshold is, for the client side
_TAIL = b"\x00\x00\xff\xff"
_MASK_BYTES = 4  # every client WebSocket frame carries a masking key


class Transport(Enum):
    WS = "ws"
    TCP = "tcp"


@dataclass(frozen=True)
class Wire:
    """What the load clients speak; the default is the server's default (JSON over ws)."""

    codec: Codec = Codec.JSON
    transport: Transport = Transport.WS
    compress: bool = False

    def __post_init__(self) -> None:
        if self.transport is Transport.TCP and self.codec is not Codec.PROTO:
            raise ValueError("the TCP port speaks Protobuf only (--codec proto)")
        if self.compress and self.transport is not Transport.WS:
            raise ValueError("compression is a WebSocket extension (--transport ws)")

    @property
    def label(self) -> str:
        name = "proto" if self.codec is Codec.PROTO else "json"
        return f"{name}/{self.transport.value}" + ("+deflate" if self.compress else "")

    def params(self) -> dict[str, Any]:
        """A plain form for load processes."""
        return {
            "codec": self.codec.value,
            "transport": self.transport.value,
            "compress": self.compress,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Wire:
        if not params:
            return cls()
        return cls(Codec(params["codec"]), Transport(params["transport"]), params["compress"])


def ws_frame_bytes(payload: int, *, masked: bool) -> int:
    """Size on the wire of a WebSocket frame with ``payload`` bytes (RFC 6455 §5.2)."""
    header = 2 if payload < 126 else 4 if payload < 1 << 16 else 10
    return header + payload + (_MASK_BYTES if masked else 0)


class _Listener(WSListener):
    def __init__(self, owner: LoadConnection) -> None:
        super().__init__()
        self.owner = owner

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            payload = frame.get_payload_as_bytes()
            self.owner.bytes_in += ws_frame_bytes(len(payload), masked=False)
            if frame.rsv1:  # a fresh inflater: the server agreed no context takeover
                payload = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + _TAIL)
            self.owner._receive(payload)
        elif frame.msg_type is WSMsgType.CLOSE:
            self.owner.close_code = int(frame.get_close_code().value)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.owner._disconnected()


class _TcpProtocol(asyncio.Protocol):
    """The raw TCP port: length-prefixed Protobuf (docs/protocol.md, "TCP framing")."""

    def __init__(self, owner: LoadConnection) -> None:
        self.owner = owner
        self.decoder = framing.FrameDecoder(framing.MAX_PAYLOAD_BYTES)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's, so no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.owner.bytes_in += len(data)
        for payload in self.decoder.feed(data):
            self.owner._receive(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._disconnected()


class LoadConnection:
    def __init__(self, on_frame: OnFrame | None = None, wire: Wire | None = None) -> None:
        self.on_frame = on_frame
        self.wire = wire or Wire()
        self.transport: WSTransport | None = None
        self.stream: _TcpProtocol | None = None
        self.user_id = ""
        self.close_code: int | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.bytes_in = 0
        self.bytes_out = 0
        self._deflating = False
        self._waiting: dict[Any, asyncio.Future[Frame]] = {}

    async def open(self, url: str, token: str, source: str | None = None) -> Frame:
        """Connect (``ws://…`` or ``tcp://host:port``) and authenticate; the ``ready``
        frame. ``source``: the local address to connect from (each has its own ports)."""
        local_addr = (source, 0) if source else None
        local: dict[str, Any] = {"local_addr": local_addr} if local_addr else {}
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            if self.wire.transport is Transport.TCP:
                parts = urlsplit(url)
                _, self.stream = await asyncio.get_running_loop().create_connection(
                    lambda: _TcpProtocol(self),
                    parts.hostname or "127.0.0.1",
                    parts.port or 0,
                    local_addr=local_addr,
                )
            else:
                await self._open_websocket(url, local)
            ready = await self.request({"t": "auth", "token": token})
        if ready.get("t") != "ready":
            raise RuntimeError(f"auth failed: {ready}")
        self.user_id = str(ready["user"])
        return ready

    async def _open_websocket(self, url: str, local: dict[str, Any]) -> None:
        headers = {"Sec-WebSocket-Protocol": self.wire.codec.subprotocol}
        if self.wire.compress:
            headers["Sec-WebSocket-Extensions"] = DEFLATE_OFFER
        self.transport, _ = await ws_connect(
            lambda: _Listener(self),
            url,
            read_buffer_init_size=1024,
            websocket_handshake_timeout=OPEN_TIMEOUT_S,
            extra_headers=headers,
            **local,
        )
        answer = self.transport.response.headers
        agreed = str(answer.get("sec-websocket-extensions", ""))
        self._deflating = "permessage-deflate" in agreed
        if self.wire.compress and not self._deflating:
            raise RuntimeError("the server declined permessage-deflate (ws_compression off?)")
        if answer.get("sec-websocket-protocol") != self.wire.codec.subprotocol:
            raise RuntimeError(f"the server did not take {self.wire.codec.subprotocol}")

    def send(self, frame: Frame) -> None:
        codec = self.wire.codec
        data = orjson.dumps(frame) if codec is Codec.JSON else codec.encode_command(frame)
        if self.stream is not None:
            assert self.stream.transport is not None
            wire = framing.encode(data)
            self.bytes_out += len(wire)
            self.stream.transport.write(wire)
            return
        assert self.transport is not None
        kind = WSMsgType.TEXT if codec.frame_kind is FrameKind.TEXT else WSMsgType.BINARY
        compressed = self._deflating and len(data) >= DEFLATE_MIN_BYTES
        if compressed:
            deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
            data = (deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH))[: -len(_TAIL)]
        self.bytes_out += ws_frame_bytes(len(data), masked=True)
        self.transport.send(kind, data, rsv1=compressed)

    def request(self, frame: Frame) -> asyncio.Future[Frame]:
        """Send a frame with a fresh ``rid``; the future gets the reply (or error)."""
        rid = next(_rids)
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        self.send({**frame, "rid": rid})
        return future

    def _receive(self, payload: bytes) -> None:
        codec = self.wire.codec
        frame = orjson.loads(payload) if codec is Codec.JSON else codec.decode_frame(payload)
        now = time.time_ns()
        waiter = self._waiting.pop(frame["rid"], None) if "rid" in frame else None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)
            return
        if self.on_frame is not None:
            self.on_frame(self, frame, now)

    def _disconnected(self) -> None:
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed {self.close_code}"))
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def local_address(self) -> str:
        """The source address this socket was connected from."""
        if self.stream is not None and self.stream.transport is not None:
            transport: Any = self.stream.transport
        elif self.transport is not None:
            transport = self.transport.underlying_transport
        else:
            return ""
        sockname = transport.get_extra_info("sockname")
        return str(sockname[0]) if sockname else ""

    def reset_counts(self) -> None:
        """Start counting bytes afresh (at the start of a measured phase)."""
        self.bytes_in = self.bytes_out = 0

    def close(self) -> None:
        if self.stream is not None and self.stream.transport is not None:
            self.stream.transport.close()
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close()
            self.transport.disconnect()
