"""Protobuf codec: bytes ⇄ typed commands and server frames (schema: proto/pigeon/v1).

The codec translates between one ``pigeon.v1.Envelope`` and the JSON view of the
same frame — the dict the JSON codec reads and writes — and nothing else. Commands
are then validated and built by ``codec.command_from_object``, the same code the
JSON codec ends in, so both wire formats obey one set of field rules and answer a
fault with the same ``ProtocolError`` code. Server frames are the dicts of
``frames``; ``decode_frame`` gives a client back exactly those dicts.

Field mapping (documented in docs/protocol.md): proto field names equal the JSON keys
except the renames in ``_JSON_KEYS``; an ``optional`` field is sent only when the
JSON key is present, except the two that JSON spells ``null`` (``_NULLABLE``);
repeated scalar fields are left out of the JSON view when empty; message bodies use
the typed body of their kind when the body has exactly that shape, else JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from pigeon.protocol.codec import ProtocolError, command_from_object
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command, Frame, Rid
from pigeon.protocol.pb import pigeon_pb2 as pb

# JSON "t" → Envelope member, per direction. Two server frames share their "t" with
# a command, so their members are named apart.
COMMAND_MEMBERS: dict[str, str] = {
    t: t for t in ("auth", "send", "pull", "sync", "read", "recv", "typing", "ping")
}
FRAME_MEMBERS: dict[str, str] = {
    "ready": "ready",
    "ack": "ack",
    "messages": "messages",
    "sync": "sync_page",
    "msg": "msg",
    "pong": "pong",
    "receipt": "receipt",
    "typing": "typing_event",
    "presence": "presence",
    "friend_request": "friend_request",
    "error": "error",
    "close": "close",
}
_COMMAND_OF_MEMBER = {member: t for t, member in COMMAND_MEMBERS.items()}
_FRAME_OF_MEMBER = {member: t for t, member in FRAME_MEMBERS.items()}

# Proto field names that cannot be the JSON key ("from" is a Python keyword).
_JSON_KEYS = {"sender": "from", "from_user": "from", "to_user": "to"}
# Optional fields whose absence JSON writes as null rather than leaving the key out.
_NULLABLE = frozenset({"pigeon.v1.Presence.last_seen", "pigeon.v1.FriendRequest.note"})
# The typed body of each kind the server knows; every other kind travels as JSON text.
_TYPED_BODIES = ("text", "image", "file", "recall", "edit", "react", "pin", "unpin")
# Lists of objects that JSON leaves out when empty, as it does ``mentions``.
_OMITTED_WHEN_EMPTY = frozenset({"pigeon.v1.Message.reactions"})
_INT64 = range(-(2**63), 2**63)


class _Unreadable:
    """Stands for a body that is not a JSON object, so validation refuses it by name."""


_UNREADABLE = _Unreadable()


class _Shape(Enum):
    """How one field appears in the JSON view."""

    BODY = "body"  # a message body: a JSON object
    NESTED = "nested"  # one object of a message type (e.g. ``forwarded``), left out when absent
    MESSAGES = "messages"  # a list of objects, present even when empty
    SOME_MESSAGES = "some_messages"  # a list of objects, left out when empty
    SCALARS = "scalars"  # a list of values, left out when empty
    OPTIONAL = "optional"  # left out when absent
    NULLABLE = "nullable"  # null when absent
    PLAIN = "plain"  # always present


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # in the schema
    key: str  # in the JSON view
    shape: _Shape
    is_string: bool
    is_bool: bool = False


def _shape(field: Any) -> _Shape:
    if field.message_type is pb.Body.DESCRIPTOR:
        return _Shape.BODY
    if field.is_repeated:
        if field.message_type is None:
            return _Shape.SCALARS
        return _Shape.SOME_MESSAGES if field.full_name in _OMITTED_WHEN_EMPTY else _Shape.MESSAGES
    if field.message_type is not None:
        return _Shape.NESTED
    if field.has_presence:
        return _Shape.NULLABLE if field.full_name in _NULLABLE else _Shape.OPTIONAL
    return _Shape.PLAIN


# Descriptors are typed loosely on purpose: the stubs give each one as the union of the
# pure-Python and the C (upb) class, and only their common attributes are used here.
def _plan(descriptor: Any) -> dict[str, _Field]:
    """Each field of one message type by JSON key, worked out once per type."""
    return {
        _JSON_KEYS.get(f.name, f.name): _Field(
            f.name,
            _JSON_KEYS.get(f.name, f.name),
            _shape(f),
            f.type == FieldDescriptor.TYPE_STRING,
            f.type == FieldDescriptor.TYPE_BOOL,
        )
        for f in descriptor.fields
    }


_PLANS: dict[str, dict[str, _Field]] = {
    d.full_name: _plan(d) for d in pb.DESCRIPTOR.message_types_by_name.values()
}


# --- proto → JSON view


def _body_object(body: pb.Body, *, strict: bool) -> Any:
    which = body.WhichOneof("content")
    if which is None:
        return {}
    if which == "json":
        value = _json_object(body.json)
    elif which == "system":
        details = _json_object(body.system.details) if body.system.details else {}
        value = _UNREADABLE
        if isinstance(details, dict):
            value = {"event": body.system.event, "actor": body.system.actor, **details}
    else:
        value = _to_object(getattr(body, which), strict=strict)
    if strict and not isinstance(value, dict):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "a message body is not a JSON object")
    return value


def _json_object(data: bytes) -> Any:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _UNREADABLE
    return value if isinstance(value, dict) else _UNREADABLE


def _to_object(message: ProtoMessage, *, strict: bool) -> dict[str, Any]:
    """The JSON view of one message: keys present exactly as JSON would have them."""
    out: dict[str, Any] = {}
    for field in _PLANS[message.DESCRIPTOR.full_name].values():
        shape = field.shape
        if shape is _Shape.PLAIN:
            out[field.key] = getattr(message, field.name)
        elif shape is _Shape.MESSAGES or shape is _Shape.SOME_MESSAGES:
            items = getattr(message, field.name)
            if items or shape is _Shape.MESSAGES:
                out[field.key] = [_to_object(item, strict=strict) for item in items]
        elif shape is _Shape.SCALARS:
            values = getattr(message, field.name)
            if values:
                out[field.key] = list(values)
        elif message.HasField(field.name):
            value = getattr(message, field.name)
            if shape is _Shape.BODY:
                value = _body_object(value, strict=strict)
            elif shape is _Shape.NESTED:
                value = _to_object(value, strict=strict)
            out[field.key] = value
        elif shape is _Shape.NULLABLE:
            out[field.key] = None
    return out


def _read_rid(envelope: pb.Envelope) -> Rid:
    which = envelope.WhichOneof("rid")
    if which == "rid_str":
        return envelope.rid_str
    if which == "rid_int":
        return envelope.rid_int
    return None


def _parse(data: bytes) -> pb.Envelope:
    envelope = pb.Envelope()
    try:
        envelope.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise ProtocolError(
            ErrorCode.MALFORMED_FRAME, "frame is not a Protobuf pigeon.v1.Envelope"
        ) from None
    return envelope


def _member(envelope: pb.Envelope, rid: Rid) -> str:
    member = envelope.WhichOneof("frame")
    if member is not None:
        return member
    if len(unknown_fields.UnknownFieldSet(envelope)):  # a frame type newer than this schema
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "unknown frame type", rid)
    raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame sets no member of Envelope.frame", rid)


def decode_command(data: bytes) -> Command:
    """Decode one client frame. Raises ``ProtocolError``; never anything else."""
    envelope = _parse(data)
    rid = _read_rid(envelope)
    member = _member(envelope, rid)
    t = _COMMAND_OF_MEMBER.get(member)
    if t is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {member!r}", rid)
    raw = _to_object(getattr(envelope, member), strict=False)
    raw["t"] = t
    raw["rid"] = rid
    return command_from_object(raw)


def decode_frame(data: bytes) -> Frame:
    """Decode a server frame into the dict the JSON codec yields (used by clients).

    Raises ``ProtocolError`` only.
    """
    envelope = _parse(data)
    rid = _read_rid(envelope)
    member = _member(envelope, rid)
    t = _FRAME_OF_MEMBER.get(member)
    if t is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {member!r}", rid)
    frame: Frame = {"t": t, **_to_object(getattr(envelope, member), strict=True)}
    if rid is not None:
        frame["rid"] = rid
    return frame


# --- JSON view → proto


def _fits(body: dict[str, Any], plan: dict[str, _Field]) -> bool:
    """Whether ``body`` has exactly the shape of a typed body, so nothing is lost."""
    if not body.keys() <= plan.keys():
        return False
    for key, field in plan.items():
        if key not in body:
            if field.shape is not _Shape.OPTIONAL:
                return False
            continue
        value = body[key]
        if field.is_string:
            if not isinstance(value, str):
                return False
        elif field.is_bool:
            if not isinstance(value, bool):
                return False
        elif isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
            return False
    return True


def _fill_body(target: pb.Body, kind: Any, body: dict[str, Any]) -> None:
    target.SetInParent()
    if not body:
        return
    if kind in _TYPED_BODIES:
        typed = getattr(target, kind)
        if _fits(body, _PLANS[typed.DESCRIPTOR.full_name]):
            typed.SetInParent()
            for name, value in body.items():
                setattr(typed, name, value)
            return
    elif kind == "system" and isinstance(body.get("event"), str):
        actor = body.get("actor")
        if isinstance(actor, str):
            details = {k: v for k, v in body.items() if k not in ("event", "actor")}
            target.system.event = body["event"]
            target.system.actor = actor
            if details:
                target.system.details = orjson.dumps(details)
            return
    target.json = orjson.dumps(body)


def _fill(target: ProtoMessage, obj: dict[str, Any]) -> None:
    target.SetInParent()
    plan = _PLANS[target.DESCRIPTOR.full_name]
    for key, value in obj.items():
        if key in ("t", "rid"):
            continue
        field = plan.get(key)
        if field is None:
            raise ValueError(f"{target.DESCRIPTOR.name} has no field {key!r}")
        shape = field.shape
        if value is None:
            if shape not in (_Shape.OPTIONAL, _Shape.NULLABLE, _Shape.BODY, _Shape.NESTED):
                raise ValueError(f"{target.DESCRIPTOR.name}.{key} may not be null")
        elif shape is _Shape.BODY:
            if not isinstance(value, dict):
                raise ValueError(f"{target.DESCRIPTOR.name}.{key} must be an object")
            _fill_body(getattr(target, field.name), obj.get("kind"), value)
        elif shape is _Shape.NESTED:
            if not isinstance(value, dict):
                raise ValueError(f"{target.DESCRIPTOR.name}.{key} must be an object")
            _fill(getattr(target, field.name), value)
        elif shape is _Shape.MESSAGES or shape is _Shape.SOME_MESSAGES:
            container = getattr(target, field.name)
            for item in value:
                _fill(container.add(), item)
        elif shape is _Shape.SCALARS:
            getattr(target, field.name).extend(value)
        else:
            try:
                setattr(target, field.name, value)
            except (TypeError, ValueError) as error:  # protobuf refuses the type or range
                raise ValueError(f"{target.DESCRIPTOR.name}.{key}: {error}") from None


def _encode(obj: dict[str, Any], members: dict[str, str]) -> bytes:
    t = obj.get("t")
    member = members.get(t) if isinstance(t, str) else None
    if member is None:
        raise ValueError(f"not a frame this direction carries: {t!r}")
    envelope = pb.Envelope()
    rid = obj.get("rid")
    try:
        if isinstance(rid, str):
            envelope.rid_str = rid
        elif isinstance(rid, int) and not isinstance(rid, bool):
            envelope.rid_int = rid
        _fill(getattr(envelope, member), obj)
    except TypeError as error:  # protobuf refuses a value of the wrong type
        raise ValueError(str(error)) from None
    return envelope.SerializeToString()


def encode_frame(frame: Frame) -> bytes:
    """Encode a server frame (a ``frames`` dict) as one serialized Envelope.

    Raises ``ValueError`` for a dict that is not a server frame of this schema.
    """
    return _encode(frame, FRAME_MEMBERS)


def encode_command(command: Frame) -> bytes:
    """Encode a client command given as its JSON dict (``{"t": "send", …}``).

    Raises ``ValueError`` for a dict this schema cannot carry.
    """
    return _encode(command, COMMAND_MEMBERS)
