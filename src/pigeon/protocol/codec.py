"""JSON codec: bytes/str ⇄ typed commands and server frames.

Decoding validates shape (types, required fields, cid length) and characters:
every string field follows its ``protocol.text`` rule, exactly as the REST
schemas do. Limits that depend on configuration (text length, body bytes) are
enforced by the core.
Every failure raises ``ProtocolError`` carrying the request's ``rid`` and ``cid``
when they could be read, so the error frame can be matched to its request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from pigeon.protocol.cursors import FIRST_SEQ, MAX_CLIENT_INT
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.frames import (
    Auth,
    Command,
    Forward,
    Frame,
    Ping,
    Pull,
    Read,
    Recv,
    Rid,
    Send,
    Sync,
    Typing,
)
from pigeon.protocol.text import TextKind, TextViolation, check, check_body

MAX_CID_CHARS = 64
MAX_ID_CHARS = 64
MAX_TOKEN_CHARS = 4096
MAX_DEVICE_CHARS = 64
MAX_MENTIONS = 100


class ProtocolError(PigeonError):
    """A frame that cannot be decoded into a command."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        rid: Rid = None,
        cid: str | None = None,
    ) -> None:
        super().__init__(code, message)
        self.rid = rid
        self.cid = cid


class _Fields:
    """Typed accessors over one decoded frame object; each failure names the field."""

    def __init__(self, raw: dict[str, Any], rid: Rid, cid: str | None) -> None:
        self.raw = raw
        self.rid = rid
        self.cid = cid

    def fail(self, name: str, expected: str) -> ProtocolError:
        return ProtocolError(
            ErrorCode.BAD_REQUEST, f"field '{name}' must be {expected}", self.rid, self.cid
        )

    def refuse(self, name: str, violation: TextViolation) -> ProtocolError:
        return ProtocolError(
            violation.code, f"field '{name}' {violation.reason}", self.rid, self.cid
        )

    def text(
        self,
        name: str,
        max_chars: int,
        *,
        required: bool = True,
        kind: TextKind = TextKind.IDENTIFIER,
    ) -> str | None:
        value = self.raw.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
            raise self.fail(name, f"a string of 1-{max_chars} characters")
        violation = check(kind, value)
        if violation is not None:
            raise self.refuse(name, violation)
        return value

    def required_text(self, name: str, max_chars: int) -> str:
        value = self.text(name, max_chars)
        assert value is not None
        return value

    def seq(self, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
        value = self.raw.get(name)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "an integer")
        if not minimum <= value <= MAX_CLIENT_INT:
            # The same code and words as the REST schemas' integer rule.
            raise ProtocolError(
                ErrorCode.NUMBER_OUT_OF_RANGE,
                f"field '{name}' must be between {minimum} and {MAX_CLIENT_INT}",
                self.rid,
                self.cid,
            )
        return value

    def required_seq(self, name: str) -> int:
        value = self.seq(name)
        assert value is not None
        return value

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value

    def body(self) -> dict[str, Any]:
        value = self.raw.get("body")
        if not isinstance(value, dict):
            raise self.fail("body", "a JSON object")
        violation = check_body(value)
        if violation is not None:
            raise self.refuse("body", violation)
        return value

    def mentions(self) -> tuple[str, ...] | None:
        value = self.raw.get("mentions")
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) > MAX_MENTIONS
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_ID_CHARS for v in value)
        ):
            raise self.fail("mentions", f"a list of at most {MAX_MENTIONS} user ids")
        for item in value:
            violation = check(TextKind.IDENTIFIER, item)
            if violation is not None:
                raise self.refuse("mentions", violation)
        return tuple(dict.fromkeys(value)) or None  # an empty list mentions no one


def _auth(f: _Fields) -> Auth:
    return Auth(
        token=f.required_text("token", MAX_TOKEN_CHARS),
        device=f.text("device", MAX_DEVICE_CHARS, required=False, kind=TextKind.NAME),
        rid=f.rid,
    )


def _forward(f: _Fields) -> Forward | None:
    """A forward's source; it replaces ``kind`` and ``body`` (Protobuf sends kind "")."""
    value = f.raw.get("forward")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise f.fail("forward", "an object {conv, seq}")
    if f.raw.get("body") is not None or f.raw.get("kind") not in (None, ""):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "a forward carries no kind or body", f.rid, f.cid
        )
    source = _Fields(value, f.rid, f.cid)
    return Forward(conv=source.required_text("conv", MAX_ID_CHARS), seq=_source_seq(source))


def _source_seq(f: _Fields) -> int:
    seq = f.seq("seq", minimum=FIRST_SEQ)
    assert seq is not None
    return seq


def _send(f: _Fields) -> Send:
    cid = f.required_text("cid", MAX_CID_CHARS)
    f.cid = cid
    forward = _forward(f)
    if forward is not None:
        return Send(
            cid=cid,
            conv=f.required_text("conv", MAX_ID_CHARS),
            kind="",
            body={},
            reply_to=f.seq("reply_to", required=False, minimum=FIRST_SEQ),
            mentions=f.mentions(),
            rid=f.rid,
            forward=forward,
        )
    return Send(
        cid=cid,
        conv=f.required_text("conv", MAX_ID_CHARS),
        kind=f.required_text("kind", 32),
        body=f.body(),
        reply_to=f.seq("reply_to", required=False, minimum=FIRST_SEQ),
        mentions=f.mentions(),
        rid=f.rid,
    )


def _pull(f: _Fields) -> Pull:
    limit = f.seq("limit", required=False)
    if limit == 0:
        raise f.fail("limit", "a positive integer")
    return Pull(
        conv=f.required_text("conv", MAX_ID_CHARS),
        after=f.seq("after", required=False),
        before=f.seq("before", required=False),
        limit=limit,
        rid=f.rid,
    )


def _sync(f: _Fields) -> Sync:
    return Sync(cursor=f.text("cursor", 256, required=False), rid=f.rid)


def _read(f: _Fields) -> Read:
    return Read(conv=f.required_text("conv", MAX_ID_CHARS), seq=f.required_seq("seq"), rid=f.rid)


def _recv(f: _Fields) -> Recv:
    return Recv(conv=f.required_text("conv", MAX_ID_CHARS), seq=f.required_seq("seq"), rid=f.rid)


def _typing(f: _Fields) -> Typing:
    return Typing(conv=f.required_text("conv", MAX_ID_CHARS), on=f.flag("on"), rid=f.rid)


def _ping(f: _Fields) -> Ping:
    return Ping(rid=f.rid)


_DECODERS: dict[str, Callable[[_Fields], Command]] = {
    "auth": _auth,
    "send": _send,
    "pull": _pull,
    "sync": _sync,
    "read": _read,
    "recv": _recv,
    "typing": _typing,
    "ping": _ping,
}

COMMAND_TYPES = frozenset(_DECODERS)


def _read_rid(raw: dict[str, Any]) -> Rid:
    rid = raw.get("rid")
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        return None
    if isinstance(rid, str) and len(rid) > MAX_ID_CHARS:
        return None
    return rid


def decode_command(data: str | bytes) -> Command:
    """Decode one client frame. Raises ``ProtocolError``; never anything else."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame is not valid JSON") from None
    if not isinstance(raw, dict):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME)
    return command_from_object(raw)


def command_from_object(raw: dict[str, Any]) -> Command:
    """Validate one decoded client frame (JSON keys) and build its command.

    Every codec funnels into this, so one set of field rules applies to all of them.
    Raises ``ProtocolError``; never anything else.
    """
    rid = _read_rid(raw)
    kind = raw.get("t")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, rid=rid)
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:32]!r}", rid)
    return decoder(_Fields(raw, rid, None))


def encode_frame(frame: Frame) -> str:
    """Encode a server frame as the text of one WebSocket message."""
    return orjson.dumps(frame).decode()


def decode_frame(data: str | bytes) -> Frame:
    """Decode a server frame (used by clients). Raises ``ProtocolError`` only."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.MALFORMED_FRAME, "frame is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.MALFORMED_FRAME)
    return value
