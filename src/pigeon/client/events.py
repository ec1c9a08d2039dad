"""Typed values the SDK hands to applications: messages, acks, pages and events.

Every event has a ``t`` naming its kind, matching the server frame it came
from (``msg``, ``receipt``, ``typing``, ``presence``, ``error``) or the
connection-state change it reports (``connected``, ``disconnected``,
``closed``). Frames of kinds this SDK does not know yet arrive as
``OtherEvent`` with their raw fields, so newer servers never break older clients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pigeon.protocol.frames import Frame


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji's reactions to a message; ``mine``: the signed-in user is among them."""

    emoji: str
    count: int
    mine: bool = False


def _reactions(value: Any) -> tuple[Reaction, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        Reaction(str(item.get("emoji", "")), int(item.get("count", 0)), bool(item.get("mine")))
        for item in value
        if isinstance(item, dict)
    )


#: Entries that change an earlier message (``body["seq"]``) rather than say something.
MARK_KINDS = ("react", "pin", "unpin")


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message of a conversation; ``sender`` is the frame's ``from``.

    Reactions and pins are messages too (kinds ``react``, ``pin``, ``unpin``, whose
    ``body["seq"]`` names the message they mark; a ``react`` body also has ``emoji``,
    ``on`` and ``count``): they arrive as ``MessageEvent`` like any entry.
    ``reactions`` is the summary history and pull give a message.
    """

    conv: str
    seq: int
    id: str
    sender: str
    kind: str
    body: dict[str, Any]
    ts: int
    cid: str
    reply_to: int | None = None
    mentions: tuple[str, ...] | None = None
    edited_at: int | None = None
    recalled: bool = False
    #: A forwarded copy: ``(original author's user id, original time)``.
    forwarded: tuple[str, int] | None = None
    reactions: tuple[Reaction, ...] = ()

    @property
    def marks(self) -> int | None:
        """The seq of the message this reaction or pin entry marks; None for others."""
        return _opt_int(self.body.get("seq")) if self.kind in MARK_KINDS else None

    @classmethod
    def from_frame(cls, frame: Frame) -> Message:
        mentions = frame.get("mentions")
        body = frame.get("body")
        origin = frame.get("forwarded")
        return cls(
            conv=str(frame["conv"]),
            seq=int(frame["seq"]),
            id=str(frame.get("id", "")),
            sender=str(frame.get("from", "")),
            kind=str(frame.get("kind", "")),
            body=body if isinstance(body, dict) else {},
            ts=int(frame.get("ts", 0)),
            cid=str(frame.get("cid", "")),
            reply_to=_opt_int(frame.get("reply_to")),
            mentions=tuple(mentions) if isinstance(mentions, list) else None,
            edited_at=_opt_int(frame.get("edited_at")),
            recalled=bool(frame.get("recalled", False)),
            forwarded=(str(origin.get("from", "")), int(origin.get("ts", 0)))
            if isinstance(origin, dict)
            else None,
            reactions=_reactions(frame.get("reactions")),
        )


@dataclass(frozen=True, slots=True)
class Ack:
    """The server's receipt for a stored message: where it landed in the stream."""

    cid: str
    conv: str
    seq: int
    id: str
    ts: int

    @classmethod
    def from_frame(cls, frame: Frame) -> Ack:
        return cls(
            cid=str(frame["cid"]),
            conv=str(frame["conv"]),
            seq=int(frame["seq"]),
            id=str(frame["id"]),
            ts=int(frame["ts"]),
        )


@dataclass(frozen=True, slots=True)
class MessagePage:
    """A ``pull`` reply: messages ascending by seq; ``more`` as in the contract."""

    conv: str
    items: list[Message]
    more: bool
    #: Set when retention removed older messages: the oldest seq still kept.
    first_seq: int | None = None

    @classmethod
    def from_frame(cls, frame: Frame) -> MessagePage:
        items = frame.get("items")
        return cls(
            conv=str(frame.get("conv", "")),
            items=[Message.from_frame(i) for i in items] if isinstance(items, list) else [],
            more=bool(frame.get("more", False)),
            first_seq=_opt_int(frame.get("first_seq")),
        )


@dataclass(frozen=True, slots=True)
class ConversationChange:
    """One entry of a ``sync`` reply."""

    conv: str
    kind: str
    last_seq: int
    read_seq: int
    unread: int
    removed: bool = False
    #: Set when retention removed older messages: the oldest seq still kept.
    first_seq: int | None = None

    @classmethod
    def from_frame(cls, entry: Frame) -> ConversationChange:
        return cls(
            conv=str(entry["conv"]),
            kind=str(entry.get("kind", "")),
            last_seq=int(entry.get("last_seq", 0)),
            read_seq=int(entry.get("read_seq", 0)),
            unread=int(entry.get("unread", 0)),
            removed=bool(entry.get("removed", False)),
            first_seq=_opt_int(entry.get("first_seq")),
        )


@dataclass(frozen=True, slots=True)
class SyncPage:
    """A ``sync`` reply: the changed conversations and the cursor to pass next time."""

    cursor: str
    convs: list[ConversationChange]
    more: bool

    @classmethod
    def from_frame(cls, frame: Frame) -> SyncPage:
        convs = frame.get("convs")
        return cls(
            cursor=str(frame.get("cursor", "")),
            convs=[ConversationChange.from_frame(c) for c in convs]
            if isinstance(convs, list)
            else [],
            more=bool(frame.get("more", False)),
        )


@dataclass(frozen=True, slots=True)
class Ready:
    """What the server said when it accepted the connection."""

    user: str
    device: str
    session: str
    heartbeat: float
    server_time: int
    bot: bool = False  # this connection is a bot account's (docs/bots.md)


# --- events


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message of the stream. ``live`` is False when it came from catch-up (sync/pull)."""

    message: Message
    live: bool
    t: Literal["msg"] = "msg"

    @property
    def conv(self) -> str:
        return self.message.conv

    @property
    def seq(self) -> int:
        return self.message.seq


@dataclass(frozen=True, slots=True)
class ReceiptEvent:
    conv: str
    user: str
    read: int | None
    recv: int | None
    t: Literal["receipt"] = "receipt"


@dataclass(frozen=True, slots=True)
class TypingEvent:
    conv: str
    user: str
    on: bool
    t: Literal["typing"] = "typing"


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    user: str
    online: bool
    last_seen: int | None
    t: Literal["presence"] = "presence"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An ``error`` frame no pending call was waiting for (e.g. a refused ``typing``)."""

    code: int
    message: str
    rid: str | int | None = None
    cid: str | None = None
    t: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class ConnectedEvent:
    """A socket is authenticated; ``attempt`` counts the connects so far (1 = first)."""

    ready: Ready
    attempt: int
    t: Literal["connected"] = "connected"


@dataclass(frozen=True, slots=True)
class DisconnectedEvent:
    """The socket went away; the connection reconnects after ``retry_in`` seconds."""

    code: int | None
    reason: str
    retry_in: float
    t: Literal["disconnected"] = "disconnected"


@dataclass(frozen=True, slots=True)
class ClosedEvent:
    """The last event: the connection stopped for good (``error`` says why, if not asked to)."""

    error: Exception | None = None
    t: Literal["closed"] = "closed"


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A server frame of a kind this SDK does not model; ``data`` holds all its fields."""

    t: str
    data: Frame = field(default_factory=dict)


Event = (
    MessageEvent
    | ReceiptEvent
    | TypingEvent
    | PresenceEvent
    | ErrorEvent
    | ConnectedEvent
    | DisconnectedEvent
    | ClosedEvent
    | OtherEvent
)


def push_event(frame: Frame) -> Event:
    """The event for a server push other than ``msg`` (which goes through ordering first)."""
    kind = str(frame.get("t", ""))
    try:
        if kind == "receipt":
            return ReceiptEvent(
                conv=str(frame["conv"]),
                user=str(frame["user"]),
                read=_opt_int(frame.get("read")),
                recv=_opt_int(frame.get("recv")),
            )
        if kind == "typing":
            return TypingEvent(str(frame["conv"]), str(frame["user"]), bool(frame["on"]))
        if kind == "presence":
            return PresenceEvent(
                str(frame["user"]), bool(frame["online"]), _opt_int(frame.get("last_seen"))
            )
        if kind == "error":
            return error_event(frame)
    except (KeyError, TypeError, ValueError):
        pass  # a frame missing a field still reaches the application, raw
    return OtherEvent(kind, frame)


def error_event(frame: Frame) -> ErrorEvent:
    rid = frame.get("rid")
    cid = frame.get("cid")
    return ErrorEvent(
        code=int(frame.get("code", 0)),
        message=str(frame.get("message", "")),
        rid=rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None,
        cid=cid if isinstance(cid, str) else None,
    )
