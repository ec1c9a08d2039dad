"""The core's error type; codes come from the shared code space."""

from __future__ import annotations

from pigeon.protocol.errors import ErrorCode, PigeonError


class CoreError(PigeonError):
    """A request the domain refuses (not found, forbidden, invalid, ...)."""


def not_found(code: ErrorCode = ErrorCode.CONVERSATION_NOT_FOUND) -> CoreError:
    return CoreError(code)
