"""Message body validation by kind, with the size limits checked at their exact edge."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.core.bodies import MAX_FIELD_CHARS, BodyLimits, validate_body
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode

LIMITS = BodyLimits(max_text_chars=100, max_body_bytes=1000)


def _code(kind: str, body: dict[str, Any], limits: BodyLimits = LIMITS) -> ErrorCode | None:
    """None when the body is accepted, else the refusal's code."""
    try:
        validate_body(kind, body, limits)
    except CoreError as error:
        return error.code
    return None


def _encoded_size(body: dict[str, Any]) -> int:
    return len(orjson.dumps(body))


# --- each kind


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("text", {"text": "hello"}),
        ("text", {"text": "ünïcødé ✓"}),
        ("image", {"file_id": "f_1", "width": 640, "height": 480}),
        ("image", {"file_id": "f_1", "width": 1, "height": 100_000, "caption": "a cat"}),
        ("file", {"file_id": "f_1", "name": "report.pdf"}),
        ("custom", {}),
        ("custom", {"anything": [1, {"nested": None}], "x": 1.5}),
        ("recall", {"seq": 1}),
        ("recall", {"seq": 2**53 - 1}),
        ("edit", {"seq": 7, "text": "fixed typo"}),
        ("react", {"seq": 7, "emoji": "👍"}),
        ("react", {"seq": 7, "emoji": "👍", "on": False}),
        ("pin", {"seq": 7}),
        ("unpin", {"seq": 7}),
    ],
)
def test_valid_bodies_pass(kind: str, body: dict[str, Any]) -> None:
    assert _code(kind, body) is None


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("text", {}),
        ("text", {"text": ""}),
        ("text", {"text": "   \n\t"}),
        ("text", {"text": 5}),
        ("text", {"text": None}),
        ("image", {"width": 1, "height": 1}),
        ("image", {"file_id": "f", "width": 0, "height": 1}),
        ("image", {"file_id": "f", "width": 1, "height": 100_001}),
        ("image", {"file_id": "f", "width": True, "height": 1}),
        ("image", {"file_id": "f", "width": 1.0, "height": 1}),
        ("image", {"file_id": "f", "width": 1, "height": 1, "caption": ""}),
        ("image", {"file_id": "f", "width": 1, "height": 1, "caption": 3}),
        ("file", {"file_id": "f"}),
        ("file", {"name": "n"}),
        ("file", {"file_id": "", "name": "n"}),
        ("recall", {}),
        ("recall", {"seq": 0}),
        ("recall", {"seq": True}),
        ("recall", {"seq": "3"}),
        ("recall", {"seq": 2**53}),
        ("edit", {"seq": 3}),
        ("edit", {"text": "no target"}),
        ("edit", {"seq": 3, "text": " "}),
        ("react", {"seq": 3}),
        ("react", {"emoji": "👍"}),
        ("react", {"seq": 3, "emoji": 1}),
        ("react", {"seq": 3, "emoji": "👍", "on": "yes"}),
        ("pin", {}),
        ("unpin", {"seq": 0}),
    ],
)
def test_bodies_that_do_not_match_their_kind(kind: str, body: dict[str, Any]) -> None:
    assert _code(kind, body) == ErrorCode.INVALID_BODY


@pytest.mark.parametrize("kind", ["system", "", "TEXT", "video"])
def test_kinds_clients_may_not_send(kind: str) -> None:
    assert _code(kind, {"text": "x", "seq": 1}) == ErrorCode.INVALID_BODY


# --- limits at the exact edge


def test_text_at_max_chars_passes_and_one_over_fails() -> None:
    limit = LIMITS.max_text_chars
    assert _code("text", {"text": "a" * limit}) is None
    assert _code("text", {"text": "a" * (limit + 1)}) == ErrorCode.MESSAGE_TOO_LARGE


def test_text_limit_counts_characters_not_bytes() -> None:
    limits = BodyLimits(max_text_chars=10, max_body_bytes=10_000)
    assert _code("text", {"text": "é" * 10}, limits) is None  # 20 bytes, 10 characters
    assert _code("text", {"text": "é" * 11}, limits) == ErrorCode.MESSAGE_TOO_LARGE


def test_edit_text_uses_the_text_limit() -> None:
    limit = LIMITS.max_text_chars
    assert _code("edit", {"seq": 1, "text": "e" * limit}) is None
    assert _code("edit", {"seq": 1, "text": "e" * (limit + 1)}) == ErrorCode.MESSAGE_TOO_LARGE


def test_caption_uses_the_text_limit() -> None:
    body = {"file_id": "f", "width": 1, "height": 1}
    limit = LIMITS.max_text_chars
    assert _code("image", {**body, "caption": "c" * limit}) is None
    assert _code("image", {**body, "caption": "c" * (limit + 1)}) == ErrorCode.MESSAGE_TOO_LARGE


@pytest.mark.parametrize("field", ["file_id", "name"])
def test_file_fields_at_their_limit(field: str) -> None:
    body = {"file_id": "f", "name": "n"}
    assert _code("file", {**body, field: "x" * MAX_FIELD_CHARS}) is None
    assert (
        _code("file", {**body, field: "x" * (MAX_FIELD_CHARS + 1)}) == ErrorCode.MESSAGE_TOO_LARGE
    )


def _body_of_size(field: str, size: int) -> dict[str, Any]:
    """``{field: "ppp…"}`` whose JSON encoding is exactly ``size`` bytes."""
    body = {field: "p" * (size - _encoded_size({field: ""}))}
    assert _encoded_size(body) == size
    return body


@pytest.mark.parametrize(("kind", "field"), [("custom", "pad"), ("text", "text")])
def test_body_at_max_bytes_passes_and_one_over_fails(kind: str, field: str) -> None:
    limits = BodyLimits(max_text_chars=10_000, max_body_bytes=500)
    assert _code(kind, _body_of_size(field, 500), limits) is None
    assert _code(kind, _body_of_size(field, 501), limits) == ErrorCode.MESSAGE_TOO_LARGE


def test_body_limit_counts_encoded_bytes() -> None:
    limits = BodyLimits(max_text_chars=10_000, max_body_bytes=100)
    # 50 two-byte characters plus the JSON around them is over 100 bytes; 50 ASCII ones is not.
    assert _code("text", {"text": "é" * 50}, limits) == ErrorCode.MESSAGE_TOO_LARGE
    assert _code("text", {"text": "e" * 50}, limits) is None


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_an_invalid_body(number: int) -> None:
    # REST bodies are parsed by the standard json module, which keeps big integers.
    assert _code("custom", {"n": number}) == ErrorCode.INVALID_BODY
    assert _code("text", {"text": "x", "extra": [number]}) == ErrorCode.INVALID_BODY


@settings(max_examples=200)
@given(
    kind=st.sampled_from(["text", "image", "file", "custom", "recall", "edit", "system"]),
    body=st.dictionaries(
        st.sampled_from(["text", "file_id", "name", "width", "height", "caption", "seq", "x"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=300) | st.lists(st.integers()),
        max_size=6,
    ),
)
def test_any_body_is_accepted_or_refused_with_a_body_code(kind: str, body: dict[str, Any]) -> None:
    assert _code(kind, body) in (None, ErrorCode.INVALID_BODY, ErrorCode.MESSAGE_TOO_LARGE)
