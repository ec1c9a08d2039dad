"""Stable error codes shared by REST envelopes and WebSocket ``error`` frames.

A code is five digits; its first three are the HTTP status it maps to, so
``code // 100`` is the status a REST response carries. Codes are part of the
public contract: never renumber one, only add.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    BAD_REQUEST = 40000
    MALFORMED_FRAME = 40001
    UNKNOWN_TYPE = 40002
    INVALID_BODY = 40003
    INVALID_USERNAME = 40004
    WEAK_PASSWORD = 40005
    HEAD_TIMEOUT = 40020
    NOT_AUTHENTICATED = 40100
    BAD_CREDENTIALS = 40101
    TOKEN_INVALID = 40102
    TOKEN_EXPIRED = 40103
    TOKEN_REVOKED = 40104
    REFRESH_INVALID = 40105
    FORBIDDEN = 40300
    ACCOUNT_DISABLED = 40301
    BLOCKED = 40302
    FRIENDS_ONLY = 40303
    MUTED = 40304
    NOT_ADMIN = 40305
    FILE_URL_EXPIRED = 40310
    FILE_URL_INVALID = 40311
    NOT_FOUND = 40400
    USER_NOT_FOUND = 40401
    CONVERSATION_NOT_FOUND = 40402
    MESSAGE_NOT_FOUND = 40403
    FILE_NOT_FOUND = 40404
    CONFLICT = 40900
    USERNAME_TAKEN = 40901
    ALREADY_AUTHENTICATED = 40902
    GROUP_FULL = 40903
    ALREADY_EXISTS = 40904
    UPLOAD_OFFSET_MISMATCH = 40910
    FILE_IN_USE = 40911
    TUS_VERSION_UNSUPPORTED = 41200
    TOO_LARGE = 41300
    MESSAGE_TOO_LARGE = 41301
    FILE_TOO_LARGE = 41310
    UNSUPPORTED_MEDIA_TYPE = 41500
    RATE_LIMITED = 42900
    TOO_MANY_CONNECTIONS = 42901
    INTERNAL = 50000
    UNAVAILABLE = 50300

    @property
    def http_status(self) -> int:
        return int(self) // 100


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "request is invalid",
    ErrorCode.MALFORMED_FRAME: "frame is not a JSON object with a string field 't'",
    ErrorCode.UNKNOWN_TYPE: "unknown frame type",
    ErrorCode.INVALID_BODY: "message body does not match its kind",
    ErrorCode.INVALID_USERNAME: "username must be 3-32 characters: letters, digits, '_', '.', '-'",
    ErrorCode.WEAK_PASSWORD: "password must be 8-128 characters",
    ErrorCode.HEAD_TIMEOUT: "the request line and headers did not arrive in time",
    ErrorCode.NOT_AUTHENTICATED: "authentication required",
    ErrorCode.BAD_CREDENTIALS: "wrong username or password",
    ErrorCode.TOKEN_INVALID: "token is invalid",
    ErrorCode.TOKEN_EXPIRED: "token has expired",
    ErrorCode.TOKEN_REVOKED: "token has been revoked",
    ErrorCode.REFRESH_INVALID: "refresh token is invalid, expired or already used",
    ErrorCode.FORBIDDEN: "not allowed",
    ErrorCode.ACCOUNT_DISABLED: "account is disabled",
    ErrorCode.BLOCKED: "this user does not accept that from you",
    ErrorCode.FRIENDS_ONLY: "this user accepts direct messages from friends only",
    ErrorCode.MUTED: "you are muted in this conversation",
    ErrorCode.NOT_ADMIN: "only the group's owner or admins may do that",
    ErrorCode.FILE_URL_EXPIRED: "this file link has expired; ask for a fresh one",
    ErrorCode.FILE_URL_INVALID: "this file link is not valid",
    ErrorCode.NOT_FOUND: "not found",
    ErrorCode.USER_NOT_FOUND: "user not found",
    ErrorCode.CONVERSATION_NOT_FOUND: "conversation not found",
    ErrorCode.MESSAGE_NOT_FOUND: "message not found",
    ErrorCode.FILE_NOT_FOUND: "file not found",
    ErrorCode.CONFLICT: "conflict",
    ErrorCode.USERNAME_TAKEN: "username is taken",
    ErrorCode.ALREADY_AUTHENTICATED: "connection is already authenticated",
    ErrorCode.GROUP_FULL: "the group is full",
    ErrorCode.ALREADY_EXISTS: "it exists already",
    ErrorCode.UPLOAD_OFFSET_MISMATCH: "Upload-Offset does not match the bytes received",
    ErrorCode.FILE_IN_USE: "the file is referenced by messages",
    ErrorCode.TUS_VERSION_UNSUPPORTED: "Tus-Resumable must be 1.0.0",
    ErrorCode.TOO_LARGE: "request is too large",
    ErrorCode.MESSAGE_TOO_LARGE: "message body is too large",
    ErrorCode.FILE_TOO_LARGE: "file is larger than the upload limit",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "unsupported Content-Type",
    ErrorCode.RATE_LIMITED: "too many requests; slow down",
    ErrorCode.TOO_MANY_CONNECTIONS: "too many connections from this address",
    ErrorCode.INTERNAL: "internal server error",
    ErrorCode.UNAVAILABLE: "service unavailable; retry shortly",
}


class PigeonError(Exception):
    """Base of every error that reaches a client: a stable code, a human message, details.

    Each package subclasses it once (``ProtocolError``, ``CoreError``, ...) so a
    handler can tell where an error came from while clients see one code space.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        self.details = details
        super().__init__(f"{int(code)} {self.message}")
