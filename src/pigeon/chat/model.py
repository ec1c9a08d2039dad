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

from pigeon.chat.words import (
    AMENDS,
    ATTACHMENTS,
    MARKS,
    NOTICES,
    FileInfo,
    Kind,
    SystemEvent,
    attachment,
    mark_sentence,
    shorten,
    system_sentence,
)
from pigeon.client import Ack, Message
from pigeon.protocol.membership import ConversationKind

NOTICE_LINES = 20  # command output kept under the open conversation (/help fits)


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


class Link(enum.StrEnum):
    """The live connection, as the status line tells it."""

    ONLINE = "online"
    RECONNECTING = "reconnecting…"
    CLOSED = "disconnected"


@dataclass(frozen=True, slots=True)
class Line:
    """One message as the pane draws it.

    ``quote`` is the line above a reply (what it answers), ``prefix`` is
    ``#seq HH:MM name:``, ``tick`` is set on your own messages only.
    """

    prefix: str
    text: str
    mine: bool = False
    tick: Tick | None = None
    quote: str | None = None
    system: bool = False


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
    #: A forwarded copy: the user id of the original's author.
    forwarded_from: str | None = None

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
            forwarded_from=message.forwarded[0] if message.forwarded else None,
        )

    @property
    def file_id(self) -> str | None:
        """The attachment's file id, for image and file messages still standing."""
        found = self.body.get("file_id")
        if self.kind in ATTACHMENTS and not self.recalled and isinstance(found, str):
            return found
        return None


@dataclass
class Conversation:
    id: str
    kind: ConversationKind = ConversationKind.DIRECT
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
        """Stored messages by seq, then your sends on their way (a refused one stays,
        marked). Edits and recalls in flight are no lines: they change their target."""
        waiting = [e for e in self.pending.values() if e.kind not in AMENDS | MARKS]
        return [self.entries[s] for s in sorted(self.entries)] + waiting


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
        self.files: dict[str, FileInfo] = {}  # file id -> what GET /files/{id} said
        self.link = Link.ONLINE

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
            conv.kind = ConversationKind(item.get("kind", conv.kind))
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
        if message.kind in AMENDS:
            self._amend(conv, message)
            return False
        conv.entries[message.seq] = Entry.of(message)
        if message.kind == Kind.SYSTEM:
            self._learn_group(conv, message.body)
        if message.sender == self.me:
            conv.pending.pop(message.cid, None)
            return False
        if message.conv != self.current and message.kind not in NOTICES:
            conv.unread += 1  # as the server counts: notices, reactions, pins are not unread
        return True

    def _learn_group(self, conv: Conversation, body: dict[str, Any]) -> None:
        """A group's title as its events tell it (created, renamed), without a lookup."""
        event = body.get("event")
        changes = body.get("changes")
        if event == SystemEvent.GROUP_CREATED and body.get("title"):
            if conv.kind is ConversationKind.DIRECT:
                conv.kind = ConversationKind.GROUP
            conv.title = str(body["title"])
        elif (
            event == SystemEvent.GROUP_UPDATED
            and isinstance(changes, dict)
            and changes.get("title")
        ):
            conv.title = str(changes["title"])

    def _amend(self, conv: Conversation, message: Message) -> None:
        target = conv.entries.get(int(message.body.get("seq", 0)))
        if target is None:
            return  # not loaded: history shows it amended
        if message.kind == Kind.RECALL:
            target.recalled, target.body = True, {}
        elif not target.recalled:
            target.edited, target.body = True, {"text": message.body.get("text", "")}

    def load_history(self, conv_id: str, items: Iterable[Message]) -> None:
        conv = self.conv(conv_id)
        for message in items:
            if message.kind not in AMENDS:
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
        if entry.kind in MARKS:
            return  # the stored entry (what a toggle did) comes by pull: see the session
        if entry.kind in AMENDS:
            self._amend(conv, _as_message(ack, entry))
        else:
            conv.entries[ack.seq] = entry
        conv.last_seq = max(conv.last_seq, ack.seq)
        conv.last_ts = max(conv.last_ts, ack.ts)

    def failed(self, conv_id: str, cid: str) -> None:
        """A send was refused: a message stays, marked; an edit or recall just goes (its
        target is unchanged, and the notice says why)."""
        pending = self.conv(conv_id).pending
        entry = pending.get(cid)
        if entry is None:
            return
        if entry.kind in AMENDS | MARKS:
            del pending[cid]
        else:
            entry.failed = True

    def on_receipt(self, conv_id: str, user: str, read: int | None, recv: int | None) -> None:
        conv = self.conv(conv_id)
        if user == self.me:  # another of your devices read it
            if read is not None and read >= conv.last_seq:
                conv.unread = 0
            return
        conv.others_read = max(conv.others_read, read or 0)
        conv.others_recv = max(conv.others_recv, recv or 0, read or 0)

    def attachment_at(self, conv_id: str, seq: int) -> str | None:
        """The file id of message #seq, if it is a standing image or file."""
        entry = self.conv(conv_id).entries.get(seq)
        return entry.file_id if entry is not None else None

    def files_to_describe(self, entries: Iterable[Entry]) -> list[str]:
        """File ids among ``entries`` whose name and size are not known yet."""
        ids = (e.file_id for e in entries)
        return [i for i in dict.fromkeys(ids) if i is not None and i not in self.files]

    # --- typing, notices, connection

    def set_typing(self, conv_id: str, user: str, on: bool, until: float) -> None:
        typers = self.typing.setdefault(conv_id, {})
        if on:
            typers[user] = until
        else:
            typers.pop(user, None)

    def typers(self, conv_id: str, now: float) -> list[str]:
        typers = self.typing.get(conv_id, {})
        return [self.names.get(u, u) for u, until in typers.items() if until > now]

    def status(self, now: float) -> str:
        """The line under the messages: the connection when it is not up, else who types."""
        if self.link is not Link.ONLINE:
            return str(self.link)
        typers = self.typers(self.current, now) if self.current else []
        if not typers:
            return ""
        return f"{', '.join(typers)} {'is' if len(typers) == 1 else 'are'} typing…"

    def notice(self, text: str) -> None:
        self.notices.extend(text.splitlines())
        del self.notices[:-NOTICE_LINES]

    # --- text

    def who(self, user_id: str) -> str:
        """A user as the subject or object of a sentence."""
        return "you" if user_id == self.me else self.names.get(user_id, "someone")

    def describe(self, entry: Entry, *, save_hint: bool = True) -> str:
        """What a message says, in words: text, a picture, a file, a group change.

        An attachment ends with the command that saves it, unless ``save_hint`` is off
        (a quote of it)."""
        if entry.recalled:
            return "message recalled"
        if entry.forwarded_from is not None:
            origin = self.names.get(entry.forwarded_from, "someone")
            return f"[forwarded from {origin}] " + self._content(entry, save_hint=save_hint)
        return self._content(entry, save_hint=save_hint)

    def _content(self, entry: Entry, *, save_hint: bool) -> str:
        body = entry.body
        if entry.kind == Kind.TEXT:
            return str(body.get("text", "")) + (" (edited)" if entry.edited else "")
        if entry.kind in ATTACHMENTS:
            info = self.files.get(entry.file_id or "")
            saving = f"  /save {entry.seq}" if save_hint and entry.seq is not None else ""
            return attachment(entry.kind, body, info) + saving
        if entry.kind == Kind.SYSTEM:
            return system_sentence(body, self.who)
        if entry.kind in NOTICES:
            return mark_sentence(entry.kind, body, self.who(entry.sender))
        return f"[{entry.kind} message]"

    def user_ids(self, entry: Entry) -> list[str]:
        """Every user a line names, so their names can be looked up."""
        ids = [entry.sender]
        if entry.forwarded_from is not None:
            ids.append(entry.forwarded_from)
        if entry.kind == Kind.SYSTEM:
            ids.append(str(entry.body.get("actor", "")))
            users = entry.body.get("users")
            if isinstance(users, list):
                ids.extend(str(u) for u in users)
        return [i for i in ids if i and i not in self.names]

    def quote(self, conv: Conversation, entry: Entry) -> str | None:
        """The line above a reply: who said what it answers, cut to one line."""
        if not entry.reply_to:
            return None
        target = conv.entries.get(entry.reply_to)
        if target is None:
            return f"┆ #{entry.reply_to}"  # older than what is loaded
        who = self.names.get(target.sender, target.sender)
        return f"┆ #{target.seq} {who}: {shorten(self.describe(target, save_hint=False))}"

    def line(self, conv: Conversation, entry: Entry) -> Line:
        """One message drawn: ``#seq HH:MM name:`` then its words, a tick if yours."""
        stamp = time.strftime("%H:%M", time.localtime(entry.ts / 1000))
        number = f"#{entry.seq}" if entry.seq is not None else "#…"
        if entry.kind in NOTICES:
            return Line(f"{number} {stamp}", f"* {self.describe(entry)}", system=True)
        mine = entry.sender == self.me
        who = self.names.get(entry.sender, entry.sender)
        tick = conv.tick(entry) if mine and not entry.recalled else None
        return Line(
            f"{number} {stamp} {who}:", self.describe(entry), mine, tick, self.quote(conv, entry)
        )

    def lines(self) -> list[Line]:
        """The open conversation, oldest first (empty when none is open)."""
        if self.current is None:
            return []
        conv = self.conv(self.current)
        return [self.line(conv, entry) for entry in conv.ordered()]


def _as_message(ack: Ack, entry: Entry) -> Message:
    return Message(ack.conv, ack.seq, ack.id, entry.sender, entry.kind, entry.body, ack.ts, ack.cid)
