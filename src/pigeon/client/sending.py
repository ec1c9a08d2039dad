"""What every send carries, over REST or the live connection: a client id and a body."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any


def new_cid() -> str:
    """A fresh client message id: random, so retries from any process stay distinct."""
    return "c" + secrets.token_urlsafe(15)


def message_body(kind: str, body: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The body to send: a plain string is shorthand for a ``text`` body."""
    if isinstance(body, str):
        if kind != "text":
            raise ValueError("a string body is only shorthand for kind 'text'")
        return {"text": body}
    return dict(body or {})
