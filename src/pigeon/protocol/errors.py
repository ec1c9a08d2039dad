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
    INVALID_CHARACTERS = 40006
    BLANK_TEXT = 40007
    INVALID_CURSOR = 40008
    NUMBER_OUT_OF_RANGE = 40009
    UNSTORABLE = 40010
    SELF_TARGET = 40011
    HEAD_TIMEOUT = 40020
    MULTIPART_INVALID = 40030
    MULTIPART_INCOMPLETE = 40031
    QUERY_TOO_SHORT = 40032
    AVATAR_NOT_UPLOADED = 40033
    LINE_TOO_LONG = 40040
    INVALID_UTF8 = 40041
    UNKNOWN_COMMAND = 40042
    SEARCH_QUERY_EMPTY = 40050
    SEARCH_QUERY_TOO_LONG = 40051
    PUSH_SUBSCRIPTION_INVALID = 40060
    TOO_MANY_PUSH_SUBSCRIPTIONS = 40061
    INVALID_NOTIFICATION_SETTINGS = 40062
    BOT_WEBHOOK_INVALID = 40070
    HOOK_PAYLOAD_INVALID = 40071
    TOO_MANY_HOOKS = 40072
    EXPORT_TOO_LARGE = 40090
    INVALID_EMOJI = 40080
    TOO_MANY_REACTIONS = 40081
    TOO_MANY_PINS = 40082
    NOT_AUTHENTICATED = 40100
    BAD_CREDENTIALS = 40101
    TOKEN_INVALID = 40102
    TOKEN_EXPIRED = 40103
    TOKEN_REVOKED = 40104
    REFRESH_INVALID = 40105
    BOT_TOKEN_INVALID = 40106
    FORBIDDEN = 40300
    ACCOUNT_DISABLED = 40301
    BLOCKED = 40302
    FRIENDS_ONLY = 40303
    MUTED = 40304
    NOT_ADMIN = 40305
    NOT_A_BOT = 40306
    BOT_NOT_FRIENDABLE = 40307
    FILE_URL_EXPIRED = 40310
    FILE_URL_INVALID = 40311
    BOT_NOT_SELF_DELETABLE = 40340
    TOO_MANY_PENDING_UPLOADS = 40330
    NOT_SERVER_ADMIN = 40350
    BANNED = 40351
    NOT_FOUND = 40400
    USER_NOT_FOUND = 40401
    CONVERSATION_NOT_FOUND = 40402
    MESSAGE_NOT_FOUND = 40403
    FILE_NOT_FOUND = 40404
    PUSH_SUBSCRIPTION_NOT_FOUND = 40460
    HOOK_NOT_FOUND = 40470
    PIN_NOT_FOUND = 40480
    METHOD_NOT_ALLOWED = 40500
    CONFLICT = 40900
    USERNAME_TAKEN = 40901
    ALREADY_AUTHENTICATED = 40902
    GROUP_FULL = 40903
    ALREADY_EXISTS = 40904
    UPLOAD_OFFSET_MISMATCH = 40910
    FILE_IN_USE = 40911
    REACTION_UNCHANGED = 40920
    ALREADY_PINNED = 40921
    TUS_VERSION_UNSUPPORTED = 41200
    TOO_LARGE = 41300
    MESSAGE_TOO_LARGE = 41301
    FILE_TOO_LARGE = 41310
    STORAGE_QUOTA_EXCEEDED = 41311
    URI_TOO_LONG = 41400
    UNSUPPORTED_MEDIA_TYPE = 41500
    RATE_LIMITED = 42900
    TOO_MANY_CONNECTIONS = 42901
    SEND_RATE_LIMITED = 42910
    LOGIN_SLOWED = 42911
    UPLOAD_RATE_LIMITED = 42912
    HOOK_RATE_LIMITED = 42913
    NOT_FORWARDABLE = 40085
    MESSAGE_REMOVED = 41000
    EXPORT_RATE_LIMITED = 42920
    HEADERS_TOO_LARGE = 43100
    INTERNAL = 50000
    TRANSFER_CODING_UNSUPPORTED = 50100
    HANDLER_TIMEOUT = 50400
    UNAVAILABLE = 50300

    @property
    def http_status(self) -> int:
        return int(self) // 100


# HTTP statuses whose codes say "the same request, repeated later, can succeed":
# a rate limit, or trouble on the server's side rather than in the request.
_TRANSIENT_STATUSES = frozenset({429, 500, 503, 504})


def is_transient(code: int) -> bool:
    """Whether a request answered with ``code`` may succeed if repeated later unchanged."""
    return code // 100 in _TRANSIENT_STATUSES


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "request is invalid",
    ErrorCode.MALFORMED_FRAME: "frame is not a JSON object with a string field 't'",
    ErrorCode.UNKNOWN_TYPE: "unknown frame type",
    ErrorCode.INVALID_BODY: "message body does not match its kind",
    ErrorCode.INVALID_USERNAME: "username must be 3-32 characters: letters, digits, '_', '.', '-'",
    ErrorCode.WEAK_PASSWORD: "password must be 8-128 characters",
    ErrorCode.INVALID_CHARACTERS: "text contains a character this field does not allow",
    ErrorCode.BLANK_TEXT: "this field needs at least one visible character",
    ErrorCode.INVALID_CURSOR: "cursor is not one this server issued",
    ErrorCode.NUMBER_OUT_OF_RANGE: "a number is out of range or not finite",
    ErrorCode.UNSTORABLE: "the store cannot accept this message; resending it will not help",
    ErrorCode.SELF_TARGET: "this needs another user; it names you",
    ErrorCode.HEAD_TIMEOUT: "the request line and headers did not arrive in time",
    ErrorCode.MULTIPART_INVALID: "multipart body is malformed",
    ErrorCode.MULTIPART_INCOMPLETE: "multipart body ends before its closing boundary",
    ErrorCode.QUERY_TOO_SHORT: "search query is too short",
    ErrorCode.AVATAR_NOT_UPLOADED: "avatar must be an image you uploaded",
    ErrorCode.LINE_TOO_LONG: "line is longer than the line-mode limit",
    ErrorCode.INVALID_UTF8: "line is not valid UTF-8",
    ErrorCode.UNKNOWN_COMMAND: "unknown command; /help lists the commands",
    ErrorCode.SEARCH_QUERY_EMPTY: "search query needs at least one visible character",
    ErrorCode.SEARCH_QUERY_TOO_LONG: "search query is too long",
    ErrorCode.PUSH_SUBSCRIPTION_INVALID: "push subscription needs an http(s) endpoint and "
    "the browser's p256dh and auth keys",
    ErrorCode.TOO_MANY_PUSH_SUBSCRIPTIONS: "too many push subscriptions; delete an old one",
    ErrorCode.INVALID_NOTIFICATION_SETTINGS: "notification settings are invalid",
    ErrorCode.BOT_WEBHOOK_INVALID: "webhook needs an http(s) URL and events from: message, mention",
    ErrorCode.HOOK_PAYLOAD_INVALID: "webhook body must be a JSON object with a non-empty text",
    ErrorCode.TOO_MANY_HOOKS: "too many webhooks in this conversation; delete one first",
    ErrorCode.EXPORT_TOO_LARGE: "your data is larger than an export may be; ask the operator",
    ErrorCode.INVALID_EMOJI: "a reaction is one emoji",
    ErrorCode.TOO_MANY_REACTIONS: "this message has as many different reactions as it may have",
    ErrorCode.TOO_MANY_PINS: "this conversation has as many pinned messages as it may have; unpin one",
    ErrorCode.NOT_AUTHENTICATED: "authentication required",
    ErrorCode.BAD_CREDENTIALS: "wrong username or password",
    ErrorCode.TOKEN_INVALID: "token is invalid",
    ErrorCode.TOKEN_EXPIRED: "token has expired",
    ErrorCode.TOKEN_REVOKED: "token has been revoked",
    ErrorCode.REFRESH_INVALID: "refresh token is invalid, expired or already used",
    ErrorCode.BOT_TOKEN_INVALID: "bot token is invalid or revoked",
    ErrorCode.FORBIDDEN: "not allowed",
    ErrorCode.ACCOUNT_DISABLED: "account is disabled",
    ErrorCode.BLOCKED: "this user does not accept that from you",
    ErrorCode.FRIENDS_ONLY: "this user accepts direct messages from friends only",
    ErrorCode.MUTED: "you are muted in this conversation",
    ErrorCode.NOT_ADMIN: "only the group's owner or admins may do that",
    ErrorCode.NOT_A_BOT: "only bot accounts may do that",
    ErrorCode.BOT_NOT_FRIENDABLE: "bots do not take friend requests",
    ErrorCode.FILE_URL_EXPIRED: "this file link has expired; ask for a fresh one",
    ErrorCode.FILE_URL_INVALID: "this file link is not valid",
    ErrorCode.BOT_NOT_SELF_DELETABLE: "a bot account is deleted by an operator (pigeon bot revoke)",
    ErrorCode.TOO_MANY_PENDING_UPLOADS: "too many unfinished uploads; finish or delete one first",
    ErrorCode.NOT_SERVER_ADMIN: "only server admins may do that",
    ErrorCode.BANNED: "banned from this group",
    ErrorCode.NOT_FOUND: "not found",
    ErrorCode.USER_NOT_FOUND: "user not found",
    ErrorCode.CONVERSATION_NOT_FOUND: "conversation not found",
    ErrorCode.MESSAGE_NOT_FOUND: "message not found",
    ErrorCode.FILE_NOT_FOUND: "file not found",
    ErrorCode.PUSH_SUBSCRIPTION_NOT_FOUND: "push subscription not found",
    ErrorCode.HOOK_NOT_FOUND: "webhook not found",
    ErrorCode.PIN_NOT_FOUND: "that message is not pinned",
    ErrorCode.METHOD_NOT_ALLOWED: "this path does not accept that method; see Allow",
    ErrorCode.CONFLICT: "conflict",
    ErrorCode.USERNAME_TAKEN: "username is taken",
    ErrorCode.ALREADY_AUTHENTICATED: "connection is already authenticated",
    ErrorCode.GROUP_FULL: "the group is full",
    ErrorCode.ALREADY_EXISTS: "it exists already",
    ErrorCode.UPLOAD_OFFSET_MISMATCH: "Upload-Offset does not match the bytes received",
    ErrorCode.FILE_IN_USE: "the file is referenced by messages",
    ErrorCode.REACTION_UNCHANGED: "your reaction is already so",
    ErrorCode.ALREADY_PINNED: "that message is pinned already",
    ErrorCode.TUS_VERSION_UNSUPPORTED: "Tus-Resumable must be 1.0.0",
    ErrorCode.TOO_LARGE: "request is too large",
    ErrorCode.MESSAGE_TOO_LARGE: "message body is too large",
    ErrorCode.FILE_TOO_LARGE: "file is larger than the upload limit",
    ErrorCode.STORAGE_QUOTA_EXCEEDED: "your storage quota is used up; delete unused uploads",
    ErrorCode.URI_TOO_LONG: "the request line is longer than the server reads",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "unsupported Content-Type",
    ErrorCode.RATE_LIMITED: "too many requests; slow down",
    ErrorCode.TOO_MANY_CONNECTIONS: "too many connections from this address",
    ErrorCode.SEND_RATE_LIMITED: "your devices together send too fast; slow down",
    ErrorCode.LOGIN_SLOWED: "too many failed sign-ins to this account; try again later",
    ErrorCode.UPLOAD_RATE_LIMITED: "too many uploads; slow down",
    ErrorCode.HOOK_RATE_LIMITED: "this webhook posts too fast; slow down",
    ErrorCode.NOT_FORWARDABLE: "only text, image, file and custom messages that were not "
    "recalled can be forwarded",
    ErrorCode.MESSAGE_REMOVED: "that message was removed: the conversation keeps messages "
    "for a limited time",
    ErrorCode.EXPORT_RATE_LIMITED: "you exported your data a short while ago; try again later",
    ErrorCode.HEADERS_TOO_LARGE: "a header line is too long or there are too many headers",
    ErrorCode.INTERNAL: "internal server error",
    ErrorCode.TRANSFER_CODING_UNSUPPORTED: "only the chunked transfer coding is supported",
    ErrorCode.HANDLER_TIMEOUT: "the server gave up on this request; retry",
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
