"""Line mode's input grammar as data: bytes → lines → commands, and every refusal's code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.lines import (
    DEFAULT_HISTORY,
    MAX_HISTORY,
    DirectMessage,
    Help,
    History,
    Join,
    LineCommand,
    LineError,
    LineSplitter,
    LineTooLong,
    Login,
    Quit,
    Rooms,
    Say,
    SetNick,
    Who,
    decode_line,
    parse_line,
)

# --- splitting


def test_lf_and_crlf_both_end_a_line() -> None:
    splitter = LineSplitter(100)
    assert splitter.feed(b"one\ntwo\r\nthree") == [b"one", b"two"]
    assert splitter.feed(b"\r") == []
    assert splitter.feed(b"\n") == [b"three"]
    assert splitter.eof() is None


def test_a_line_may_arrive_a_byte_at_a_time() -> None:
    splitter = LineSplitter(100)
    out: list[bytes | LineTooLong] = []
    for byte in "你好\r\n".encode():
        out += splitter.feed(bytes([byte]))
    assert out == ["你好".encode()]


def test_a_line_exactly_at_the_limit_passes_and_one_byte_more_does_not() -> None:
    splitter = LineSplitter(8)
    assert splitter.feed(b"12345678\n") == [b"12345678"]
    assert splitter.feed(b"12345678\r\n") == [b"12345678"]  # the CR is not counted
    assert splitter.feed(b"123456789\n") == [LineTooLong(8)]
    assert splitter.feed(b"after\n") == [b"after"]  # the next line is fine again


def test_the_limit_counts_bytes_not_characters() -> None:
    splitter = LineSplitter(6)
    assert splitter.feed("你好\n".encode()) == ["你好".encode()]  # 6 bytes
    assert splitter.feed("你好吗\n".encode()) == [LineTooLong(6)]  # 9 bytes


def test_a_cr_at_the_limit_waits_for_its_lf() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcd\r") == []
    assert splitter.feed(b"\n") == [b"abcd"]
    splitter.feed(b"abcd\r")
    assert splitter.feed(b"e") == [LineTooLong(4)]  # the CR was text after all


def test_an_over_long_line_is_reported_once_and_never_buffered() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 11) == [LineTooLong(10)]
    for _ in range(100):
        assert splitter.feed(b"x" * 1000) == []
    assert splitter.feed(b"xx\nok\n") == [b"ok"]
    assert splitter.eof() is None


def test_the_last_line_without_an_ending_counts_at_eof() -> None:
    splitter = LineSplitter(10)
    assert splitter.feed(b"bye") == []
    assert splitter.eof() == b"bye"
    assert LineSplitter(10).eof() is None


@given(st.lists(st.binary(max_size=40), max_size=20), st.integers(1, 30))
def test_splitting_never_depends_on_how_the_stream_is_cut(chunks: list[bytes], limit: int) -> None:
    whole = b"".join(chunks)
    at_once = LineSplitter(limit).feed(whole)
    pieces = LineSplitter(limit)
    in_pieces: list[bytes | LineTooLong] = []
    for chunk in chunks:
        in_pieces += pieces.feed(chunk)
    assert in_pieces == at_once
    for line in at_once:
        assert isinstance(line, LineTooLong) or (len(line) <= limit and b"\n" not in line)


# --- decoding


def test_utf8_decodes_and_a_bom_is_dropped() -> None:
    assert decode_line("Grüße 你好".encode()) == "Grüße 你好"
    assert decode_line(b"\xef\xbb\xbfhi") == "hi"


@pytest.mark.parametrize("raw", [b"\xff", b"abc\xc3", b"\xe4\xbd", b"\xed\xa0\x80"])
def test_invalid_utf8_is_refused(raw: bytes) -> None:
    with pytest.raises(LineError) as caught:
        decode_line(raw)
    assert caught.value.code is ErrorCode.INVALID_UTF8


# --- parsing

PARSED: list[tuple[str, LineCommand | None]] = [
    ("hello there", Say("hello there")),
    ("  indented stays", Say("  indented stays")),
    ("你好 世界", Say("你好 世界")),
    ("tab\tinside", Say("tab\tinside")),
    ("//etc/hosts is a path", Say("/etc/hosts is a path")),
    ("", None),
    ("   \t ", None),
    ("/who", Who()),
    ("/WHO", Who()),
    ("/rooms", Rooms()),
    ("/help", Help()),
    ("/help me", Help()),
    ("/quit", Quit()),
    ("/quit bye all", Quit()),
    ("/nick ada", SetNick("ada")),
    ("/nick   ada  ", SetNick("ada")),
    ("/join lobby", Join("lobby")),
    ("/join c_lobby", Join("c_lobby")),
    ("/history", History(DEFAULT_HISTORY)),
    ("/history 5", History(5)),
    (f"/history {MAX_HISTORY}", History(MAX_HISTORY)),
    ("/msg bob hi there  ", DirectMessage("bob", "hi there  ")),
    ("/msg bob 你好", DirectMessage("bob", "你好")),
    ("/login alice correct horse", Login("alice", "correct horse")),
]


@pytest.mark.parametrize(("line", "expected"), PARSED)
def test_lines_parse_into_commands(line: str, expected: LineCommand | None) -> None:
    assert parse_line(line) == expected


REFUSED: list[tuple[str, ErrorCode]] = [
    ("/dance", ErrorCode.UNKNOWN_COMMAND),
    ("/", ErrorCode.UNKNOWN_COMMAND),
    ("/ who", ErrorCode.UNKNOWN_COMMAND),
    ("/123", ErrorCode.UNKNOWN_COMMAND),
    ("/who extra", ErrorCode.BAD_REQUEST),
    ("/rooms extra", ErrorCode.BAD_REQUEST),
    ("/nick", ErrorCode.BAD_REQUEST),
    ("/nick two words", ErrorCode.BAD_REQUEST),
    ("/join", ErrorCode.BAD_REQUEST),
    ("/msg", ErrorCode.BAD_REQUEST),
    ("/msg bob", ErrorCode.BAD_REQUEST),
    ("/msg bob    ", ErrorCode.BAD_REQUEST),
    ("/login alice", ErrorCode.BAD_REQUEST),
    ("/history 0", ErrorCode.NUMBER_OUT_OF_RANGE),
    (f"/history {MAX_HISTORY + 1}", ErrorCode.NUMBER_OUT_OF_RANGE),
    ("/history -1", ErrorCode.NUMBER_OUT_OF_RANGE),
    ("/history \uff15", ErrorCode.NUMBER_OUT_OF_RANGE),  # a full-width 5 is not ASCII
    ("/history 5 6", ErrorCode.BAD_REQUEST),
    ("bell\x07", ErrorCode.INVALID_CHARACTERS),
    ("\x1b[2Jcleared your screen", ErrorCode.INVALID_CHARACTERS),
    ("nul\x00", ErrorCode.INVALID_CHARACTERS),
    ("back\x08space", ErrorCode.INVALID_CHARACTERS),
    ("del\x7f", ErrorCode.INVALID_CHARACTERS),
    ("c1\x85", ErrorCode.INVALID_CHARACTERS),
    ("/msg bob \x1b]0;title\x07", ErrorCode.INVALID_CHARACTERS),
]


@pytest.mark.parametrize(("line", "code"), REFUSED)
def test_bad_lines_are_refused_with_their_code(line: str, code: ErrorCode) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(line)
    assert caught.value.code is code
    assert caught.value.message


def test_an_unknown_command_is_named_but_cut_short() -> None:
    with pytest.raises(LineError) as caught:
        parse_line("/" + "x" * 500)
    assert len(caught.value.message) < 80


def test_a_login_never_shows_its_password() -> None:
    command = parse_line("/login alice s3cret-pass")
    assert isinstance(command, Login)
    assert command.password == "s3cret-pass"
    assert "s3cret" not in repr(command)


def test_every_command_kind_has_help() -> None:
    from pigeon.protocol.lines import HELP, CommandKind

    assert {kind for kind, _, _ in HELP} == set(CommandKind)
