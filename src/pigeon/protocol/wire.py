"""The wire codecs a transport can speak, chosen by value.

A WebSocket picks its codec from the negotiated subprotocol (``pigeon.v1.proto`` →
Protobuf in binary frames; ``pigeon.v1.json`` or none → JSON in text frames); the TCP
listener always speaks Protobuf in length-prefixed frames (``framing``). Everything
above the transport works with the same typed commands and frame dicts whichever
codec is in use.
"""

from __future__ import annotations

from enum import Enum

import orjson

from pigeon.protocol import codec, protobuf
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command, Frame


class FrameKind(Enum):
    """The kind of WebSocket message a codec's frames travel in."""

    TEXT = "text"
    BINARY = "binary"


class Codec(Enum):
    """A wire format; its value is the WebSocket subprotocol that selects it."""

    JSON = "pigeon.v1.json"
    PROTO = "pigeon.v1.proto"

    @property
    def subprotocol(self) -> str:
        return self.value

    @property
    def frame_kind(self) -> FrameKind:
        return FrameKind.BINARY if self is Codec.PROTO else FrameKind.TEXT

    @classmethod
    def for_subprotocol(cls, name: str | None) -> Codec:
        """The codec of a negotiated subprotocol; JSON when none (or an unknown one) was."""
        for member in cls:
            if member.value == name:
                return member
        return cls.JSON

    def decode_command(self, data: str | bytes) -> Command:
        """Decode one client frame. Raises ``ProtocolError`` only.

        A frame of the other kind (text on a Protobuf connection) is malformed.
        """
        if self is Codec.JSON:
            return codec.decode_command(data)
        if isinstance(data, str):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "Protobuf frames are binary")
        return protobuf.decode_command(data)

    def encode_frame(self, frame: Frame) -> bytes:
        """Encode one server frame; send it as a message of ``frame_kind``."""
        if self is Codec.JSON:
            return orjson.dumps(frame)
        return protobuf.encode_frame(frame)

    def encode_command(self, command: Frame) -> bytes:
        """Encode one client command given as its JSON dict (used by clients)."""
        if self is Codec.JSON:
            return orjson.dumps(command)
        return protobuf.encode_command(command)

    def decode_frame(self, data: str | bytes) -> Frame:
        """Decode one server frame into the dict the JSON codec yields (used by clients)."""
        if self is Codec.JSON:
            return codec.decode_frame(data)
        if isinstance(data, str):
            raise ProtocolError(ErrorCode.MALFORMED_FRAME, "Protobuf frames are binary")
        return protobuf.decode_frame(data)


SUBPROTOCOLS = tuple(member.subprotocol for member in Codec)
