"""Opaque identifiers and server time."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


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
