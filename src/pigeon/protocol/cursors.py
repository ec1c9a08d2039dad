"""The one codec for paging cursors and for integers read from client text.

Cursors are opaque to clients but they come back from them, so every part is
parsed strictly: ASCII digits only (``str.isdigit`` also accepts ``"²"``, which
``int`` then refuses), values within ``MAX_CLIENT_INT`` (a larger number would
overflow a 64-bit database column), ids checked as identifiers. Anything else
is ``INVALID_CURSOR`` (40008) — never an exception from deeper down.
"""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.text import TextKind, check

#: The largest integer a client may send anywhere (seqs, timestamps, cursors):
#: the largest integer a JSON number carries exactly in every client language.
MAX_CLIENT_INT = 2**53 - 1

#: Every conversation's seqs start here, so a seq that names a message
#: (``reply_to``) is at least this; positions (``after``, a read mark) may be 0.
FIRST_SEQ = 1
_MAX_DIGITS = len(str(MAX_CLIENT_INT))
_ASCII_DIGITS = frozenset("0123456789")


class CursorError(PigeonError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(ErrorCode.INVALID_CURSOR, message)


def parse_client_int(raw: str) -> int | None:
    """A non-negative decimal integer of at most ``MAX_CLIENT_INT``, or None."""
    if not raw or len(raw) > _MAX_DIGITS or not set(raw) <= _ASCII_DIGITS:
        return None
    value = int(raw)
    return value if value <= MAX_CLIENT_INT else None


def _int_part(raw: str) -> int:
    value = parse_client_int(raw)
    if value is None:
        raise CursorError()
    return value


def _id_part(raw: str) -> str:
    if not raw or len(raw) > 64 or check(TextKind.IDENTIFIER, raw) is not None:
        raise CursorError()
    return raw


def decode_sync_cursor(raw: str) -> int:
    """A ``sync`` cursor: the change counter value the previous page ended at."""
    return _int_part(raw)


def encode_sync_cursor(change_id: int) -> str:
    return str(change_id)


def decode_search_cursor(raw: str) -> int:
    """A message-search cursor: the index position the previous page ended above."""
    return _int_part(raw)


def encode_search_cursor(position: int) -> str:
    return str(position)


@dataclass(frozen=True, slots=True)
class ListCursor:
    """Conversation list position: pinned first, then newest activity, then id."""

    pinned: bool
    last_ts: int
    conv_id: str

    def encode(self) -> str:
        return f"{int(self.pinned)}.{self.last_ts}.{self.conv_id}"

    @classmethod
    def decode(cls, raw: str) -> ListCursor:
        parts = raw.split(".", 2)
        if len(parts) != 3 or parts[0] not in ("0", "1"):
            raise CursorError()
        return cls(parts[0] == "1", _int_part(parts[1]), _id_part(parts[2]))


@dataclass(frozen=True, slots=True)
class MemberCursor:
    """Member list position: join time, then user id."""

    joined_at: int
    user_id: str

    def encode(self) -> str:
        return f"{self.joined_at}.{self.user_id}"

    @classmethod
    def decode(cls, raw: str) -> MemberCursor:
        joined, dot, user_id = raw.partition(".")
        if not dot:
            raise CursorError()
        return cls(_int_part(joined), _id_part(user_id))


def decode_audit_cursor(raw: str) -> int:
    """An audit-log cursor: the id of the last (oldest) row of the previous page."""
    return _int_part(raw)


def encode_audit_cursor(row_id: int) -> str:
    return str(row_id)


def decode_key_cursor(raw: str) -> str:
    """A list cursor that is the key (a username, a user id) the previous page ended at."""
    return _id_part(raw)
