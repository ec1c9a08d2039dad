"""What clients see of users, messages, conversations and groups: one shape each.

Every transport sends these same shapes — a ``msg`` frame is a ``MessageView``
plus ``t``, an ``ack`` frame an ``AckView`` plus ``t`` and ``rid``, and REST
returns them inside its envelope — and the REST response schemas in
``/openapi.json`` are generated from these declarations. A field is added here,
once, and the core that fills it is type-checked against it.

``typing_extensions.TypedDict`` rather than ``typing``'s: pydantic refuses the
latter before Python 3.12.
"""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

from pigeon.protocol.membership import ConversationKind, Role, Visibility


class UserView(TypedDict):
    id: str
    username: str
    display_name: str
    avatar: str | None
    bot: bool  # a bot account (docs/bots.md)


class MeView(UserView):
    """The caller's own user, with the settings only they see."""

    dm_policy: str


class ReactionView(TypedDict):
    """One emoji's reactions to a message, as one reader sees them."""

    emoji: str
    count: int
    mine: bool  # the reader is among them


# Functional form: ``from`` is a Python keyword.
MessageView = TypedDict(
    "MessageView",
    {
        "conv": str,
        "seq": int,
        "id": str,
        "from": str,
        "kind": str,
        "body": dict[str, Any],
        "ts": int,
        "cid": str,
        "reply_to": NotRequired[int],
        "mentions": NotRequired[list[str]],
        "edited_at": NotRequired[int],
        "recalled": NotRequired[bool],
        # History and pull only (per reader); in order of first use.
        "reactions": NotRequired[list[ReactionView]],
    },
)


class PinView(TypedDict):
    """A pinned message of a conversation (``GET /conversations/{id}/pins``)."""

    seq: int
    by: str  # who pinned it
    at: int  # when (ms)
    message: MessageView


class AckView(TypedDict):
    """A send's receipt: where the message landed (its ``cid`` ties it to the send)."""

    conv: str
    seq: int
    id: str
    ts: int
    cid: str


class ConversationItemView(TypedDict):
    """One row of the caller's conversation list."""

    id: str
    kind: ConversationKind
    title: str | None
    avatar: str | None
    last_message: MessageView | None
    last_seq: int
    read_seq: int
    unread: int
    mentioned: bool
    muted: bool
    pinned: bool
    member_count: int
    last_ts: int
    # Direct chats only: the other person, and how far they have read and received,
    # so a client that just loaded the list can draw its ticks.
    peer: NotRequired[UserView]
    peer_read_seq: NotRequired[int]
    peer_recv_seq: NotRequired[int]


class GroupView(TypedDict):
    id: str
    kind: ConversationKind
    title: str | None
    avatar: str | None
    announcement: str | None
    visibility: Visibility
    owner: str | None
    member_count: int
    created_at: int


class MemberView(TypedDict):
    user: UserView
    role: Role
    joined_at: int
    muted_until: int | None
