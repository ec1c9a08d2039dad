"""The SDK's transport seam: whole frames out and in, whatever carries them.

``Link`` speaks frames (the dicts of the JSON view) and never sees a socket; a
``Channel`` turns them into bytes on one transport and back. Which one is picked by
the URL:

* ``ws://`` / ``wss://`` — a WebSocket. The codec is chosen by offering its
  subprotocol: ``pigeon.v1.json`` (text messages) or ``pigeon.v1.proto`` (binary
  messages). A server that does not accept the Protobuf subprotocol is refused
  with ``ChannelUnsupported`` rather than spoken to in the wrong codec.
* ``tcp://host:port`` / ``tls://host:port`` — the raw TCP listener: Protobuf in
  length-prefixed frames (``pigeon.protocol.framing``), optionally inside TLS.
  TCP has no close codes, so the server's last frame is a ``close`` frame carrying
  the code; the channel reports it exactly as a WebSocket close code.

Guarantees of every channel: ``receive`` returns only whole, decoded server frames
(undecodable ones are logged and skipped); once the transport has ended it raises
``ChannelClosed`` with the close code (1006 when the peer vanished without one),
and keeps raising it; ``send`` raises ``ChannelClosed`` instead of any transport
error. ``close`` never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from pigeon.protocol import framing
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.frames import Frame
from pigeon.protocol.wire import Codec, FrameKind

log = logging.getLogger("pigeon.client")


ABNORMAL_CLOSE = 1006  # RFC 6455: the connection ended without a close code
MAX_FRAME_BYTES = 16 * 1024 * 1024  # what the SDK accepts from a server
CLOSE_WAIT_S = 5.0
_DEFLATE_WINDOW_BITS = 15  # the largest window: aiohttp then offers permessage-deflate plainly
_READ_CHUNK = 64 * 1024
_WS_CLOSED = frozenset(
    {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}
)


class ChannelClosed(Exception):
    """The transport ended; ``code`` is the close code (1006 if none was given)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed ({code}): {reason}" if reason else f"closed ({code})")
        self.code = code
        self.reason = reason


class ChannelUnsupported(ValueError):
    """The URL or the server cannot carry what was asked; retrying will not help."""


class Transport(Enum):
    """What carries the frames."""

    WEBSOCKET = "websocket"
    TCP = "tcp"


_SCHEMES: dict[str, tuple[Transport, bool]] = {
    "ws": (Transport.WEBSOCKET, False),
    "wss": (Transport.WEBSOCKET, True),
    "tcp": (Transport.TCP, False),
    "tls": (Transport.TCP, True),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A parsed connection URL."""

    url: str
    transport: Transport
    secure: bool
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Raises ``ChannelUnsupported`` for an unknown scheme or a TCP URL without a port."""
        parts = urlsplit(url)
        known = _SCHEMES.get(parts.scheme.lower())
        if known is None:
            raise ChannelUnsupported(f"unsupported URL scheme in {url!r}: use ws, wss, tcp or tls")
        transport, secure = known
        try:
            port = parts.port
        except ValueError as exc:
            raise ChannelUnsupported(f"bad port in {url!r}") from exc
        if transport is Transport.TCP and port is None:
            raise ChannelUnsupported(f"{url!r} needs a port: {parts.scheme}://host:port")
        default_port = 443 if secure else 80
        return cls(url, transport, secure, parts.hostname or "", port or default_port)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How the SDK checks a server's certificate on ``https``, ``wss`` and ``tls``.

    By default the system's trusted CAs and the host name are checked. ``ca_file``
    trusts the CAs in that PEM file instead (a private CA, a self-signed server);
    ``verify=False`` accepts any certificate, which gives encryption without knowing
    who is at the other end — for tests only.
    """

    ca_file: str | Path | None = None
    verify: bool = True

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class Channel(Protocol):
    """One open transport to the server, carrying whole frames (see the module docstring)."""

    @property
    def codec(self) -> Codec: ...

    async def send(self, frame: Frame) -> None: ...

    async def receive(self) -> Frame:
        """The next server frame (bound the wait with ``asyncio.timeout``)."""
        ...

    async def close(self, code: int = 1000) -> None: ...


def _decode(codec: Codec, data: str | bytes) -> Frame | None:
    try:
        return codec.decode_frame(data)
    except ProtocolError as exc:
        log.warning("server sent a frame that does not decode: %s", exc.message)
        return None


class WebSocketChannel:
    """Frames in WebSocket messages: text for JSON, binary for Protobuf."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, codec: Codec) -> None:
        self._ws = ws
        self._codec = codec

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def compressed(self) -> bool:
        """Whether the server agreed permessage-deflate (offered with ``compress``)."""
        return bool(self._ws.compress)

    async def send(self, frame: Frame) -> None:
        data = self._codec.encode_command(frame)
        try:
            if self._codec.frame_kind is FrameKind.TEXT:
                await self._ws.send_str(data.decode())
            else:
                await self._ws.send_bytes(data)
        except (aiohttp.ClientError, OSError, RuntimeError) as exc:
            raise ChannelClosed(ABNORMAL_CLOSE, str(exc)) from exc

    async def receive(self) -> Frame:
        while True:
            try:
                message = await self._ws.receive()
            except (aiohttp.ClientError, OSError) as exc:
                raise ChannelClosed(ABNORMAL_CLOSE, str(exc)) from exc
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                frame = _decode(self._codec, message.data)
                if frame is not None:
                    return frame
            elif message.type in _WS_CLOSED or message.type is aiohttp.WSMsgType.ERROR:
                code = self._ws.close_code or ABNORMAL_CLOSE
                reason = message.extra if isinstance(message.extra, str) else ""
                raise ChannelClosed(code, reason)

    async def close(self, code: int = 1000) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close(code=code)


class StreamChannel:
    """Length-prefixed Protobuf frames on a byte stream (raw TCP, optionally TLS)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = framing.FrameDecoder(max_frame_bytes)
        self._payloads: deque[bytes] = deque()
        self._ended: ChannelClosed | None = None

    @property
    def codec(self) -> Codec:
        return Codec.PROTO

    async def send(self, frame: Frame) -> None:
        if self._ended is not None:
            raise self._ended
        try:
            self._writer.write(framing.encode(Codec.PROTO.encode_command(frame)))
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            raise ChannelClosed(ABNORMAL_CLOSE, str(exc)) from exc

    async def receive(self) -> Frame:
        while True:
            if self._ended is not None:
                raise self._ended
            while self._payloads:
                frame = _decode(Codec.PROTO, self._payloads.popleft())
                if frame is None:
                    continue
                if frame.get("t") == "close":
                    # The server's last word: the code a WebSocket would have closed with.
                    self._end(int(frame.get("code") or ABNORMAL_CLOSE), frame.get("reason"))
                    raise self._ended_error()
                return frame
            await self._read_more()

    async def _read_more(self) -> None:
        try:
            data = await self._reader.read(_READ_CHUNK)
        except (OSError, ssl.SSLError) as exc:
            self._end(ABNORMAL_CLOSE, str(exc))
            return
        if not data:
            self._end(ABNORMAL_CLOSE, "the server ended the stream without a close frame")
            return
        try:
            self._payloads.extend(self._decoder.feed(data))
        except framing.FramingError as exc:
            self._payloads.extend(exc.payloads)
            self._end(int(exc.close_code), exc.reason)

    def _ended_error(self) -> ChannelClosed:
        assert self._ended is not None
        return self._ended

    def _end(self, code: int, reason: object) -> None:
        if self._ended is None:
            self._ended = ChannelClosed(code, reason if isinstance(reason, str) else "")
            self._writer.close()

    async def close(self, code: int = 1000) -> None:
        self._end(code, "closed by the client")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self._writer.wait_closed()


async def open_channel(
    session: aiohttp.ClientSession,
    url: str,
    codec: Codec,
    tls: TlsOptions | None = None,
    *,
    compress: bool = False,
) -> Channel:
    """Open the transport ``url`` names. ``codec`` applies to WebSockets; TCP is Protobuf.
    ``compress`` offers permessage-deflate on a WebSocket (the server may decline it).

    Raises ``ChannelUnsupported`` for a URL or a server that cannot do what was
    asked, and ``aiohttp.ClientError``/``OSError`` when the server cannot be reached.
    The caller bounds the time it may take.
    """
    endpoint = Endpoint.parse(url)
    context = tls.context() if tls is not None and endpoint.secure else None
    if endpoint.transport is Transport.TCP:
        reader, writer = await asyncio.open_connection(
            endpoint.host,
            endpoint.port,
            ssl=context or (ssl.create_default_context() if endpoint.secure else None),
            limit=_READ_CHUNK,
        )
        return StreamChannel(reader, writer)
    ws = await session.ws_connect(
        url,
        protocols=(codec.subprotocol,),
        autoping=True,
        max_msg_size=MAX_FRAME_BYTES,
        compress=_DEFLATE_WINDOW_BITS if compress else 0,
        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_WAIT_S),
        ssl=context if context is not None else True,
    )
    if codec is Codec.PROTO and ws.protocol != codec.subprotocol:
        await ws.close()
        raise ChannelUnsupported(f"the server at {url} does not offer {codec.subprotocol}")
    return WebSocketChannel(ws, codec)
