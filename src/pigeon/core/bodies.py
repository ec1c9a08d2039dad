"""Validation of message bodies by kind (docs/protocol.md, "Message kinds")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode

CLIENT_KINDS = ("text", "image", "file", "custom", "recall", "edit", "react", "pin", "unpin")
MAX_FIELD_CHARS = 256


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_text_chars: int
    max_body_bytes: int


def _invalid(message: str) -> CoreError:
    return CoreError(ErrorCode.INVALID_BODY, message)


def _text(body: dict[str, Any], field: str, max_chars: int, *, required: bool = True) -> None:
    value = body.get(field)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"body.{field} must be a non-empty string")
    if len(value) > max_chars:
        raise CoreError(
            ErrorCode.MESSAGE_TOO_LARGE, f"body.{field} is longer than {max_chars} characters"
        )


def _dimension(body: dict[str, Any], field: str) -> None:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
        raise _invalid(f"body.{field} must be a positive integer")


def validate_body(kind: str, body: dict[str, Any], limits: BodyLimits) -> None:
    """Raise ``CoreError`` unless ``body`` fits ``kind`` and the size limits."""
    if kind not in CLIENT_KINDS:
        raise _invalid(f"kind must be one of {', '.join(CLIENT_KINDS)}")
    try:
        encoded = orjson.dumps(body)
    except TypeError:  # REST JSON may hold integers beyond 64 bits, which we cannot store
        raise _invalid("body must hold only JSON values with 64-bit integers") from None
    if len(encoded) > limits.max_body_bytes:
        raise CoreError(
            ErrorCode.MESSAGE_TOO_LARGE, f"body is larger than {limits.max_body_bytes} bytes"
        )
    if kind == "text":
        _text(body, "text", limits.max_text_chars)
    elif kind == "image":
        _text(body, "file_id", MAX_FIELD_CHARS)
        _dimension(body, "width")
        _dimension(body, "height")
        _text(body, "caption", limits.max_text_chars, required=False)
    elif kind == "file":
        _text(body, "file_id", MAX_FIELD_CHARS)
        _text(body, "name", MAX_FIELD_CHARS)
    elif kind == "recall":
        _seq(body)
    elif kind == "edit":
        _seq(body)
        _text(body, "text", limits.max_text_chars)
    elif kind == "react":  # the emoji itself is checked with the reaction (core/marks.py)
        _seq(body)
        if not isinstance(body.get("emoji"), str):
            raise _invalid("body.emoji must be a string")
        if body.get("on") is not None and not isinstance(body["on"], bool):
            raise _invalid("body.on must be true or false when given")
    elif kind in ("pin", "unpin"):
        _seq(body)


def _seq(body: dict[str, Any]) -> None:
    value = body.get("seq")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        raise _invalid("body.seq must be the positive seq of a message")
