"""Opaque identifiers and server time."""

from __future__ import annotations

import enum
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


class IdPrefix(enum.StrEnum):
    """Every kind of id has its own prefix, so an id says what it names.

    Ids are compared whole and never parsed, so a prefix may change for new ids while
    stored ones stay valid (friend requests were once ``f_``, like files).
    """

    USER = "u_"
    CONVERSATION = "c_"
    MESSAGE = "m_"
    SYSTEM_CID = "sys_"
    LOGIN = "s_"
    DEVICE = "d_"
    FILE = "f_"
    FRIEND_REQUEST = "fr_"
    INCOMING_HOOK = "ih_"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """``prefix`` + 26 base32 chars: 48 bits of ms time then 80 random bits.

    Time first keeps ids of one kind roughly ordered, which keeps B-tree inserts local.
    """
    value = (now_ms() << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return prefix + "".join(reversed(chars))
