"""The JSON codec: client frames decode into frozen commands or fail with ProtocolError.

Decoding sits at the edge of every connection, so besides the happy path the
properties below feed it arbitrary text, arbitrary JSON and frames whose fields
have random types: the only exception it may ever raise is ``ProtocolError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.protocol import frames
from pigeon.protocol.codec import (
    COMMAND_TYPES,
    MAX_CID_CHARS,
    MAX_MENTIONS,
    ProtocolError,
    decode_command,
    decode_frame,
    encode_frame,
)
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Auth, Command, Ping, Pull, Read, Recv, Send, Sync, Typing

# --- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)

# Every field name any command reads, so random frames hit the validators, not just defaults.
FIELD_NAMES = (
    "rid",
    "token",
    "device",
    "cid",
    "conv",
    "kind",
    "body",
    "reply_to",
    "mentions",
    "after",
    "before",
    "limit",
    "cursor",
    "seq",
    "on",
)
# Values chosen to sit on the validators' edges (types, signs, lengths, the 2**53 bound).
edge_values = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, 2**53 - 1, 2**53, 1.5, "", "x" * 65, [], {}]),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.text(max_size=70),
    st.lists(st.text(max_size=3), max_size=3),
    json_values,
)
command_type = st.sampled_from(sorted(COMMAND_TYPES))


def _decode_or_protocol_error(data: str | bytes) -> Command | None:
    """Decode; a ProtocolError is an accepted outcome, anything else fails the test."""
    outcome: Command | ProtocolError
    try:
        outcome = decode_command(data)
    except ProtocolError as error:
        outcome = error
    if isinstance(outcome, ProtocolError):
        assert isinstance(outcome.code, ErrorCode)
        assert outcome.message
        return None
    assert type(outcome) in (Auth, Send, Pull, Sync, Read, Recv, Typing, Ping)
    return outcome


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


# --- valid frames decode into their dataclass

VALID_FRAMES: list[tuple[dict[str, Any], Command]] = [
    ({"t": "auth", "token": "tok"}, Auth(token="tok")),
    ({"t": "auth", "token": "tok", "device": "phone", "rid": 1}, Auth("tok", "phone", 1)),
    (
        {"t": "send", "cid": "c1", "conv": "c_x", "kind": "text", "body": {"text": "hi"}},
        Send(cid="c1", conv="c_x", kind="text", body={"text": "hi"}),
    ),
    (
        {
            "t": "send",
            "rid": "r",
            "cid": "c1",
            "conv": "c_x",
            "kind": "text",
            "body": {"text": "hi"},
            "reply_to": 3,
            "mentions": ["u_a", "u_b", "u_a"],
        },
        Send("c1", "c_x", "text", {"text": "hi"}, 3, ("u_a", "u_b"), "r"),
    ),
    ({"t": "pull", "conv": "c_x"}, Pull(conv="c_x")),
    (
        {"t": "pull", "conv": "c_x", "after": 0, "before": 9, "limit": 5, "rid": 7},
        Pull("c_x", 0, 9, 5, 7),
    ),
    ({"t": "sync"}, Sync()),
    ({"t": "sync", "cursor": "42", "rid": "s"}, Sync("42", "s")),
    ({"t": "read", "conv": "c_x", "seq": 4}, Read("c_x", 4)),
    ({"t": "recv", "conv": "c_x", "seq": 0}, Recv("c_x", 0)),
    ({"t": "typing", "conv": "c_x", "on": True}, Typing("c_x", True)),
    ({"t": "typing", "conv": "c_x", "on": False, "rid": 0}, Typing("c_x", False, 0)),
    ({"t": "ping"}, Ping()),
    ({"t": "ping", "rid": "p1"}, Ping("p1")),
]


@pytest.mark.parametrize(("raw", "expected"), VALID_FRAMES, ids=lambda v: str(v)[:40])
def test_valid_frame_decodes_into_its_command(raw: dict[str, Any], expected: Command) -> None:
    assert decode_command(_dumps(raw)) == expected
    assert decode_command(_dumps(raw).decode()) == expected


def test_every_command_type_has_a_valid_example() -> None:
    assert {raw["t"] for raw, _ in VALID_FRAMES} == set(COMMAND_TYPES)


@pytest.mark.parametrize(("raw", "expected"), VALID_FRAMES[:4], ids=lambda v: str(v)[:40])
def test_commands_are_frozen(raw: dict[str, Any], expected: Command) -> None:
    command = decode_command(_dumps(raw))
    field = dataclasses.fields(command)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(command, field, "changed")


def test_unknown_fields_are_ignored() -> None:
    frame = {"t": "read", "conv": "c_x", "seq": 2, "extra": {"nested": [1, 2]}, "zzz": None}
    assert decode_command(_dumps(frame)) == Read("c_x", 2)


def test_pull_limit_zero_is_refused() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps({"t": "pull", "conv": "c", "limit": 0}))
    assert caught.value.code == ErrorCode.BAD_REQUEST


def test_mentions_limit() -> None:
    base = {"t": "send", "cid": "c", "conv": "v", "kind": "text", "body": {"text": "x"}}
    at_limit = [f"u{i}" for i in range(MAX_MENTIONS)]
    command = decode_command(_dumps({**base, "mentions": at_limit}))
    assert isinstance(command, Send)
    assert command.mentions == tuple(at_limit)
    with pytest.raises(ProtocolError):
        decode_command(_dumps({**base, "mentions": [*at_limit, "one-more"]}))


# --- malformed input


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.MALFORMED_FRAME),
        (b"not json", ErrorCode.MALFORMED_FRAME),
        (b"\xff\xfe", ErrorCode.MALFORMED_FRAME),
        ("\ud800", ErrorCode.MALFORMED_FRAME),
        (b"[]", ErrorCode.MALFORMED_FRAME),
        (b"42", ErrorCode.MALFORMED_FRAME),
        (b"NaN", ErrorCode.MALFORMED_FRAME),
        (b"[" * 5000 + b"]" * 5000, ErrorCode.MALFORMED_FRAME),
        (b"{}", ErrorCode.MALFORMED_FRAME),
        (b'{"t": 1}', ErrorCode.MALFORMED_FRAME),
        (b'{"t": "nope"}', ErrorCode.UNKNOWN_TYPE),
        (b'{"t": ""}', ErrorCode.UNKNOWN_TYPE),
        (b'{"t": "read", "conv": "c", "seq": -1}', ErrorCode.NUMBER_OUT_OF_RANGE),
        (b'{"t": "read", "conv": "c", "seq": 1.0}', ErrorCode.BAD_REQUEST),
        (b'{"t": "read", "conv": "c", "seq": true}', ErrorCode.BAD_REQUEST),
        (b'{"t": "read", "conv": "c", "seq": 9007199254740992}', ErrorCode.NUMBER_OUT_OF_RANGE),
        (b'{"t": "read", "conv": "", "seq": 1}', ErrorCode.BAD_REQUEST),
        (b'{"t": "typing", "conv": "c", "on": 1}', ErrorCode.BAD_REQUEST),
        (
            b'{"t": "send", "cid": "c", "conv": "v", "kind": "text", "body": []}',
            ErrorCode.BAD_REQUEST,
        ),
        (b'{"t": "auth"}', ErrorCode.BAD_REQUEST),
    ],
)
def test_malformed_frames_get_their_code(data: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_command(data)
    assert caught.value.code == code


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_arbitrary_text_decodes_or_raises_protocol_error(data: str) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    _decode_or_protocol_error(data)


@settings(max_examples=100)
@given(st.text(alphabet=st.characters(codec=None, categories=["Cs", "Co", "Cc"]), max_size=20))
def test_surrogates_and_control_characters_never_escape(data: str) -> None:
    _decode_or_protocol_error(data)
    _decode_or_protocol_error('{"t":"ping","rid":"' + data + '"}')


@settings(max_examples=200)
@given(json_values)
def test_arbitrary_json_values_decode_or_raise_protocol_error(value: Any) -> None:
    _decode_or_protocol_error(_dumps(value))


@settings(max_examples=400)
@given(st.data())
def test_frames_with_random_field_types_decode_or_raise_protocol_error(data: st.DataObject) -> None:
    # Start from a valid frame and replace some fields, so later validators are reached too.
    base, _ = data.draw(st.sampled_from(VALID_FRAMES))
    names = data.draw(st.sets(st.sampled_from(FIELD_NAMES), max_size=4))
    frame = dict(base) | {name: data.draw(edge_values) for name in names}
    command = _decode_or_protocol_error(_dumps(frame))
    if command is not None:
        assert type(command).__name__.lower() == frame["t"]


# --- rid and cid are carried into errors


@settings(max_examples=200)
@given(
    st.one_of(
        st.text(min_size=0, max_size=64), st.integers(min_value=-(2**63), max_value=2**63 - 1)
    ),
    command_type,
)
def test_readable_rid_is_carried_into_errors(rid: str | int, kind: str) -> None:
    # An integer where every command expects something else makes each type fail.
    frame = dict.fromkeys(FIELD_NAMES, 12345) | {"t": kind, "rid": rid}
    if kind in ("ping",):
        frame["t"] = "no-such-type"
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps(frame))
    assert caught.value.rid == rid


@pytest.mark.parametrize("rid", [True, None, 1.5, [1], {"a": 1}, "r" * 65])
def test_unreadable_rid_is_dropped(rid: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps({"t": "read", "rid": rid}))
    assert caught.value.rid is None


def test_rid_is_carried_for_unknown_type_and_missing_t() -> None:
    with pytest.raises(ProtocolError) as unknown:
        decode_command(_dumps({"t": "fly", "rid": "r1"}))
    assert (unknown.value.code, unknown.value.rid) == (ErrorCode.UNKNOWN_TYPE, "r1")
    with pytest.raises(ProtocolError) as missing:
        decode_command(_dumps({"rid": 9}))
    assert (missing.value.code, missing.value.rid) == (ErrorCode.MALFORMED_FRAME, 9)


def test_cid_is_carried_once_readable() -> None:
    frame = {"t": "send", "rid": 4, "cid": "my-cid", "conv": 7, "kind": "text", "body": {}}
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps(frame))
    assert (caught.value.rid, caught.value.cid) == (4, "my-cid")
    with pytest.raises(ProtocolError) as bad_body:
        decode_command(_dumps({**frame, "conv": "c", "body": "text"}))
    assert bad_body.value.cid == "my-cid"


@pytest.mark.parametrize("cid", [None, 5, "", "c" * (MAX_CID_CHARS + 1), ["c"]])
def test_unreadable_cid_is_not_carried(cid: Any) -> None:
    frame = {"t": "send", "cid": cid, "conv": "c", "kind": "text", "body": {}}
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps(frame))
    assert caught.value.cid is None


# Identifier characters: printable, no whitespace (protocol.text).
_ID_CHARS = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"))


@settings(max_examples=100)
@given(st.text(_ID_CHARS, min_size=1, max_size=MAX_CID_CHARS))
def test_cid_of_1_to_64_chars_is_accepted(cid: str) -> None:
    frame = {"t": "send", "cid": cid, "conv": "c", "kind": "text", "body": {"text": "x"}}
    command = decode_command(_dumps(frame))
    assert isinstance(command, Send)
    assert command.cid == cid


@pytest.mark.parametrize("length", [0, MAX_CID_CHARS + 1, 1000])
def test_cid_outside_1_to_64_chars_is_refused(length: int) -> None:
    frame = {"t": "send", "cid": "c" * length, "conv": "c", "kind": "text", "body": {}}
    with pytest.raises(ProtocolError) as caught:
        decode_command(_dumps(frame))
    assert caught.value.code == ErrorCode.BAD_REQUEST
    assert "cid" in caught.value.message


# --- server frames round-trip through encode_frame / decode_frame

ids = st.text(min_size=1, max_size=40)
seqs = st.integers(min_value=0, max_value=2**53 - 1)
rids = st.none() | st.text(max_size=64) | st.integers(min_value=-(2**63), max_value=2**63 - 1)
messages = st.fixed_dictionaries(
    {
        "conv": ids,
        "seq": seqs,
        "id": ids,
        "from": ids,
        "kind": st.sampled_from(["text", "image", "file", "custom"]),
        "body": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "ts": seqs,
        "cid": ids,
    },
    optional={"reply_to": seqs, "mentions": st.lists(ids, max_size=3), "recalled": st.just(True)},
)
server_frames = st.one_of(
    st.builds(frames.ready_frame, ids, ids, ids, st.integers(1, 600), seqs, rids),
    st.builds(
        frames.ack_frame,
        st.fixed_dictionaries({"conv": ids, "seq": seqs, "id": ids, "ts": seqs, "cid": ids}),
        rids,
    ),
    st.builds(frames.messages_frame, ids, st.lists(messages, max_size=3), st.booleans(), rids),
    st.builds(
        frames.sync_frame,
        ids,
        st.lists(st.fixed_dictionaries({"conv": ids, "last_seq": seqs}), max_size=3),
        st.booleans(),
        rids,
    ),
    st.builds(frames.pong_frame, seqs, rids),
    st.builds(frames.msg_frame, messages),
    st.builds(frames.receipt_frame, ids, ids, st.none() | seqs, st.none() | seqs),
    st.builds(frames.typing_frame, ids, ids, st.booleans()),
    st.builds(frames.presence_frame, ids, st.booleans(), st.none() | seqs),
    st.builds(
        frames.error_frame, st.sampled_from(list(ErrorCode)), st.text(), rids, st.none() | ids
    ),
)


@settings(max_examples=200)
@given(server_frames)
def test_server_frames_round_trip(frame: frames.Frame) -> None:
    text = encode_frame(frame)
    assert isinstance(text, str)
    assert decode_frame(text) == frame
    assert decode_frame(text.encode()) == frame


def test_server_frames_carry_rid_only_when_given() -> None:
    assert "rid" not in frames.pong_frame(1)
    assert frames.pong_frame(1, 0)["rid"] == 0
    assert frames.error_frame(40000, "x", "r", "c") == {
        "t": "error",
        "code": 40000,
        "message": "x",
        "rid": "r",
        "cid": "c",
    }
    assert frames.receipt_frame("c", "u", None, None) == {"t": "receipt", "conv": "c", "user": "u"}


@pytest.mark.parametrize("data", [b"[]", b"1", b'"s"', b"null"])
def test_decode_frame_refuses_non_objects(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(data)
