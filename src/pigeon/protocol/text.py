"""Character rules for every piece of client text that can reach the store.

Each text field belongs to one ``TextKind``; its rule lives here and nowhere
else. The WebSocket codec, the REST schemas and the HTTP edge (path segments,
query parameters) all ask ``check`` and answer a violation with the same code:
``INVALID_CHARACTERS`` (40006) for a character the field does not allow,
``BLANK_TEXT`` (40007) for a name with nothing visible in it.

Why these rules: PostgreSQL refuses U+0000 in text and no database takes a lone
surrogate, so such input must never reach a commit shared with other users;
control characters have no meaning in one-line fields; bidirectional overrides
in a name let it pose as another (``"exe.txt"`` drawn right to left).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pigeon.protocol.errors import ErrorCode


class TextKind(Enum):
    """What a field holds, and therefore which characters it may contain."""

    #: ids, cids, message kinds, tokens, cursors, avatar references: printable
    #: characters only, no whitespace (so no control, format or private-use ones).
    IDENTIFIER = "identifier"
    #: display names, group titles, device names, file names: one visible line,
    #: no bidi overrides/isolates, not blank.
    NAME = "name"
    #: one line of free text: search queries, path segments, query parameters.
    LINE = "line"
    #: message text, announcements, friend-request notes: may keep tab and line breaks.
    PROSE = "prose"


# Explicit embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_CONTROLS = "\x00-\x1f\x7f-\x9f"  # Unicode category Cc
_PROSE_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # Cc except tab, LF, CR
_SURROGATES = "\ud800-\udfff"  # lone surrogates cannot be encoded for any database
_LINE_BREAKS = "\u2028\u2029"  # categories Zl and Zp
_FORBIDDEN = {
    TextKind.NAME: re.compile(f"[{_CONTROLS}{_SURROGATES}{_LINE_BREAKS}{BIDI_CONTROLS}]"),
    TextKind.LINE: re.compile(f"[{_CONTROLS}{_SURROGATES}{_LINE_BREAKS}]"),
    TextKind.PROSE: re.compile(f"[{_PROSE_CONTROLS}{_SURROGATES}]"),
}
# Characters that draw nothing although they are neither whitespace nor format (Cf)
# characters: combining grapheme joiner, Hangul fillers, braille blank.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800")


# The same rules as JSON Schema ``pattern``s (ECMA-262 and Python both read these
# escapes), so a generated client refuses what the server would. They are exact for
# ASCII; JSON Schema's regex dialect has no Unicode categories, so an identifier's
# other format, private-use or unassigned characters, and a name with nothing
# visible but non-ASCII blanks, are refused by ``check`` alone (documented per field).
_IDENTIFIER_EXTRA = " \u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"
_SCHEMA_FORBIDDEN = {
    TextKind.IDENTIFIER: f"{_CONTROLS}{_IDENTIFIER_EXTRA}",
    TextKind.NAME: f"{_CONTROLS}{_LINE_BREAKS}{BIDI_CONTROLS}",
    TextKind.LINE: f"{_CONTROLS}{_LINE_BREAKS}",
    TextKind.PROSE: _PROSE_CONTROLS,
}


def schema_pattern(kind: TextKind, trimmed_min: int = 0) -> str:
    """A JSON Schema ``pattern`` every value ``check`` accepts for ``kind`` matches;
    with ``trimmed_min``, also at least that many characters once trimmed."""
    forbidden = _SCHEMA_FORBIDDEN[kind]
    allowed = f"[^{forbidden}]"
    edge = f"[^{forbidden}\\s]"  # a character ``str.strip`` keeps
    if kind is TextKind.NAME:  # at least one character that is not a blank
        trimmed_min = max(trimmed_min, 1)
    if trimmed_min <= 0:
        return f"^{allowed}*$"
    if trimmed_min == 1:
        return f"^{allowed}*{edge}{allowed}*$"
    return f"^{allowed}*{edge}{allowed}{{{trimmed_min - 2},}}{edge}{allowed}*$"


@dataclass(frozen=True, slots=True)
class TextViolation:
    code: ErrorCode
    reason: str


def _first_bad(kind: TextKind, value: str) -> str | None:
    if kind is TextKind.IDENTIFIER:
        # isprintable() is False exactly for categories C* (control, format,
        # surrogate, private, unassigned) and Z* other than the ASCII space.
        if value.isprintable() and " " not in value:
            return None
        return next(ch for ch in value if ch == " " or not ch.isprintable())
    found = _FORBIDDEN[kind].search(value)
    return found.group() if found else None


def _visible(ch: str) -> bool:
    return not (ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) == "Cf")


def check(kind: TextKind, value: str) -> TextViolation | None:
    """The first rule ``value`` breaks for a field of ``kind``, or None."""
    bad = _first_bad(kind, value)
    if bad is not None:
        return TextViolation(
            ErrorCode.INVALID_CHARACTERS, f"must not contain U+{ord(bad):04X} ({kind.value} field)"
        )
    if kind is TextKind.NAME and not any(_visible(ch) for ch in value):
        return TextViolation(ErrorCode.BLANK_TEXT, "must contain a visible character")
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included; iterative, so depth is no risk."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str):
                    yield key
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def check_body(body: dict[str, Any]) -> TextViolation | None:
    """A message body: every string in it, at any depth, follows the prose rule.

    NUL and lone surrogates are therefore refused anywhere in a body (decided
    over storing them escaped: no client can rely on them surviving every
    consumer, and one rule is easier to state than per-kind exceptions).
    """
    for text in _strings(body):
        violation = check(TextKind.PROSE, text)
        if violation is not None:
            return violation
    return None
