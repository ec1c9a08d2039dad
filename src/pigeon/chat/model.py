"""What the terminal client shows, as plain data: conversations, their messages and ticks.

No I/O and no terminal here: the application feeds SDK events in, the screen reads
lines out, and both are easy to reason about (and to test) separately.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pigeon.client import Ack, Message

NOTICE_LINES = 16  # command output kept under the open conversation (/help fits)


class Tick(enum.IntEnum):
    """The state of one of your own messages; shown after it."""

    FAILED = -1
    SENDING = 0
    SENT = 1
    DELIVERED = 2
    READ = 3


TICK_MARKS = {
    Tick.FAILED: "✗ not sent",
    Tick.SENDING: "…",
    Tick.SENT: "✓",
    Tick.DELIVERED: "✓✓",
    Tick.READ: "✓✓ read",
}

SYSTEM_EVENTS = {
    "group_created": "created the group",
    "group_updated": "changed the group",
    "group_dissolved": "dissolved the group",
    "member_added": "added",
    "member_removed": "removed",
    "member_joined": "joined",
    "member_left": "left",
    "member_updated": "changed a member",
    "owner_transferred": "handed ownership to",
}


@dataclass
class Entry:
    """One message of a conversation; ``seq`` is None until the server acks it."""

    seq: int | None
    cid: str
    sender: str
    kind: str
    body: dict[str, Any]
    ts: int
    reply_to: int | None = None
    edited: bool = False
    recalled: bool = False
    failed: bool = False

    @classmethod
    def of(cls, message: Message) -> Entry:
        return cls(
            message.seq,
            message.cid,
            message.sender,
            message.kind,
            dict(message.body),
            message.ts,
            message.reply_to,
            message.edited_at is not None,
            message.recalled,
        )


@dataclass
class Conversation:
    id: str
    kind: str = "direct"
    title: str | None = None
    unread: int = 0
    last_seq: int = 0
    last_ts: int = 0  # newest activity: the list is ordered by it
    peer: str | None = None
    others_recv: int = 0  # highest delivered watermark of anyone but you
    others_read: int = 0
    entries: dict[int, Entry] = field(default_factory=dict)  # by seq
    pending: dict[str, Entry] = field(default_factory=dict)  # own sends by cid, not acked yet

    def tick(self, entry: Entry) -> Tick:
        if entry.failed:
            return Tick.FAILED
        if entry.seq is None:
            return Tick.SENDING
        if self.others_read >= entry.seq:
            return Tick.READ
        if max(self.others_recv, self.others_read) >= entry.seq:
            return Tick.DELIVERED
        return Tick.SENT

    def ordered(self) -> list[Entry]:
        return [self.entries[s] for s in sorted(self.entries)] + list(self.pending.values())


class ChatModel:
    """Every conversation the user is in, which one is open, and who is who."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.convs: dict[str, Conversation] = {}
        self.current: str | None = None
        self.names: dict[str, str] = {me: "me"}
        self.online: set[str] = set()
        self.typing: dict[str, dict[str, float]] = {}  # conv -> user -> until (monotonic)
        self.notices: list[str] = []

    # --- conversations

    def conv(self, conv_id: str) -> Conversation:
        found = self.convs.get(conv_id)
        if found is None:
            found = self.convs[conv_id] = Conversation(conv_id)
        return found

    def load_list(self, items: Iterable[dict[str, Any]]) -> None:
        """Apply ``GET /conversations`` items (titles, unread counts, peer watermarks)."""
        for item in items:
            conv = self.conv(str(item["id"]))
            conv.kind = str(item.get("kind", conv.kind))
            peer = item.get("peer") or None
            if isinstance(peer, dict):
                conv.peer = str(peer["id"])
                self.names.setdefault(conv.peer, str(peer.get("display_name") or peer["id"]))
            conv.title = item.get("title") or (self.names.get(conv.peer) if conv.peer else None)
            conv.last_seq = max(conv.last_seq, int(item.get("last_seq", 0)))
            conv.last_ts = max(conv.last_ts, int(item.get("last_ts") or 0))
            conv.unread = 0 if conv.id == self.current else int(item.get("unread", 0))
            conv.others_read = max(conv.others_read, int(item.get("peer_read_seq") or 0))
            conv.others_recv = max(conv.others_recv, int(item.get("peer_recv_seq") or 0))

    def ordered_convs(self) -> list[Conversation]:
        return sorted(self.convs.values(), key=lambda c: (-c.last_ts, c.id))

    def title(self, conv: Conversation) -> str:
        if conv.title:
            return conv.title
        if conv.peer:
            return self.names.get(conv.peer, conv.peer)
        return "…"  # being looked up

    def unknown(self) -> list[str]:
        """Conversations whose title has not been learnt yet."""
        return [c.id for c in self.convs.values() if not c.title and not c.peer]

    def open(self, conv_id: str) -> Conversation:
        self.current = conv_id
        self.notices.clear()
        conv = self.conv(conv_id)
        conv.unread = 0
        return conv

    # --- messages

    def on_message(self, message: Message) -> bool:
        """Apply one message of the stream; True if it is someone else's new message."""
        conv = self.conv(message.conv)
        conv.last_seq = max(conv.last_seq, message.seq)
        conv.last_ts = max(conv.last_ts, message.ts)
        self.typing.get(message.conv, {}).pop(message.sender, None)
        if message.kind in ("recall", "edit"):
            self._amend(conv, message)
            return False
        conv.entries[message.seq] = Entry.of(message)
        if message.sender == self.me:
            conv.pending.pop(message.cid, None)
            return False
        if message.conv != self.current:
            conv.unread += 1
        return True

    def _amend(self, conv: Conversation, message: Message) -> None:
        target = conv.entries.get(int(message.body.get("seq", 0)))
        if target is None:
            return  # not loaded: history shows it amended
        if message.kind == "recall":
            target.recalled, target.body = True, {}
        else:
            target.edited, target.body = True, {"text": message.body.get("text", "")}

    def load_history(self, conv_id: str, items: Iterable[Message]) -> None:
        conv = self.conv(conv_id)
        for message in items:
            if message.kind not in ("recall", "edit"):
                conv.entries[message.seq] = Entry.of(message)
            conv.last_seq = max(conv.last_seq, message.seq)

    def sending(self, conv_id: str, cid: str, kind: str, body: dict[str, Any]) -> Entry:
        entry = Entry(None, cid, self.me, kind, body, int(time.time() * 1000))
        self.conv(conv_id).pending[cid] = entry
        return entry

    def acked(self, ack: Ack) -> None:
        conv = self.conv(ack.conv)
        entry = conv.pending.pop(ack.cid, None)
        if entry is None:
            return
        entry.seq, entry.ts = ack.seq, ack.ts
        if entry.kind in ("recall", "edit"):
            self._amend(conv, _as_message(ack, entry))
        else:
            conv.entries[ack.seq] = entry
        conv.last_seq = max(conv.last_seq, ack.seq)
        conv.last_ts = max(conv.last_ts, ack.ts)

    def failed(self, conv_id: str, cid: str) -> None:
        entry = self.conv(conv_id).pending.get(cid)
        if entry is not None:
            entry.failed = True

    def on_receipt(self, conv_id: str, user: str, read: int | None, recv: int | None) -> None:
        conv = self.conv(conv_id)
        if user == self.me:  # another of your devices read it
            if read is not None and read >= conv.last_seq:
                conv.unread = 0
            return
        conv.others_read = max(conv.others_read, read or 0)
        conv.others_recv = max(conv.others_recv, recv or 0, read or 0)

    # --- typing and notices

    def set_typing(self, conv_id: str, user: str, on: bool, until: float) -> None:
        typers = self.typing.setdefault(conv_id, {})
        if on:
            typers[user] = until
        else:
            typers.pop(user, None)

    def typers(self, conv_id: str, now: float) -> list[str]:
        typers = self.typing.get(conv_id, {})
        return [self.names.get(u, u) for u, until in typers.items() if until > now]

    def notice(self, text: str) -> None:
        self.notices.extend(text.splitlines())
        del self.notices[:-NOTICE_LINES]

    # --- text

    def describe(self, entry: Entry) -> str:
        """What a message says, in words: text, a picture, a file, a group change."""
        body = entry.body
        if entry.recalled:
            return "(recalled)"
        if entry.kind == "text":
            return str(body.get("text", "")) + (" (edited)" if entry.edited else "")
        if entry.kind == "image":
            caption = f" {body['caption']}" if body.get("caption") else ""
            return f"[image {body.get('width')}x{body.get('height')}]{caption}"
        if entry.kind == "file":
            return f"[file {body.get('name', '')}]"
        if entry.kind == "system":
            return self._describe_system(body)
        return f"[{entry.kind} message]"

    def _describe_system(self, body: dict[str, Any]) -> str:
        event = str(body.get("event", ""))
        actor = self.names.get(str(body.get("actor", "")), "someone")
        verb = SYSTEM_EVENTS.get(event, event.replace("_", " ") or "changed something")
        users = body.get("users")
        whom = (
            (" with " if event == "group_created" else " ")
            + ", ".join(self.names.get(str(u), str(u)) for u in users)
            if isinstance(users, list) and users
            else ""
        )
        title = f' "{body["title"]}"' if event == "group_created" and body.get("title") else ""
        return f"* {actor} {verb}{title}{whom}"

    def user_ids(self, entry: Entry) -> list[str]:
        """Every user a line names, so their names can be looked up."""
        ids = [entry.sender]
        if entry.kind == "system":
            ids.append(str(entry.body.get("actor", "")))
            users = entry.body.get("users")
            if isinstance(users, list):
                ids.extend(str(u) for u in users)
        return [i for i in ids if i and i not in self.names]

    def line(self, conv: Conversation, entry: Entry) -> tuple[str, str, str]:
        """(prefix, text, tick) of one message: ``#seq HH:MM name:``, the words, the tick."""
        stamp = time.strftime("%H:%M", time.localtime(entry.ts / 1000))
        number = f"#{entry.seq}" if entry.seq is not None else "#…"
        reply = f"↪#{entry.reply_to} " if entry.reply_to else ""
        if entry.kind == "system":
            return f"{number} {stamp}", reply + self.describe(entry), ""
        who = self.names.get(entry.sender, entry.sender)
        tick = TICK_MARKS[conv.tick(entry)] if entry.sender == self.me else ""
        return f"{number} {stamp} {who}:", reply + self.describe(entry), tick


def _as_message(ack: Ack, entry: Entry) -> Message:
    return Message(ack.conv, ack.seq, ack.id, entry.sender, entry.kind, entry.body, ack.ts, ack.cid)
