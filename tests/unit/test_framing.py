"""TCP framing: 4-byte big-endian length, then that many bytes of one Envelope.

The decoder is fed the stream in every way a socket can deliver it — byte by byte,
many frames per read, frames split anywhere — and must return exactly the payloads
that were framed, refuse an oversized frame from its header alone, and say how much
of an unfinished frame was lost when the stream ends.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.protocol import frames, framing, protobuf
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.framing import FrameDecoder, FramingError

LIMIT = 64


def test_frame_layout_byte_by_byte() -> None:
    assert framing.encode(b"abc") == b"\x00\x00\x00\x03abc"
    assert framing.encode(b"") == b"\x00\x00\x00\x00"
    assert framing.encode(b"x" * 258)[:4] == b"\x00\x00\x01\x02"


def test_one_frame_in_one_read() -> None:
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(framing.encode(b"hello")) == [b"hello"]
    assert decoder.buffered == 0
    assert decoder.eof() == 0


def test_byte_by_byte() -> None:
    decoder = FrameDecoder(LIMIT)
    stream = framing.encode(b"one") + framing.encode(b"two")
    out: list[bytes] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == [b"one", b"two"]
    assert decoder.eof() == 0


def test_many_frames_in_one_read_keep_their_order() -> None:
    payloads = [bytes([i]) * i for i in range(40)]
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(b"".join(framing.encode(p) for p in payloads)) == payloads


def test_split_inside_the_header() -> None:
    decoder = FrameDecoder(LIMIT)
    data = framing.encode(b"payload")
    assert decoder.feed(data[:2]) == []
    assert decoder.buffered == 2
    assert decoder.feed(data[2:]) == [b"payload"]


def test_zero_length_frames_are_delivered_as_empty_payloads() -> None:
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(framing.encode(b"") * 3 + framing.encode(b"x")) == [b"", b"", b"", b"x"]


def test_frame_at_the_limit_is_accepted() -> None:
    decoder = FrameDecoder(LIMIT)
    assert decoder.feed(framing.encode(b"m" * LIMIT)) == [b"m" * LIMIT]


def test_frame_over_the_limit_is_refused_from_its_header_alone() -> None:
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FramingError) as caught:
        decoder.feed(b"\x00\x00\x00\x41")  # 65: no payload byte has arrived
    assert caught.value.close_code == CloseCode.MESSAGE_TOO_BIG
    assert "65" in caught.value.reason
    assert decoder.buffered == 0
    with pytest.raises(FramingError):  # the stream cannot be resynchronised
        decoder.feed(framing.encode(b"ok"))


def test_largest_announced_length_is_refused_without_buffering() -> None:
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FramingError):
        decoder.feed(b"\xff\xff\xff\xff" + b"z" * 1000)
    assert decoder.buffered == 0


def test_frames_before_an_oversized_one_are_handed_over_with_the_error() -> None:
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FramingError) as caught:
        decoder.feed(framing.encode(b"a") + framing.encode(b"b") + b"\x00\x01\x00\x00")
    assert caught.value.payloads == (b"a", b"b")


@pytest.mark.parametrize(
    ("stream", "lost"),
    [
        (b"", 0),
        (b"\x00", 1),
        (b"\x00\x00\x00", 3),
        (b"\x00\x00\x00\x05", 4),
        (b"\x00\x00\x00\x05abc", 7),
        (framing.encode(b"whole") + b"\x00\x00", 2),
    ],
)
def test_stream_ending_inside_a_frame_reports_what_was_lost(stream: bytes, lost: int) -> None:
    decoder = FrameDecoder(LIMIT)
    decoder.feed(stream)
    assert decoder.eof() == lost
    assert decoder.buffered == 0


def test_limits_outside_four_length_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="four length bytes"):
        FrameDecoder(-1)
    with pytest.raises(ValueError, match="four length bytes"):
        FrameDecoder(2**32)
    FrameDecoder(0).feed(framing.encode(b""))


def test_a_real_envelope_travels_through_the_framing() -> None:
    data = protobuf.encode_frame(frames.pong_frame(1_700_000_000_000, rid="p"))
    decoder = FrameDecoder(LIMIT)
    (payload,) = decoder.feed(framing.encode(data))
    assert protobuf.decode_frame(payload) == frames.pong_frame(1_700_000_000_000, rid="p")


@settings(max_examples=300)
@given(
    st.lists(st.binary(max_size=LIMIT), max_size=12),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=40),
)
def test_any_split_of_the_stream_gives_back_the_same_payloads(
    payloads: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(framing.encode(p) for p in payloads)
    decoder = FrameDecoder(LIMIT)
    out: list[bytes] = []
    position, i = 0, 0
    while position < len(stream):
        size = cuts[i % len(cuts)]
        out += decoder.feed(stream[position : position + size])
        assert decoder.buffered <= LIMIT + framing.HEADER_BYTES + size
        position += size
        i += 1
    assert out == payloads
    assert decoder.eof() == 0


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_payloads_or_a_framing_error(stream: bytes) -> None:
    decoder = FrameDecoder(LIMIT)
    payloads: list[bytes] = []
    failure: FramingError | None = None
    try:
        payloads = decoder.feed(stream)
    except FramingError as error:
        failure = error
    assert all(len(payload) <= LIMIT for payload in payloads)
    assert failure is None or failure.close_code == CloseCode.MESSAGE_TOO_BIG
    assert decoder.buffered <= len(stream)
