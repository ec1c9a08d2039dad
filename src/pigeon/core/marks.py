"""Reactions and pins: which ``react``, ``pin`` and ``unpin`` entries are accepted.

- ``react {seq, emoji, on?}``: the sender's reaction with one emoji to message
  ``seq``; ``on`` true adds it, false removes it, absent toggles. The stored entry
  reads ``{seq, emoji, on, count}`` (store/marks.py).
- ``pin {seq}`` / ``unpin {seq}``: pins or unpins message ``seq`` for everyone.

Who may is the rule book's (``Action.REACT``, ``Action.PIN``); what they may mark
is decided here: a message they can read (after their join point), not recalled,
and not itself a control entry. Each entry takes the next seq, like recall and
edit, so offline devices converge by sync.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from pigeon.core.errors import CoreError
from pigeon.core.policy import Action
from pigeon.protocol.errors import ErrorCode
from pigeon.store.marks import MarkStore
from pigeon.store.records import Mark, MemberRecord, MessageRecord

MARK_KINDS = ("react", "pin", "unpin")
_UNMARKABLE = ("recall", "edit", "system", *MARK_KINDS)

_ZWJ = "\u200d"
_KEYCAP = "\u20e3"
_KEYCAP_BASES = frozenset("0123456789#*")
# Emoji outside the "other symbol" category (punctuation that has an emoji form).
_EXTRA_BASES = frozenset("\u203c\u2049\u3030\u303d")


@dataclass(frozen=True, slots=True)
class MarkLimits:
    max_reactions: int  # different emojis on one message
    emoji_max_chars: int  # code points in one emoji (ZWJ sequences are long)
    max_pins: int  # pinned messages in one conversation


def action_for(kind: str) -> Action:
    return Action.REACT if kind == "react" else Action.PIN


def _is_modifier(ch: str) -> bool:
    code = ord(ch)
    return (
        ch in "\ufe0f\ufe0e"
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag sequences (subdivision flags)
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _element_end(value: str, start: int) -> int | None:
    """Where the emoji element starting at ``start`` ends, or None if none starts there."""
    ch = value[start]
    end = start + 1
    if _is_regional(ch):  # a flag is exactly two regional indicators
        if end < len(value) and _is_regional(value[end]):
            return end + 1
        return None
    if ch in _KEYCAP_BASES:
        if value[end : end + 1] == "\ufe0f":
            end += 1
        return end + 1 if value[end : end + 1] == _KEYCAP else None
    if unicodedata.category(ch) != "So" and ch not in _EXTRA_BASES:
        return None
    while end < len(value) and _is_modifier(value[end]):
        end += 1
    return end


def is_one_emoji(value: str) -> bool:
    """Whether ``value`` is one emoji: a symbol with its modifiers, a flag, a keycap,
    or such elements joined by zero-width joiners (one grapheme on screen)."""
    position = 0
    while True:
        end = _element_end(value, position) if position < len(value) else None
        if end is None:
            return False
        if end == len(value):
            return True
        if value[end] != _ZWJ:
            return False
        position = end + 1


def check_emoji(value: Any, max_chars: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_chars or not is_one_emoji(value):
        raise CoreError(
            ErrorCode.INVALID_EMOJI,
            f"a reaction is one emoji of at most {max_chars} code points",
            {"max_chars": max_chars},
        )
    return value


def normalized_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body stored for a mark entry: its known fields only."""
    if kind != "react":
        return {"seq": body["seq"]}
    kept = {"seq": body["seq"], "emoji": body["emoji"]}
    if body.get("on") is not None:
        kept["on"] = body["on"]
    return kept


async def plan_mark(
    kind: str,
    body: dict[str, Any],
    actor: MemberRecord,
    target: MessageRecord | None,
    marks: MarkStore,
    limits: MarkLimits,
) -> Mark:
    """The change a mark entry makes, or a ``CoreError`` saying why not."""
    if (
        target is None
        or target.seq <= actor.join_seq
        or target.kind in _UNMARKABLE
        or target.recalled
    ):
        raise CoreError(ErrorCode.MESSAGE_NOT_FOUND, "no such message to mark")
    if kind == "react":
        return await _plan_reaction(body, actor, target, marks, limits)
    pinned, count = await marks.pin_state(target.conv_id, target.seq)
    if kind == "unpin":
        if not pinned:
            raise CoreError(ErrorCode.PIN_NOT_FOUND)
        return Mark(target.seq, on=False)
    if pinned:
        raise CoreError(ErrorCode.ALREADY_PINNED)
    if count >= limits.max_pins:
        raise CoreError(ErrorCode.TOO_MANY_PINS, details={"max_pins": limits.max_pins})
    return Mark(target.seq, on=True)


async def _plan_reaction(
    body: dict[str, Any],
    actor: MemberRecord,
    target: MessageRecord,
    marks: MarkStore,
    limits: MarkLimits,
) -> Mark:
    emoji = check_emoji(body.get("emoji"), limits.emoji_max_chars)
    on: bool | None = body.get("on")
    state = await marks.reaction_state(target.conv_id, target.seq, actor.user_id, emoji)
    if on is not None and on == state.mine:
        already = "you reacted with that emoji already" if on else "you have no such reaction"
        raise CoreError(ErrorCode.REACTION_UNCHANGED, already)
    adding = (not state.mine) if on is None else on
    if adding and not state.present and state.emojis >= limits.max_reactions:
        raise CoreError(
            ErrorCode.TOO_MANY_REACTIONS, details={"max_reactions": limits.max_reactions}
        )
    return Mark(target.seq, emoji=emoji, on=on)
