"""Length-prefixed frames for the raw TCP transport, sans I/O.

A TCP connection is a byte stream in both directions, cut into frames:

    offset 0..3   N, the payload length: unsigned 32-bit, big-endian (network order)
    offset 4..    N bytes of payload: one serialized ``pigeon.v1.Envelope``

and the next frame starts right after. Nothing else is on the stream: no magic
number, no version byte (the version is the schema package, ``pigeon.v1``), no
padding. N counts the payload only, not the four header bytes, and may be 0 (an empty
Envelope, which the codec answers with error 40001 like any other frame that names no
type). A receiver refuses N above its ``max_frame_bytes`` as soon as the header is
read, before buffering any of the payload, with close code 1009 (the server sends a
``close`` envelope first, as TCP has no close code of its own). A stream that ends
inside a frame — header or payload — is truncated and that partial frame is dropped.

``FrameDecoder`` only turns bytes into payloads; the caller reads the socket and
hands every chunk to ``feed``.
"""

from __future__ import annotations

import struct

from pigeon.protocol.closecodes import CloseCode

HEADER = struct.Struct(">I")
HEADER_BYTES = HEADER.size
MAX_PAYLOAD_BYTES = 2**32 - 1  # what four length bytes can say


class FramingError(Exception):
    """The stream cannot go on; close the connection with ``close_code``.

    ``payloads`` are the whole frames that came before the fault in the same chunk:
    handle them as usual, then close.
    """

    def __init__(
        self, close_code: CloseCode, reason: str, payloads: tuple[bytes, ...] = ()
    ) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason
        self.payloads = payloads


def encode(payload: bytes) -> bytes:
    """One frame: the 4-byte big-endian length of ``payload``, then ``payload``."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"a frame carries at most {MAX_PAYLOAD_BYTES} bytes")
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Incremental decoder: feed it chunks as they arrive, get whole payloads back.

    Memory stays bounded by the largest allowed frame plus one chunk: a header that
    announces more than ``max_frame_bytes`` raises at once, before its payload is read.
    After a ``FramingError`` the decoder stays failed: ``feed`` raises it again.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        if not 0 <= max_frame_bytes <= MAX_PAYLOAD_BYTES:
            raise ValueError("max_frame_bytes must fit four length bytes")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._need: int | None = None  # the current frame's payload length, once read
        self._failed: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet part of a returned payload."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next chunk of the stream; return the payloads it completed, in order."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        payloads: list[bytes] = []
        start = 0
        while True:
            if self._need is None:
                if len(self._buffer) - start < HEADER_BYTES:
                    break
                (length,) = HEADER.unpack_from(self._buffer, start)
                if length > self.max_frame_bytes:
                    self._buffer.clear()
                    reason = f"frame of {length} bytes is over the limit of {self.max_frame_bytes}"
                    self._failed = FramingError(CloseCode.MESSAGE_TOO_BIG, reason)
                    raise FramingError(CloseCode.MESSAGE_TOO_BIG, reason, tuple(payloads))
                start += HEADER_BYTES
                self._need = length
            if len(self._buffer) - start < self._need:
                break
            payloads.append(bytes(self._buffer[start : start + self._need]))
            start += self._need
            self._need = None
        del self._buffer[:start]
        return payloads

    def eof(self) -> int:
        """The peer closed its side: return how many bytes of an unfinished frame are lost.

        0 means the stream ended cleanly between frames.
        """
        lost = len(self._buffer)
        if self._need is not None:
            lost += HEADER_BYTES
        self._buffer.clear()
        self._need = None
        return lost
