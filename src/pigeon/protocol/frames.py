"""Typed client commands and builders for server frames.

Client → server frames decode into the frozen dataclasses below (see ``codec``).
Server → client frames are plain dicts built by the ``*_frame`` functions, so a
push can be encoded once and written to many connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pigeon.protocol.views import AckView, MessageView

Rid = str | int | None
Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    device: str | None = None
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Forward:
    """The message a ``send`` copies instead of carrying a body of its own."""

    conv: str
    seq: int


@dataclass(frozen=True, slots=True)
class Send:
    cid: str
    conv: str
    kind: str
    body: dict[str, Any]
    reply_to: int | None = None
    mentions: tuple[str, ...] | None = None
    rid: Rid = None
    #: Set for a forward: ``kind`` and ``body`` are then the original's, filled by the core.
    forward: Forward | None = None


@dataclass(frozen=True, slots=True)
class Pull:
    conv: str
    after: int | None = None
    before: int | None = None
    limit: int | None = None
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Sync:
    cursor: str | None = None
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Read:
    conv: str
    seq: int
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Recv:
    conv: str
    seq: int
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Typing:
    conv: str
    on: bool
    rid: Rid = None


@dataclass(frozen=True, slots=True)
class Ping:
    rid: Rid = None


Command = Auth | Send | Pull | Sync | Read | Recv | Typing | Ping


def with_rid(frame: Frame, rid: Rid) -> Frame:
    if rid is not None:
        frame["rid"] = rid
    return frame


def ready_frame(
    user: str,
    device: str,
    session: str,
    heartbeat: int,
    server_time: int,
    rid: Rid = None,
    *,
    bot: bool = False,
) -> Frame:
    return with_rid(
        {
            "t": "ready",
            "user": user,
            "device": device,
            "session": session,
            "heartbeat": heartbeat,
            "server_time": server_time,
            "bot": bot,
        },
        rid,
    )


def ack_frame(ack: AckView, rid: Rid = None) -> Frame:
    return with_rid({"t": "ack", **ack}, rid)


def messages_frame(
    conv: str, items: list[MessageView], more: bool, rid: Rid = None, first_seq: int | None = None
) -> Frame:
    frame: Frame = {"t": "messages", "conv": conv, "items": items, "more": more}
    if first_seq is not None:  # retention removed the messages before it
        frame["first_seq"] = first_seq
    return with_rid(frame, rid)


def sync_frame(cursor: str, convs: list[Frame], more: bool, rid: Rid = None) -> Frame:
    return with_rid({"t": "sync", "cursor": cursor, "convs": convs, "more": more}, rid)


def pong_frame(ts: int, rid: Rid = None) -> Frame:
    return with_rid({"t": "pong", "ts": ts}, rid)


def msg_frame(message: MessageView) -> Frame:
    return {"t": "msg", **message}


def receipt_frame(conv: str, user: str, read: int | None, recv: int | None) -> Frame:
    frame: Frame = {"t": "receipt", "conv": conv, "user": user}
    if read is not None:
        frame["read"] = read
    if recv is not None:
        frame["recv"] = recv
    return frame


def typing_frame(conv: str, user: str, on: bool) -> Frame:
    return {"t": "typing", "conv": conv, "user": user, "on": on}


def presence_frame(user: str, online: bool, last_seen: int | None) -> Frame:
    return {"t": "presence", "user": user, "online": online, "last_seen": last_seen}


def error_frame(
    code: int,
    message: str,
    rid: Rid = None,
    cid: str | None = None,
    retry_after: int | None = None,
) -> Frame:
    """``retry_after`` (whole seconds): when a refused-for-now command may succeed."""
    frame: Frame = {"t": "error", "code": code, "message": message}
    if cid is not None:
        frame["cid"] = cid
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return with_rid(frame, rid)


def close_frame(code: int, reason: str) -> Frame:
    """The last frame on a TCP connection, which has no close code of its own."""
    return {"t": "close", "code": code, "reason": reason}
