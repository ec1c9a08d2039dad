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

from pigeon.protocol.audit import AuditAction
from pigeon.protocol.membership import ConversationKind, Role, Visibility


class UserView(TypedDict):
    id: str
    username: str
    display_name: str
    avatar: str | None
    bot: bool  # a bot account (docs/bots.md)
    deleted: bool  # a deleted account: shown as "Deleted user", no avatar


class MeView(UserView):
    """The caller's own user, with the settings only they see."""

    dm_policy: str
    admin: bool  # a server admin (may use /api/v1/admin)


class ReactionView(TypedDict):
    """One emoji's reactions to a message, as one reader sees them."""

    emoji: str
    count: int
    mine: bool  # the reader is among them


# Functional form: ``from`` is a Python keyword. A forwarded copy names its original's
# author and time, never the conversation it came from.
ForwardedView = TypedDict("ForwardedView", {"from": str, "ts": int})

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
        "forwarded": NotRequired[ForwardedView],
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


class RetentionView(TypedDict):
    """How long a conversation keeps messages (docs/protocol.md, "Retention")."""

    conv: str
    days: int | None  # this conversation's override; None follows the server
    effective_days: int  # what applies: 0 keeps messages forever
    first_seq: int  # the oldest seq not removed (1 when nothing was)


class AdminUserView(UserView):
    """A user as server admins see them (GET /admin/users)."""

    admin: bool
    disabled: bool
    created_at: int
    last_seen: int | None


class BanView(TypedDict):
    """Someone banned from a group or channel."""

    user: UserView
    actor: str | None  # who banned them; None: the operator's command line
    reason: str | None
    created_at: int


class AuditView(TypedDict):
    """One row of the append-only audit log (docs/operations.md, "Audit log")."""

    id: int
    ts: int
    actor: str | None  # None: the operator's command line
    action: AuditAction
    target_user: str | None
    target_conv: str | None
    target_message: str | None
    detail: dict[str, Any]
    request_id: str | None


class StatsView(TypedDict):
    """Server-wide counts (GET /admin/stats)."""

    users: int
    disabled_users: int
    admins: int
    bots: int
    signed_in_users: int  # with at least one login that is neither revoked nor expired
    online_users: int
    conversations: dict[str, int]  # by kind, dissolved groups left out
    messages: int
    files: int
    file_bytes: int
