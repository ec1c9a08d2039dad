"""How a server frame becomes the bytes one transport writes: ``WireFormat``.

A wire format pairs a codec (JSON, Protobuf) with a transport's framing
(a WebSocket message, a length-prefixed TCP frame). The fan-out encodes a push
once per ``key`` among its receivers and writes the same bytes to every
connection that shares the key, so a thousand JSON sockets and a thousand
Protobuf sockets cost two encodings, not two thousand.
"""

from __future__ import annotations

import struct
from collections.abc import Hashable
from typing import Protocol

from pigeon.gateway.deflate import Deflate
from pigeon.protocol import framing
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command, Frame
from pigeon.protocol.wire import Codec, FrameKind

_FIN = 0x80
_RSV1 = 0x40  # "this message is compressed" under permessage-deflate (RFC 7692 §6)
_OPCODES = {FrameKind.TEXT: 0x1, FrameKind.BINARY: 0x2}
_PONG = 0xA


def websocket_frame(opcode: int, payload: bytes, *, compressed: bool = False) -> bytes:
    """RFC 6455 wire bytes of one unmasked, final frame with ``opcode``; RSV1 marks
    a payload that is deflated."""
    first = _FIN | opcode | (_RSV1 if compressed else 0)
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first, 126, size) + payload
    return struct.pack("!BBQ", first, 127, size) + payload


def websocket_pong(payload: bytes) -> bytes:
    """A PONG echoing a PING (control payloads are at most 125 bytes)."""
    return websocket_frame(_PONG, payload)


class WireFormat(Protocol):
    """Encoding and decoding for one kind of connection.

    Guarantees: ``encode`` is a pure function of the frame for connections with
    equal ``key`` (the fan-out relies on it to share bytes); ``decode`` raises
    ``ProtocolError`` and nothing else.
    """

    @property
    def key(self) -> Hashable: ...

    @property
    def codec(self) -> Codec: ...

    def encode(self, frame: Frame) -> bytes | None:
        """The complete wire bytes of ``frame``; None when this connection shows nothing for it."""
        ...

    def decode(self, data: str | bytes) -> Command: ...


class WebSocketFormat:
    """A WebSocket speaking ``codec``: JSON in text messages or Protobuf in binary ones,
    deflated when the socket agreed permessage-deflate (``deflate``)."""

    __slots__ = ("_codec", "_deflate", "_key", "_opcode")

    def __init__(self, codec: Codec, deflate: Deflate | None = None) -> None:
        self._codec = codec
        self._deflate = deflate
        self._opcode = _OPCODES[codec.frame_kind]
        # Compressed bytes depend on the agreed window, so those parameters are part of
        # the key; an uncompressed socket keeps the key it always had.
        self._key: Hashable = ("ws", codec) if deflate is None else ("ws", codec, deflate)

    @property
    def key(self) -> Hashable:
        return self._key

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def deflate(self) -> Deflate | None:
        return self._deflate

    def encode(self, frame: Frame) -> bytes:
        payload = self._codec.encode_frame(frame)
        if self._deflate is not None:
            compressed = self._deflate.compress(payload)
            if compressed is not None:
                return websocket_frame(self._opcode, compressed, compressed=True)
        return websocket_frame(self._opcode, payload)

    def decode(self, data: str | bytes) -> Command:
        # A message of the other kind (binary on a JSON connection) is malformed.
        if isinstance(data, bytes) and self._codec.frame_kind is FrameKind.TEXT:
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "JSON frames are text messages")
        return self._codec.decode_command(data)


class TcpFormat:
    """Raw TCP: Protobuf envelopes behind a four-byte length (docs/protocol.md, "TCP framing")."""

    __slots__ = ()

    @property
    def key(self) -> Hashable:
        return "tcp"

    @property
    def codec(self) -> Codec:
        return Codec.PROTO

    def encode(self, frame: Frame) -> bytes:
        return framing.encode(Codec.PROTO.encode_frame(frame))

    def decode(self, data: str | bytes) -> Command:
        return Codec.PROTO.decode_command(data)
