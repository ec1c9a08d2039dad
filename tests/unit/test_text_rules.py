"""Character rules (protocol.text), the cursor codec (protocol.cursors) and their use
by the WebSocket codec: one rule per field kind, one code per kind of violation."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pigeon.protocol.codec import ProtocolError, decode_command
from pigeon.protocol.cursors import (
    MAX_CLIENT_INT,
    CursorError,
    ListCursor,
    MemberCursor,
    decode_sync_cursor,
    encode_sync_cursor,
    parse_client_int,
)
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.text import TextKind, check, check_body

INVALID, BLANK = ErrorCode.INVALID_CHARACTERS, ErrorCode.BLANK_TEXT
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def _code(kind: TextKind, value: str) -> ErrorCode | None:
    violation = check(kind, value)
    return None if violation is None else violation.code


@pytest.mark.parametrize("kind", list(TextKind))
@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_nul_controls_and_lone_surrogates_are_refused_in_every_kind(
    kind: TextKind, bad: str
) -> None:
    assert _code(kind, f"ab{bad}cd") == INVALID


@pytest.mark.parametrize("kind", [TextKind.IDENTIFIER, TextKind.NAME, TextKind.LINE])
@pytest.mark.parametrize("brk", ["\n", "\r", "\t", "\u2028", "\u2029"])
def test_one_line_fields_refuse_line_breaks_and_tabs(kind: TextKind, brk: str) -> None:
    assert _code(kind, f"a{brk}b") == INVALID


def test_prose_keeps_tab_and_line_breaks() -> None:
    assert _code(TextKind.PROSE, "line one\n\tline two\r\n") is None


@pytest.mark.parametrize("bidi", BIDI)
def test_names_refuse_bidi_overrides_and_isolates(bidi: str) -> None:
    assert _code(TextKind.NAME, f"evil{bidi}gnp.exe") == INVALID
    assert _code(TextKind.PROSE, f"quoted {bidi}עברית") is None  # prose may be bidirectional


@pytest.mark.parametrize(
    "blank", ["", " ", "\u3000", "\u200b", "\u200c\u200d", "\u2060", "\ufeff", " \u200b \u3164 "]
)
def test_names_must_show_something(blank: str) -> None:
    assert _code(TextKind.NAME, blank) == BLANK


@pytest.mark.parametrize("name", ["北京用户", "Zoë", "👨\u200d👩\u200d👧", "Ana María", "علي"])
def test_real_names_pass(name: str) -> None:
    assert _code(TextKind.NAME, name) is None


@pytest.mark.parametrize("value", ["a b", "a\u200bb", "a\u00a0b", "a\ue000b"])
def test_identifiers_are_printable_without_whitespace(value: str) -> None:
    assert _code(TextKind.IDENTIFIER, value) == INVALID
    assert _code(TextKind.IDENTIFIER, "c_01abc-XYZ.9") is None


def test_body_rule_reaches_every_string_at_any_depth() -> None:
    assert check_body({"text": "fine\n", "meta": {"list": [1, "ok", {"k": "v"}]}}) is None
    for body in (
        {"text": "a\x00b"},
        {"custom": {"deep": [[["x\x00"]]]}},
        {"key\x00": 1},
        {"text": "\ud800"},
    ):
        violation = check_body(body)
        assert violation is not None
        assert violation.code == INVALID


def test_deep_bodies_do_not_recurse() -> None:
    body: dict[str, object] = {"text": "x"}
    for _ in range(50_000):
        body = {"n": body}
    assert check_body(body) is None


# --- cursors and client integers


@pytest.mark.parametrize(
    "raw", ["", "-1", "+1", "1.0", "²", "١٢", "9999999999999999999", str(MAX_CLIENT_INT + 1)]
)
def test_client_integers_are_ascii_digits_within_range(raw: str) -> None:
    assert parse_client_int(raw) is None


def test_client_integer_edges() -> None:
    assert parse_client_int("0") == 0
    assert parse_client_int(str(MAX_CLIENT_INT)) == MAX_CLIENT_INT


@pytest.mark.parametrize("raw", ["9999999999999999999", "²", "x", "-5", "1" * 40])
def test_crafted_sync_cursors_are_invalid_cursor(raw: str) -> None:
    with pytest.raises(CursorError) as caught:
        decode_sync_cursor(raw)
    assert caught.value.code == ErrorCode.INVALID_CURSOR


@pytest.mark.parametrize(
    "raw", ["1.99999999999999999999999.x", "2.5.c_1", "1.².c_1", "0.5.", "0.5.a b", "0.5"]
)
def test_crafted_list_cursors_are_invalid_cursor(raw: str) -> None:
    with pytest.raises(CursorError):
        ListCursor.decode(raw)


@pytest.mark.parametrize("raw", ["99999999999999999999.u", "²³.u_1", "5.", "5", ".u_1"])
def test_crafted_member_cursors_are_invalid_cursor(raw: str) -> None:
    with pytest.raises(CursorError):
        MemberCursor.decode(raw)


def test_cursors_round_trip() -> None:
    assert decode_sync_cursor(encode_sync_cursor(42)) == 42
    position = ListCursor(True, 1_700_000_000_000, "c_01abc")
    assert ListCursor.decode(position.encode()) == position
    member = MemberCursor(1_700_000_000_000, "u_01abc")
    assert MemberCursor.decode(member.encode()) == member


@given(st.text(max_size=80))
def test_any_cursor_text_decodes_or_is_invalid_cursor(raw: str) -> None:
    for decode in (decode_sync_cursor, ListCursor.decode, MemberCursor.decode):
        with contextlib.suppress(CursorError):
            decode(raw)


# --- the WebSocket codec uses the same rules


def _send(**fields: object) -> bytes:
    frame = {"t": "send", "cid": "c1", "conv": "c_1", "kind": "text", "body": {"text": "hi"}}
    return orjson.dumps({**frame, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"cid": "bad\x00cid"},
        {"conv": "c_\x00"},
        {"kind": "te\x00xt"},
        {"body": {"text": "nul \x00 inside"}},
        {"body": {"text": "ok", "extra": {"k": "\x00"}}},
        {"mentions": ["u_\x00"]},
    ],
)
def test_ws_send_with_a_nul_anywhere_is_invalid_characters(fields: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_command(_send(**fields))
    assert caught.value.code == INVALID


def test_ws_device_names_follow_the_name_rule() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_command(orjson.dumps({"t": "auth", "token": "t", "device": "phone\u202e"}))
    assert caught.value.code == INVALID
    with pytest.raises(ProtocolError) as caught:
        decode_command(orjson.dumps({"t": "auth", "token": "t", "device": "\u200b"}))
    assert caught.value.code == BLANK


def test_ws_integers_stop_at_the_client_maximum() -> None:
    frame = {"t": "read", "conv": "c_1", "seq": MAX_CLIENT_INT}
    assert decode_command(orjson.dumps(frame))
    with pytest.raises(ProtocolError):
        decode_command(orjson.dumps({**frame, "seq": MAX_CLIENT_INT + 1}))
