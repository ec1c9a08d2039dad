"""Immutable rows handed out by the store; the core never sees SQLAlchemy objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pigeon.protocol.membership import ConversationKind, MemberState, Role, Visibility
from pigeon.protocol.views import AckView, MessageView, ReactionView, UserView


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    username: str
    display_name: str
    avatar: str | None
    dm_policy: str
    disabled: bool
    created_at: int
    password_hash: str = ""
    last_seen: int | None = None
    #: Set only for a guest account (line mode): when it is retired unless renewed.
    guest_expires_at: int | None = None
    #: A bot account: signs in with a bot token only (bots/), marked in every user object.
    bot: bool = False
    #: A server admin (core/admin.py): shown only in the account's own ``me`` view.
    admin: bool = False
    #: When the account was deleted (core/lifecycle.py); it is shown as a deleted user.
    deleted_at: int | None = None

    @property
    def guest(self) -> bool:
        """A guest has no password and no future: see core/guests.py."""
        return self.guest_expires_at is not None

    def public(self) -> UserView:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "avatar": self.avatar,
            "bot": self.bot,
            "deleted": self.deleted_at is not None,
        }


@dataclass(frozen=True, slots=True)
class LoginRecord:
    id: str
    user_id: str
    device: str
    created_at: int
    last_seen: int
    expires_at: int
    revoked_at: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    kind: ConversationKind
    title: str | None
    avatar: str | None
    owner_id: str | None
    created_at: int
    last_seq: int
    last_ts: int
    announcement: str | None = None
    visibility: Visibility = Visibility.PRIVATE
    member_count: int = 0
    dissolved_at: int | None = None
    #: Days this conversation keeps messages; None follows the server, 0 keeps them forever.
    retention_days: int | None = None
    #: Every message at or below this seq was removed by retention.
    pruned_seq: int = 0


@dataclass(frozen=True, slots=True)
class MemberRecord:
    conv_id: str
    user_id: str
    role: Role
    state: MemberState
    joined_at: int
    join_seq: int
    read_seq: int
    recv_seq: int
    muted: bool
    pinned: bool
    muted_until: int | None
    left_seq: int | None = None

    @property
    def active(self) -> bool:
        return self.state is MemberState.ACTIVE

    @property
    def visible_range(self) -> tuple[int, int | None]:
        """Seqs this member may read: above ``join_seq``, up to ``left_seq`` once gone."""
        return self.join_seq, None if self.active else (self.left_seq or self.join_seq)


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The attribution a forwarded copy carries: its original's author and time."""

    sender_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    conv_id: str
    seq: int
    id: str
    sender_id: str
    cid: str
    kind: str
    body: dict[str, Any]
    ts: int
    reply_to: int | None = None
    mentions: tuple[str, ...] | None = None
    edited_at: int | None = None
    recalled: bool = False
    #: A forwarded copy: who wrote the original, and when.
    forwarded: Forwarded | None = None
    #: Filled by reads made for one reader (history, pull, pins); empty otherwise.
    reactions: tuple[ReactionView, ...] = ()

    def public(self) -> MessageView:
        """The message as clients see it (a ``msg`` frame without ``t``)."""
        out: MessageView = {
            "conv": self.conv_id,
            "seq": self.seq,
            "id": self.id,
            "from": self.sender_id,
            "kind": self.kind,
            "body": {} if self.recalled else self.body,
            "ts": self.ts,
            "cid": self.cid,
        }
        if self.reply_to is not None:
            out["reply_to"] = self.reply_to
        if self.mentions:
            out["mentions"] = list(self.mentions)
        if self.edited_at is not None:
            out["edited_at"] = self.edited_at
        if self.recalled:
            out["recalled"] = True
        if self.forwarded is not None:
            out["forwarded"] = {"from": self.forwarded.sender_id, "ts": self.forwarded.ts}
        if self.reactions:
            out["reactions"] = list(self.reactions)
        return out

    def ack(self) -> AckView:
        """What its sender is told once it is stored (REST reply, WebSocket ``ack``)."""
        return {
            "conv": self.conv_id,
            "seq": self.seq,
            "id": self.id,
            "ts": self.ts,
            "cid": self.cid,
        }


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One conversation as one member sees it (list and sync)."""

    conversation: ConversationRecord
    member: MemberRecord
    change_id: int
    unread: int
    mentioned: bool = False


@dataclass(frozen=True, slots=True)
class Amendment:
    """What a ``recall`` or ``edit`` entry does to an earlier message of its stream.

    ``body`` None recalls the target (body emptied, ``recalled`` set); otherwise the
    target takes ``body`` and ``edited_at``.
    """

    seq: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    """What a ``react``, ``pin`` or ``unpin`` entry does to an earlier message.

    ``emoji`` set: a reaction by the entry's sender, ``on`` True adds it, False
    removes it, None toggles. Otherwise ``on`` pins (True) or unpins (False).
    """

    seq: int
    emoji: str | None = None
    on: bool | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message accepted by the core and waiting for its seq."""

    id: str
    conv_id: str
    sender_id: str
    cid: str
    kind: str
    body: dict[str, Any]
    ts: int
    reply_to: int | None = None
    mentions: tuple[str, ...] | None = None
    amends: Amendment | None = None
    forwarded: Forwarded | None = None
    #: Made by the server on someone's behalf, so its sender need not be an active
    #: member: a server admin's entries (core/admin.py), the recalls that remove a
    #: deleted account's messages (core/lifecycle.py).
    on_behalf: bool = False
    marks: Mark | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    """Outcome of one message in a group commit.

    ``duplicate`` is true when ``(sender, cid)`` was already stored: ``message`` is
    then the original, and nothing was written (nothing new to deliver). Who receives
    a fresh one live is the conversation's business (``ConvPush``), not the commit's.
    """

    message: MessageRecord
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    code: int


AppendOutcome = Appended | Rejected
