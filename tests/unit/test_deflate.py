"""permessage-deflate as data: the server's compressor, the wire key, the inflated limit."""

from __future__ import annotations

import zlib

import pytest

from pigeon.gateway.deflate import Deflate, inflated_fits
from pigeon.gateway.framers import WebSocketFormat, websocket_frame
from pigeon.protocol.wire import Codec

TAIL = b"\x00\x00\xff\xff"
LIMIT = 1024
PUSH = {"t": "msg", "conv": "c1", "seq": 1, "body": {"text": "hello " * 40}}


def inflate(data: bytes, wbits: int = 15) -> bytes:
    return zlib.decompressobj(-wbits).decompress(data + TAIL)


@pytest.mark.parametrize("wbits", [9, 12, 15])
def test_each_message_inflates_on_its_own(wbits: int) -> None:
    payload = b"pigeon " * 500
    deflate = Deflate(wbits, 64)
    first, second = deflate.compress(payload), deflate.compress(payload)
    assert first is not None
    assert first == second  # no context carried over: a pure function of the payload
    assert inflate(first, wbits) == payload  # a fresh inflater is enough
    assert not first.endswith(TAIL)


def test_the_threshold_is_where_compression_starts() -> None:
    deflate = Deflate(15, 64)
    assert deflate.compress(b"a" * 63) is None
    assert deflate.compress(b"a" * 64) is not None


def test_what_deflate_cannot_shrink_goes_as_it_is() -> None:
    assert Deflate(15, 0).compress(bytes(range(256))) is None


@pytest.mark.parametrize(
    ("data", "fits"),
    [
        (b"x" * LIMIT, True),
        (b"x" * (LIMIT + 1), False),
        ("x" * LIMIT, True),
        ("x" * (LIMIT + 1), False),
        ("é" * (LIMIT // 2), True),  # two bytes each: exactly the limit
        ("é" * (LIMIT // 2) + "x", False),
        ("€" * (LIMIT // 4), True),  # a length that alone cannot settle it
    ],
)
def test_inflated_limit_is_inclusive_in_bytes(data: str | bytes, fits: bool) -> None:
    assert inflated_fits(data, LIMIT) is fits


def test_compressed_sockets_get_their_own_key_and_rsv1() -> None:
    plain = WebSocketFormat(Codec.JSON)
    squeezed = WebSocketFormat(Codec.JSON, Deflate(15, 64))
    narrow = WebSocketFormat(Codec.JSON, Deflate(10, 64))
    assert plain.key == ("ws", Codec.JSON)  # as before compression existed
    assert len({plain.key, squeezed.key, narrow.key}) == 3
    assert squeezed.key == WebSocketFormat(Codec.JSON, Deflate(15, 64)).key
    plain_bytes = plain.encode(PUSH)
    assert plain_bytes == websocket_frame(0x1, Codec.JSON.encode_frame(PUSH))
    wire = squeezed.encode(PUSH)
    assert wire[0] == 0x80 | 0x40 | 0x1  # FIN, RSV1, text
    compressed = Deflate(15, 64).compress(Codec.JSON.encode_frame(PUSH))
    assert compressed is not None
    assert wire == websocket_frame(0x1, compressed, compressed=True)
    assert inflate(compressed) == Codec.JSON.encode_frame(PUSH)


def test_short_frames_on_a_compressed_socket_are_plain() -> None:
    pong = {"t": "pong", "ts": 1}
    squeezed = WebSocketFormat(Codec.PROTO, Deflate(15, 64))
    assert squeezed.encode(pong) == WebSocketFormat(Codec.PROTO).encode(pong)
