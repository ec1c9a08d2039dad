"""Line mode's output, sans I/O: server frames → lines a person reads in a terminal.

The same frames every client gets (``msg``, ``presence``, ``error``; docs/protocol.md)
are rendered here for one viewer. Each output line starts with a marker, so a person
(or a script) tells them apart at a glance:

    [14:03] alice: hello              a message in the room you are in
    [14:03] *alice*: psst             a private message to you
    [14:03] -> *alice*: psst          your private message (sent here or on another device)
    * alice joined                    a notice: room events, presence, command output
    ! 40401 no user named bob         an error: a documented code and what went wrong

Times are ``hh:mm`` in UTC. Text from other people is made safe for a terminal: line
breaks become continuation lines indented under the first, and no control character
but tab ever reaches the screen (input rules already keep escape sequences out of the
store; this is the second line of defence).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pigeon.protocol.frames import Frame

NameOf = Callable[[str], str]
_BREAKS = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # controls but tab (LF/CR split first)
_INDENT = "    "


@dataclass(frozen=True, slots=True)
class Viewpoint:
    """Who reads, and where they are: what decides whether and how a frame is shown.

    ``direct`` maps each direct conversation of the reader to the peer's user id;
    messages of conversations that are neither ``room`` nor direct are not shown.
    """

    me: str
    room: str
    direct: Mapping[str, str]


def notice(text: str) -> str:
    return f"* {safe(text)}"


def error_line(code: int, message: str) -> str:
    return f"! {code} {safe(message)}"


def safe(text: str) -> str:
    """One line of text fit for a terminal: control characters shown as U+FFFD."""
    return _UNSAFE.sub("\ufffd", text)


def hhmm(ts_ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ts_ms / 1000))


def names_needed(frame: Frame) -> set[str]:
    """The user ids whose names rendering ``frame`` needs (sender, people named in a
    room event, the user whose presence changed)."""
    kind = frame.get("t")
    if kind == "presence":
        return {str(frame["user"])}
    if kind != "msg":
        return set()
    needed = {str(frame["from"])}
    origin = frame.get("forwarded")
    if isinstance(origin, dict) and isinstance(origin.get("from"), str):
        needed.add(origin["from"])
    body = frame.get("body") or {}
    if frame.get("kind") == "system":
        needed.update(str(u) for u in body.get("users") or () if isinstance(u, str))
        if isinstance(body.get("actor"), str):
            needed.add(body["actor"])
    return needed


def render(frame: Frame, view: Viewpoint, name: NameOf) -> list[str]:
    """The lines ``frame`` shows to ``view``'s reader; empty when it shows nothing."""
    kind = frame.get("t")
    if kind == "msg":
        return render_message(frame, view, name)
    if kind == "presence":
        state = "is online" if frame.get("online") else "went offline"
        return [notice(f"{name(frame['user'])} {state}")]
    if kind == "error":
        return [error_line(int(frame["code"]), str(frame.get("message", "")))]
    return []  # receipts, typing, friend requests and replies have no line of their own


def render_message(message: Frame, view: Viewpoint, name: NameOf) -> list[str]:
    """A stored message (a ``msg`` frame or a history item) as the reader sees it."""
    conv = message.get("conv")
    sender = str(message.get("from"))
    if conv == view.room:
        who = name(sender)
    elif conv in view.direct:
        peer = name(view.direct[str(conv)])
        who = f"-> *{peer}*" if sender == view.me else f"*{name(sender)}*"
    else:
        return []
    stamp = f"[{hhmm(int(message.get('ts', 0)))}]"
    kind = message.get("kind")
    body: dict[str, Any] = message.get("body") or {}
    if kind == "system":
        return [notice(_system(body, name))]
    if kind == "recall":
        return [notice(f"{name(sender)} recalled a message")]
    if kind in ("react", "pin", "unpin"):
        return [notice(safe(f"{name(sender)} {mark_words(str(kind), body)}"))]
    if message.get("recalled"):
        return [f"{stamp} {who}: (recalled)"]
    text = _content(str(kind), body)
    if kind == "edit":
        who += " (edited)"
    origin = message.get("forwarded")
    if isinstance(origin, dict):  # a forwarded copy names the original's author
        text = f"(forwarded from {name(str(origin.get('from')))}) {text}"
    return _lines(f"{stamp} {who}: ", text)


def mark_words(kind: str, body: Mapping[str, Any]) -> str:
    """What a reaction or pin entry did, after its sender's name."""
    if kind == "pin":
        return "pinned a message"
    if kind == "unpin":
        return "unpinned a message"
    if body.get("on") is False:
        return f"took back {body.get('emoji', '')} from a message"
    return f"reacted {body.get('emoji', '')} to a message"


def _content(kind: str, body: Mapping[str, Any]) -> str:
    if kind in ("text", "edit"):
        return str(body.get("text", ""))
    if kind == "image":
        caption = body.get("caption")
        size = f"{body.get('width')}x{body.get('height')}"
        return f"[image {size}]" + (f" {caption}" if caption else "")
    if kind == "file":
        return f"[file {body.get('name', '')}]"
    return f"[{kind} message]"


def _lines(head: str, text: str) -> list[str]:
    parts = _BREAKS.split(text)
    return [safe(head + parts[0])] + [safe(_INDENT + part) for part in parts[1:]]


def _people(user_ids: Iterable[Any], name: NameOf) -> str:
    return ", ".join(name(str(u)) for u in user_ids) or "nobody"


def _system(body: Mapping[str, Any], name: NameOf) -> str:
    """A room event in words (the ``system`` events of docs/protocol.md)."""
    actor = name(str(body.get("actor", "")))
    users = body.get("users") or ()
    match body.get("event"):
        case "member_joined":
            return f"{actor} joined"
        case "member_left":
            return f"{actor} left"
        case "member_added":
            return f"{actor} added {_people(users, name)}"
        case "member_removed":
            return f"{actor} removed {_people(users, name)}"
        case "member_banned":
            return f"{actor} banned {_people(users, name)}"
        case "member_updated":
            return f"{actor} changed the role or mute of {_people(users, name)}"
        case "owner_transferred":
            return f"{actor} made {_people(users, name)} the owner"
        case "group_created":
            return f"{actor} created {body.get('title', 'the room')}"
        case "group_updated":
            return f"{actor} updated the room"
        case "group_dissolved":
            return f"{actor} closed the room"
    return f"{actor}: {body.get('event', 'room event')}"
