"""permessage-deflate (RFC 7692) on the WebSocket: what the server compresses, and how.

aiohttp negotiates the extension in the handshake and inflates what clients send
(one inflater per socket, so a client may keep its compression context between
messages; the output is bounded while it inflates). The server's outgoing frames
are its own (``framers.websocket_frame``), and the fan-out encodes a push once per
wire key and writes the same bytes to every socket with that key. So the server
never takes its compression context over from one message to the next: each message
is deflated by a fresh compressor, which makes the compressed bytes a pure function
of the payload and the negotiated window, shareable like uncompressed ones.
RFC 7692 §7.2.1 lets a sender start a new window for any message, whether or not
``server_no_context_takeover`` was agreed, so a client needs no special support.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

# Each compressed message ends with an empty stored block; the sender drops its four
# bytes and the receiver appends them again (RFC 7692 §7.2.1, §7.2.2).
_TAIL = b"\x00\x00\xff\xff"
# UTF-8 spends at most four bytes per code point.
_MAX_UTF8_BYTES_PER_CHAR = 4


@dataclass(frozen=True, slots=True)
class Deflate:
    """What one compressing socket agreed: the server's window and the smallest
    message worth compressing (``ws_compression_min_bytes``)."""

    window_bits: int  # 9..15: 15 unless the client offered server_max_window_bits
    min_bytes: int

    def compress(self, payload: bytes) -> bytes | None:
        """The compressed payload of one message, or None to send it as it is
        (too short to be worth it, or deflate would not make it shorter)."""
        if len(payload) < self.min_bytes:
            return None
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self.window_bits)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(_TAIL):
            data = data[: -len(_TAIL)]
        return data if len(data) < len(payload) else None


def inflated_fits(data: str | bytes, limit: int) -> bool:
    """Whether an inflated message is at most ``limit`` bytes (``max_frame_bytes``).

    aiohttp stops inflating a little past the limit, never at it, so the exact edge
    is decided here; text arrives decoded, so its UTF-8 size is counted only when
    its length alone cannot settle it."""
    if isinstance(data, bytes):
        return len(data) <= limit
    if len(data) * _MAX_UTF8_BYTES_PER_CHAR <= limit:
        return True
    return len(data) <= limit and len(data.encode()) <= limit
