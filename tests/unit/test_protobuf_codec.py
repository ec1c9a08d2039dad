"""The Protobuf codec agrees with the JSON codec on every command, fault and frame.

Both codecs end in the same validation (``codec.command_from_object``), so the tests
here check the translation: each command decodes into the very command the JSON codec
gives, each bad input gets the same error (code, message, rid, cid), and every server
frame comes back from the wire as the dict the JSON codec would give a client.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.protocol import codec, frames, protobuf
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command
from pigeon.protocol.pb import pigeon_pb2 as pb
from pigeon.protocol.wire import SUBPROTOCOLS, Codec, FrameKind
from unit.wire_cases import BAD_COMMANDS, MSG, SEND, SERVER_FRAMES, VALID_COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def _json_view(command: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in command.items() if v is not None}


def _error(decode: Any, data: Any) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(data)
    return caught.value


# --- commands


@pytest.mark.parametrize(("raw", "expected"), VALID_COMMANDS, ids=lambda v: str(v)[:50])
def test_command_decodes_like_the_json_codec(raw: dict[str, Any], expected: Command) -> None:
    assert codec.decode_command(orjson.dumps(raw)) == expected
    assert protobuf.decode_command(protobuf.encode_command(raw)) == expected


def test_every_command_type_has_a_valid_example() -> None:
    assert {raw["t"] for raw, _ in VALID_COMMANDS} == set(codec.COMMAND_TYPES)
    assert set(protobuf.COMMAND_MEMBERS) == set(codec.COMMAND_TYPES)


@pytest.mark.parametrize(("raw", "code"), BAD_COMMANDS, ids=lambda v: str(v)[:50])
def test_bad_command_gets_the_same_error_from_both_codecs(
    raw: dict[str, Any], code: ErrorCode
) -> None:
    from_json = _error(codec.decode_command, orjson.dumps(raw))
    from_proto = _error(protobuf.decode_command, protobuf.encode_command(_json_view(raw)))
    assert from_json.code == code
    outcome = (from_proto.code, from_proto.message, from_proto.rid, from_proto.cid)
    assert outcome == (from_json.code, from_json.message, from_json.rid, from_json.cid)


def _send_with_body(body: pb.Body, rid: int = 5) -> bytes:
    envelope = pb.Envelope(rid_int=rid)
    envelope.send.cid, envelope.send.conv, envelope.send.kind = "c1", "c_x", "custom"
    envelope.send.body.CopyFrom(body)
    return envelope.SerializeToString()


@pytest.mark.parametrize(
    ("body", "json_body"),
    [
        (pb.Body(json=b"[1]"), [1]),
        (pb.Body(json=b'"text"'), "text"),
        (pb.Body(json=b"null"), None),
        (pb.Body(json=b"{not json"), "{not json"),
        (pb.Body(json=b"[" * 5000), "[" * 5000),
        (pb.Body(system=pb.SystemBody(event="e", actor="a", details=b"[]")), 7),
    ],
)
def test_body_that_is_not_a_json_object_is_refused_like_json(body: pb.Body, json_body: Any) -> None:
    from_json = _error(codec.decode_command, orjson.dumps({**SEND, "rid": 5, "body": json_body}))
    from_proto = _error(protobuf.decode_command, _send_with_body(body))
    assert (from_proto.code, from_proto.message, from_proto.cid, from_proto.rid) == (
        from_json.code,
        from_json.message,
        "c1",
        5,
    )
    assert from_proto.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff", ErrorCode.MALFORMED_FRAME),  # a truncated tag
        (b"\x22\x05\x0a\x01", ErrorCode.MALFORMED_FRAME),  # a length past the end
        (b"\x22\x03\x0a\x01\xff", ErrorCode.MALFORMED_FRAME),  # invalid UTF-8 in a string
        (b"", ErrorCode.MALFORMED_FRAME),  # an empty Envelope names no frame
        (b"\x0a\x01r", ErrorCode.MALFORMED_FRAME),  # only a rid
        (b"\xb8\x06\x01", ErrorCode.UNKNOWN_TYPE),  # field 103: a frame type from the future
        (pb.Envelope(pong=pb.Pong(ts=1)).SerializeToString(), ErrorCode.UNKNOWN_TYPE),
        (pb.Envelope(sync_page=pb.SyncPage()).SerializeToString(), ErrorCode.UNKNOWN_TYPE),
    ],
)
def test_frames_that_name_no_command_get_the_json_codes(data: bytes, code: ErrorCode) -> None:
    assert _error(protobuf.decode_command, data).code == code


def test_rid_is_carried_into_envelope_level_errors() -> None:
    unknown = pb.Envelope(rid_str="r1", ready=pb.Ready()).SerializeToString()
    assert _error(protobuf.decode_command, unknown).rid == "r1"
    assert _error(protobuf.decode_command, b"\x10\x09").rid == 9  # rid_int 9, no frame
    assert _error(codec.decode_command, b'{"rid": 9}').rid == 9  # the JSON equivalent


def test_unknown_fields_inside_a_command_are_ignored() -> None:
    data = pb.Envelope(read=pb.Read(conv="c", seq=2)).SerializeToString()
    # Append field 99 (varint) inside the Read message: re-encode its length.
    inner = pb.Read(conv="c", seq=2).SerializeToString() + b"\x98\x06\x01"
    data = b"\x3a" + bytes([len(inner)]) + inner
    assert protobuf.decode_command(data) == codec.decode_command(
        b'{"t": "read", "conv": "c", "seq": 2, "zzz": 1}'
    )


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    failure: ProtocolError | None = None
    try:
        protobuf.decode_command(data)
    except ProtocolError as error:  # anything else fails the test
        failure = error
    assert failure is None or isinstance(failure.code, ErrorCode)


# Valid commands built from random values, encoded by the client side of the codec.
ids = st.text(min_size=1, max_size=64)
seqs = st.integers(min_value=0, max_value=2**53 - 1)
rids = st.none() | st.text(max_size=64) | st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=10), json_values, max_size=4) | st.sampled_from(
    [raw["body"] for raw, _ in VALID_COMMANDS if raw["t"] == "send" and "body" in raw]
)
commands = st.one_of(
    st.fixed_dictionaries(
        {"t": st.just("auth"), "token": ids, "rid": rids}, optional={"device": ids}
    ),
    st.fixed_dictionaries(
        {
            "t": st.just("send"),
            "cid": ids,
            "conv": ids,
            "kind": st.sampled_from(["text", "image", "file", "recall", "edit", "custom", "x"]),
            "body": bodies,
            "rid": rids,
        },
        optional={"reply_to": seqs, "mentions": st.lists(ids, max_size=5)},
    ),
    st.fixed_dictionaries(
        {"t": st.just("pull"), "conv": ids},
        optional={"after": seqs, "before": seqs, "limit": seqs.filter(bool)},
    ),
    st.fixed_dictionaries(
        {"t": st.just("sync")}, optional={"cursor": st.text(min_size=1, max_size=256)}
    ),
    st.fixed_dictionaries({"t": st.sampled_from(["read", "recv"]), "conv": ids, "seq": seqs}),
    st.fixed_dictionaries({"t": st.just("typing"), "conv": ids, "on": st.booleans()}),
    st.fixed_dictionaries({"t": st.just("ping"), "rid": rids}),
)


@settings(max_examples=400)
@given(commands)
def test_random_commands_decode_like_the_json_codec(raw: dict[str, Any]) -> None:
    raw = _json_view(raw)  # random text may break a character rule: then both refuse alike
    assert _outcome(protobuf.decode_command, protobuf.encode_command(raw)) == _outcome(
        codec.decode_command, orjson.dumps(raw)
    )


# Values on the validators' edges that the schema can still carry, by field.
_texts = st.sampled_from(["", "x", "x" * 64, "x" * 65, "x" * 257, "x" * 4097]) | st.text(
    max_size=70
)
_numbers = st.sampled_from([0, 1, 2**53 - 1, 2**53, 2**64 - 1]) | st.integers(0, 2**64 - 1)
EDGE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(("token", "device", "cid", "conv", "kind", "cursor"), _texts),
    **dict.fromkeys(("reply_to", "after", "before", "limit", "seq"), _numbers),
    "on": st.booleans(),
    "mentions": st.lists(_texts, max_size=3) | st.lists(st.just("u"), min_size=99, max_size=102),
    "body": bodies,
    "rid": rids | st.text(min_size=65, max_size=70),
}
FIELDS_OF = {
    "auth": ("token", "device"),
    "send": ("cid", "conv", "kind", "body", "reply_to", "mentions"),
    "pull": ("conv", "after", "before", "limit"),
    "sync": ("cursor",),
    "read": ("conv", "seq"),
    "recv": ("conv", "seq"),
    "typing": ("conv", "on"),
    "ping": (),
}


def _outcome(decode: Any, data: Any) -> Any:
    try:
        return decode(data)
    except ProtocolError as error:
        return (error.code, error.message, error.rid, error.cid)


@settings(max_examples=500)
@given(st.data())
def test_any_representable_command_gets_the_same_outcome_from_both_codecs(
    data: st.DataObject,
) -> None:
    t = data.draw(st.sampled_from(sorted(FIELDS_OF)))
    names = data.draw(st.sets(st.sampled_from((*FIELDS_OF[t], "rid"))))
    raw = {"t": t} | {name: data.draw(EDGE_VALUES[name]) for name in sorted(names)}
    from_json = _outcome(codec.decode_command, orjson.dumps(raw))
    assert _outcome(protobuf.decode_command, protobuf.encode_command(raw)) == from_json


def test_encode_command_refuses_what_the_schema_cannot_carry() -> None:
    with pytest.raises(ValueError, match="not a frame"):
        protobuf.encode_command({"t": "ready"})
    with pytest.raises(ValueError, match="no field"):
        protobuf.encode_command({"t": "read", "conv": "c", "seq": 1, "extra": 1})
    with pytest.raises(ValueError, match="seq"):
        protobuf.encode_command({"t": "read", "conv": "c", "seq": "1"})


# --- server frames


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: f["t"])
def test_server_frame_round_trips_to_the_json_codecs_dict(frame: frames.Frame) -> None:
    data = protobuf.encode_frame(frame)
    assert protobuf.decode_frame(data) == frame
    assert protobuf.decode_frame(data) == codec.decode_frame(codec.encode_frame(frame))


def test_every_server_frame_type_is_covered() -> None:
    assert {f["t"] for f in SERVER_FRAMES} == set(protobuf.FRAME_MEMBERS)
    members = {f.name for f in pb.Envelope.DESCRIPTOR.oneofs_by_name["frame"].fields}
    assert members == set(protobuf.FRAME_MEMBERS.values()) | set(protobuf.COMMAND_MEMBERS.values())


@pytest.mark.parametrize(
    ("frame", "member"),
    [
        ({**MSG, "kind": "text", "body": {"text": "hi"}}, "text"),
        ({**MSG, "kind": "custom", "body": {"text": "hi"}}, "json"),
        ({**MSG, "kind": "text", "body": {"text": "hi", "x": 1}}, "json"),
        ({**MSG, "kind": "image", "body": {"file_id": "f", "width": 1}}, "json"),
        ({**MSG, "kind": "recall", "body": {"seq": 2**63}}, "json"),
        ({**MSG, "kind": "recall", "body": {"seq": True}}, "json"),
        ({**MSG, "kind": "system", "body": {"event": "e", "actor": 1}}, "json"),
        ({**MSG, "kind": "system", "body": {"event": "e", "actor": "a"}}, "system"),
        ({**MSG, "kind": "text", "body": {}}, None),
        (
            {**MSG, "kind": "react", "body": {"seq": 2, "emoji": "👍", "on": True, "count": 1}},
            "react",
        ),
        ({**MSG, "kind": "react", "body": {"seq": 2, "emoji": "👍", "on": 1}}, "json"),
        ({**MSG, "kind": "unpin", "body": {"seq": 2}}, "unpin"),
    ],
)
def test_body_takes_its_typed_form_only_when_nothing_is_lost(
    frame: frames.Frame, member: str | None
) -> None:
    envelope = pb.Envelope.FromString(protobuf.encode_frame(frame))
    assert envelope.msg.body.WhichOneof("content") == member
    assert protobuf.decode_frame(envelope.SerializeToString()) == frame


def test_encode_frame_refuses_a_dict_that_is_not_a_server_frame() -> None:
    with pytest.raises(ValueError, match="not a frame"):
        protobuf.encode_frame({"t": "send"})
    with pytest.raises(ValueError, match="no field"):
        protobuf.encode_frame({**frames.pong_frame(1), "extra": True})
    with pytest.raises(ValueError, match="null"):
        protobuf.encode_frame(frames.typing_frame("c", "u", None))  # type: ignore[arg-type]


def test_decode_frame_refuses_commands_and_garbage() -> None:
    assert _error(protobuf.decode_frame, protobuf.encode_command({"t": "ping"})).code == (
        ErrorCode.UNKNOWN_TYPE
    )
    assert _error(protobuf.decode_frame, b"\xff").code == ErrorCode.MALFORMED_FRAME
    bad_body = pb.Envelope(msg=pb.Message(body=pb.Body(json=b"[]"))).SerializeToString()
    assert _error(protobuf.decode_frame, bad_body).code == ErrorCode.MALFORMED_FRAME


message_bodies = st.one_of(
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    st.fixed_dictionaries({"text": st.text(max_size=30)}),
    st.fixed_dictionaries(
        {"file_id": ids, "width": seqs, "height": seqs}, optional={"caption": st.text()}
    ),
    # every integer JSON can carry: beyond int64 the body falls back to JSON text
    st.fixed_dictionaries({"seq": st.integers(min_value=-(2**63), max_value=2**64 - 1)}),
    st.fixed_dictionaries(
        {"event": st.text(max_size=20), "actor": ids},
        optional={"users": st.lists(ids, max_size=3), "changes": json_values},
    ),
)
messages = st.fixed_dictionaries(
    {
        "conv": ids,
        "seq": seqs,
        "id": ids,
        "from": ids,
        "kind": st.sampled_from(["text", "image", "file", "recall", "edit", "system", "custom"]),
        "body": message_bodies,
        "ts": seqs,
        "cid": ids,
    },
    optional={
        "reply_to": seqs,
        "mentions": st.lists(ids, min_size=1, max_size=3),
        "edited_at": seqs,
        "recalled": st.just(True),
    },
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
        st.lists(
            st.fixed_dictionaries(
                {"conv": ids, "kind": ids, "last_seq": seqs, "read_seq": seqs, "unread": seqs},
                optional={"removed": st.just(True)},
            ),
            max_size=3,
        ),
        st.booleans(),
        rids,
    ),
    st.builds(frames.pong_frame, seqs, rids),
    st.builds(frames.msg_frame, messages),
    st.builds(frames.receipt_frame, ids, ids, st.none() | seqs, st.none() | seqs),
    st.builds(frames.typing_frame, ids, ids, st.booleans()),
    st.builds(frames.presence_frame, ids, st.booleans(), st.none() | seqs),
    st.builds(
        frames.error_frame,
        st.sampled_from(list(ErrorCode)),
        st.text(),
        rids,
        st.none() | st.text(min_size=1, max_size=64),
    ),
    st.builds(frames.close_frame, st.integers(1000, 4999), st.text()),
)


@settings(max_examples=400)
@given(server_frames)
def test_random_server_frames_round_trip(frame: frames.Frame) -> None:
    assert protobuf.decode_frame(protobuf.encode_frame(frame)) == frame


# --- codec selection


def test_codecs_are_chosen_by_subprotocol() -> None:
    assert SUBPROTOCOLS == ("pigeon.v1.json", "pigeon.v1.proto")
    assert Codec.for_subprotocol("pigeon.v1.proto") is Codec.PROTO
    assert Codec.for_subprotocol("pigeon.v1.json") is Codec.JSON
    assert Codec.for_subprotocol(None) is Codec.JSON
    assert Codec.for_subprotocol("pigeon.v9.json") is Codec.JSON
    assert (Codec.JSON.frame_kind, Codec.PROTO.frame_kind) == (FrameKind.TEXT, FrameKind.BINARY)


@pytest.mark.parametrize("chosen", list(Codec))
@pytest.mark.parametrize(("raw", "expected"), VALID_COMMANDS[:6], ids=lambda v: str(v)[:30])
def test_each_codec_carries_commands_and_frames(
    chosen: Codec, raw: dict[str, Any], expected: Command
) -> None:
    assert chosen.decode_command(chosen.encode_command(raw)) == expected
    for frame in SERVER_FRAMES:
        assert chosen.decode_frame(chosen.encode_frame(frame)) == frame


def test_text_frame_on_a_protobuf_connection_is_malformed() -> None:
    assert _error(Codec.PROTO.decode_command, '{"t": "ping"}').code == ErrorCode.MALFORMED_FRAME
    assert _error(Codec.PROTO.decode_frame, '{"t": "pong"}').code == ErrorCode.MALFORMED_FRAME


# --- generated code


def test_checked_in_generated_code_matches_the_schema(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    checked_in = ROOT / "src" / "pigeon" / "protocol" / "pb"
    for name in ("pigeon_pb2.py", "pigeon_pb2.pyi"):
        assert (tmp_path / name).read_bytes() == (checked_in / name).read_bytes(), (
            f"{name} is stale: run `python proto/generate.py` and commit the result"
        )
