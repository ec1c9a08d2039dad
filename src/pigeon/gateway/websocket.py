"""The WebSocket transport (aiohttp): upgrade, pick the codec, and hand over to the gateway.

The subprotocol picks the codec (``pigeon.v1.proto`` → Protobuf in binary
messages; ``pigeon.v1.json`` or none → JSON in text messages). Everything after
the upgrade — auth, limits, replies, close codes — is the shared connection
core's (``runner``, ``machine``); this module only translates aiohttp's
messages into ``Inbound`` units and closes the aiohttp way.

With ``ws_compression`` on, aiohttp negotiates permessage-deflate when a client
offers it and inflates what the client sends; the server's own frames are deflated
by the connection's ``WebSocketFormat`` (see ``deflate``).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web

from pigeon.gateway.deflate import Deflate, inflated_fits
from pigeon.gateway.framers import WebSocketFormat, websocket_pong
from pigeon.gateway.runner import (
    Alive,
    ControlPing,
    Data,
    Ended,
    Fault,
    Gateway,
    Inbound,
    Socket,
)
from pigeon.listener import Listener
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.wire import SUBPROTOCOLS, Codec

log = logging.getLogger(__name__)

_MAX_REASON_BYTES = 120  # a close frame's payload is at most 125 bytes, with the code


@dataclass(frozen=True, slots=True)
class Compression:
    """``ws_compression``: whether permessage-deflate is offered, and from what size
    a server message is compressed."""

    enabled: bool
    min_bytes: int


class _Response(web.WebSocketResponse):
    """aiohttp's WebSocket, closing a compressed message that does not inflate with
    1007 (invalid payload): aiohttp reports the inflate error and then closes with
    its default code, 1000, which would tell the client nothing was wrong."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.OK and isinstance(self.exception(), zlib.error):
            code, message = CloseCode.INVALID_PAYLOAD, b"invalid compressed data"
        return await super().close(code=code, message=message, drain=drain)


class WebSocketReader:
    """aiohttp's messages as ``Inbound`` units."""

    __slots__ = ("_inflated_limit", "_ws")

    def __init__(self, ws: web.WebSocketResponse, inflated_limit: int | None = None) -> None:
        self._ws = ws
        # Only a compressing socket can deliver a message aiohttp did not size exactly.
        self._inflated_limit = inflated_limit

    async def receive(self) -> Inbound:
        msg = await self._ws.receive()
        match msg.type:
            case WSMsgType.TEXT | WSMsgType.BINARY:
                limit = self._inflated_limit
                if limit is not None and not inflated_fits(msg.data, limit):
                    return Fault(CloseCode.MESSAGE_TOO_BIG, "message too big")
                return Data(msg.data)
            case WSMsgType.PING:
                return ControlPing(msg.data)
            case WSMsgType.PONG:
                return Alive()
            case WSMsgType.ERROR if self._ws.close_code == CloseCode.MESSAGE_TOO_BIG:
                return Fault(CloseCode.MESSAGE_TOO_BIG, "message too big")
            case WSMsgType.ERROR if isinstance(msg.data, zlib.error):
                return Fault(CloseCode.INVALID_PAYLOAD, "invalid compressed data")
        return Ended()  # CLOSE, CLOSING, CLOSED, or a read error


class WebSocketTransport:
    """Closing and PONGs the WebSocket way; data frames go straight to the stream."""

    __slots__ = ("_stream", "_ws")

    def __init__(self, ws: web.WebSocketResponse, stream: asyncio.WriteTransport) -> None:
        self._ws = ws
        self._stream = stream

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code=code, message=reason.encode()[:_MAX_REASON_BYTES])

    def pong(self, payload: bytes) -> None:
        if not self._stream.is_closing():
            self._stream.write(websocket_pong(payload))

    @property
    def closed(self) -> bool:
        return self._ws.closed


class WebSocketGateway:
    """The aiohttp handler for ``GET /ws``."""

    def __init__(
        self,
        gateway: Gateway,
        max_frame_bytes: int,
        listener: Listener | None,
        compression: Compression | None = None,
    ) -> None:
        self.gateway = gateway
        self.max_frame_bytes = max_frame_bytes
        self.listener = listener
        self.compression = compression or Compression(enabled=False, min_bytes=0)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.gateway.accepting:
            raise web.HTTPServiceUnavailable(text="server is restarting")
        # aiohttp refuses a message whose size is >= max_msg_size; the documented limit is
        # inclusive. Pings are answered by the gateway, so they spend the frame budget.
        ws = _Response(
            protocols=SUBPROTOCOLS,
            max_msg_size=self.max_frame_bytes + 1,
            compress=self.compression.enabled,
            autoping=False,
        )
        await ws.prepare(request)
        guard = self.listener.socket_of(request) if self.listener is not None else None
        if guard is not None and not guard.frames_checked:
            # The listener did not see this upgrade's head (it came pipelined behind
            # other requests), so it cannot vouch for frame masking: refuse it.
            await ws.close(code=CloseCode.PROTOCOL_ERROR, message=b"upgrade must open a request")
            return ws
        stream = request.transport
        if stream is None:  # the peer left during the handshake
            return ws
        codec = Codec.for_subprotocol(ws.ws_protocol)
        # ws.compress is the window aiohttp agreed for the server (0: no extension).
        window_bits = int(ws.compress)
        deflate = Deflate(window_bits, self.compression.min_bytes) if window_bits else None
        socket = Socket(
            reader=WebSocketReader(ws, self.max_frame_bytes if deflate else None),
            transport=WebSocketTransport(ws, stream),
            stream=stream,
            wire=WebSocketFormat(codec, deflate),
        )
        conn = await self.gateway.serve(
            socket, on_authenticated=guard.mark_authenticated if guard is not None else None
        )
        # ws.close_code is the peer's code when it answered ours; log what we sent.
        sent = next(
            (c for c in (conn.close_code, guard and guard.close_code) if c is not None),
            ws.close_code,
        )
        if conn.user_id:
            log.info("disconnected", extra={"conn": conn.id, "close_code": sent})
        return ws
