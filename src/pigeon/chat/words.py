"""What the terminal client says in words: message kinds, group events, attachments,
sizes and the server's refusals. Pure functions over plain data, so each sentence is
tested as a value (tests/unit/test_chat_model.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode

Names = Callable[[str], str]  # user id -> how to call them in a sentence

QUOTE_CHARS = 60  # a reply's quote line shows this much of the message it answers


class Kind(StrEnum):
    """The message kinds of docs/protocol.md ("Message kinds") the client draws."""

    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    CUSTOM = "custom"
    RECALL = "recall"
    EDIT = "edit"
    SYSTEM = "system"
    REACT = "react"
    PIN = "pin"
    UNPIN = "unpin"


# Entries that change an earlier message rather than adding a line of their own.
AMENDS = frozenset({Kind.RECALL, Kind.EDIT})
# Entries that mark an earlier message (reactions, pins): a notice once stored, nothing
# while in flight, since the stored entry says what it did.
MARKS = frozenset({Kind.REACT, Kind.PIN, Kind.UNPIN})
# Entries drawn as a notice (``* …``) rather than as someone speaking; never unread.
NOTICES = frozenset({Kind.SYSTEM, Kind.REACT, Kind.PIN, Kind.UNPIN})
ATTACHMENTS = frozenset({Kind.IMAGE, Kind.FILE})


class SystemEvent(StrEnum):
    """The ``event`` of a ``system`` message (written by the server on group changes)."""

    GROUP_CREATED = "group_created"
    GROUP_UPDATED = "group_updated"
    GROUP_DISSOLVED = "group_dissolved"
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    MEMBER_BANNED = "member_banned"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    MEMBER_UPDATED = "member_updated"
    OWNER_TRANSFERRED = "owner_transferred"


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What the file object (``GET /files/{id}``) says about an attachment."""

    name: str
    size: int
    mime: str

    @classmethod
    def of(cls, file: Mapping[str, Any]) -> FileInfo:
        return cls(str(file.get("name") or "file"), int(file.get("size") or 0), str(file["mime"]))


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KB``, ``120 KB``, ``3.2 MB`` (binary units, as file managers show)."""
    amount = float(size)
    for unit in ("B", "KB", "MB"):
        if amount < 1024:
            return (
                f"{int(amount)} {unit}" if unit == "B" or amount >= 10 else f"{amount:.1f} {unit}"
            )
        amount /= 1024
    return f"{amount:.1f} GB"


def attachment(kind: str, body: Mapping[str, Any], info: FileInfo | None) -> str:
    """``[image holiday.png 120 KB]`` or ``[file report.pdf 2.1 MB]``, then any caption.

    Until the file object is known (it is fetched once per file), the line says what the
    message itself carries.
    """
    label = "image" if kind == Kind.IMAGE else "file"
    name = info.name if info else str(body.get("name") or "")
    size = human_size(info.size) if info else ""
    words = " ".join(part for part in (label, name, size) if part)
    caption = f" {body['caption']}" if body.get("caption") else ""
    return f"[{words}]{caption}"


def mark_sentence(kind: str, body: Mapping[str, Any], actor: str) -> str:
    """A reaction or pin as a sentence: ``alice reacted 👍 to #5``, ``bob pinned #5``."""
    target = f"#{body.get('seq', '?')}"
    if kind == Kind.PIN:
        return f"{actor} pinned {target}"
    if kind == Kind.UNPIN:
        return f"{actor} unpinned {target}"
    if body.get("on") is False:
        return f"{actor} took back {body.get('emoji', '')} from {target}"
    return f"{actor} reacted {body.get('emoji', '')} to {target}"


def system_sentence(body: Mapping[str, Any], who: Names) -> str:
    """A group change as a sentence: ``alice added bob, carol``."""
    actor = who(str(body.get("actor", "")))
    users = body.get("users")
    named = ", ".join(who(str(u)) for u in users) if isinstance(users, list) else ""
    try:
        event = SystemEvent(str(body.get("event", "")))
    except ValueError:
        return f"{actor}: {str(body.get('event') or 'group change').replace('_', ' ')}"
    if event is SystemEvent.GROUP_CREATED:
        title = f' "{body["title"]}"' if body.get("title") else ""
        return f"{actor} created the group{title}" + (f" with {named}" if named else "")
    if event is SystemEvent.GROUP_UPDATED:
        changes = body.get("changes")
        return f"{actor} {_group_changes(changes if isinstance(changes, dict) else {})}"
    if event is SystemEvent.MEMBER_UPDATED:
        return f"{actor} {_member_change(body, named)}"
    verbs = {
        SystemEvent.GROUP_DISSOLVED: "dissolved the group",
        SystemEvent.MEMBER_ADDED: f"added {named}",
        SystemEvent.MEMBER_REMOVED: f"removed {named}",
        SystemEvent.MEMBER_BANNED: f"banned {named}",
        SystemEvent.MEMBER_JOINED: "joined",
        SystemEvent.MEMBER_LEFT: "left",
        SystemEvent.OWNER_TRANSFERRED: f"handed ownership of the group to {named}",
    }
    return f"{actor} {verbs[event]}"


def _group_changes(changes: Mapping[str, Any]) -> str:
    said = []
    if changes.get("title"):
        said.append(f'renamed the group to "{changes["title"]}"')
    if "announcement" in changes:
        text = changes["announcement"]
        said.append(f'set the announcement: "{text}"' if text else "cleared the announcement")
    if "avatar" in changes:
        said.append("changed the group picture")
    if changes.get("visibility"):
        said.append(f"made the group {changes['visibility']}")
    return " and ".join(said) or "changed the group"


def _member_change(body: Mapping[str, Any], named: str) -> str:
    if body.get("role"):
        return f"made {named} {'an admin' if body['role'] == 'admin' else 'a plain member'}"
    if "muted_until" in body:
        until = body["muted_until"]
        if not until:
            return f"unmuted {named}"
        return (
            f"muted {named} until {time.strftime('%Y-%m-%d %H:%M', time.localtime(until / 1000))}"
        )
    return f"changed {named}"


def shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of at most ``limit`` characters, cut with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# Refusals the client words for itself, where the server's text names a field or a
# rule the user did not type; every other code shows the server's own message.
CHAT_ERRORS: dict[ErrorCode, str] = {
    ErrorCode.CONVERSATION_NOT_FOUND: "that conversation does not exist or you are not in it",
    ErrorCode.MESSAGE_NOT_FOUND: "there is no message with that number here",
    ErrorCode.USER_NOT_FOUND: "there is no such user",
    ErrorCode.FILE_NOT_FOUND: "that file is gone, or you may not see it",
    ErrorCode.SEND_RATE_LIMITED: "you are sending too fast; wait a moment",
    ErrorCode.RATE_LIMITED: "too many requests; wait a moment",
    ErrorCode.FILE_TOO_LARGE: "that file is larger than the server accepts",
    ErrorCode.MESSAGE_TOO_LARGE: "that message is too long",
    ErrorCode.SELF_TARGET: "that needs someone else, not you",
}


def error_text(code: int, message: str) -> str:
    """A refusal in words, never its number (the numbers are for programs)."""
    try:
        known: ErrorCode | None = ErrorCode(code)
    except ValueError:
        known = None
    if known is not None and known in CHAT_ERRORS:
        return CHAT_ERRORS[known]
    if message:
        return message
    if known is not None and known in DEFAULT_MESSAGES:
        return DEFAULT_MESSAGES[known]
    return "the server refused that"
