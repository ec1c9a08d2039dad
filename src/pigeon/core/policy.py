"""Who may do what in a conversation: the whole rule book, in one table.

Every service asks ``refusal(...)`` (or ``require(...)``) before it acts, so a rule
is changed here once and the permission-matrix test (tests/unit/test_policy.py)
shows its full effect. Rules depend only on the conversation's kind and
visibility and on the roles of the actor and, for actions on another member,
of the target; membership itself (is the actor in the conversation at all?) is
checked before, by ``core.access``.

A refusal carries its error code: ``NOT_ADMIN`` (40305) when the action needs an
admin and the actor is a plain member, ``FORBIDDEN`` (40300) when the role is
right but the target is out of reach, or when only the owner may act.

Server administration (``/api/v1/admin``, core/admin.py) is not a conversation
role: ``server_admin_refusal`` is its one rule, asked with the caller's account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind, Role, Visibility


class Action(StrEnum):
    POST = "post"  # send a message; show typing
    MENTION_ALL = "mention_all"  # mention @all
    MODERATE = "moderate"  # recall someone else's message, at any time
    EDIT_GROUP = "edit_group"  # title, avatar, announcement, visibility
    INVITE = "invite"  # add members
    REMOVE = "remove"  # remove another member
    MUTE = "mute"  # stop another member posting until a time
    SET_ROLE = "set_role"  # make a member admin, or an admin member
    TRANSFER = "transfer"  # hand ownership to another member
    DISSOLVE = "dissolve"  # end the group for everyone
    LEAVE = "leave"
    REMOVE_WEBHOOK = "remove_webhook"  # delete an incoming webhook (on_self: its creator)
    SET_RETENTION = "set_retention"  # how long the conversation keeps messages
    BAN = "ban"  # ban (or unban) a user: removed, and not let back in until unbanned
    REACT = "react"  # add or remove one's reaction to a message
    PIN = "pin"  # pin or unpin a message for everyone in the conversation


@dataclass(frozen=True, slots=True)
class Situation:
    """What a rule looks at."""

    kind: ConversationKind
    actor: Role
    # For actions on another member: None asks "may this role do it at all?" (checked
    # before the target is looked up), a role asks "to this member?".
    target: Role | None = None
    visibility: Visibility = Visibility.PRIVATE
    on_self: bool = False  # the target is the actor


@dataclass(frozen=True, slots=True)
class Refusal:
    code: ErrorCode
    reason: str

    def error(self) -> CoreError:
        return CoreError(self.code, self.reason)


Rule = Callable[[Situation], Refusal | None]


def _admins_only(reason: str) -> Rule:
    def rule(s: Situation) -> Refusal | None:
        return None if s.actor.is_admin else Refusal(ErrorCode.NOT_ADMIN, reason)

    return rule


def _owner_only(reason: str) -> Rule:
    def rule(s: Situation) -> Refusal | None:
        return None if s.actor is Role.OWNER else Refusal(ErrorCode.FORBIDDEN, reason)

    return rule


def _outranks(s: Situation) -> bool:
    """Whether the actor stands above the target: the owner above everyone else, an
    admin above plain members only."""
    if s.on_self or s.target is None or s.target is Role.OWNER:
        return False
    return s.actor is Role.OWNER or (s.actor is Role.ADMIN and s.target is Role.MEMBER)


def _on_member_below(admin_reason: str, reach_reason: str) -> Rule:
    def rule(s: Situation) -> Refusal | None:
        if not s.actor.is_admin:
            return Refusal(ErrorCode.NOT_ADMIN, admin_reason)
        if s.target is not None and not _outranks(s):
            return Refusal(ErrorCode.FORBIDDEN, reach_reason)
        return None

    return rule


def _post(s: Situation) -> Refusal | None:
    if s.kind is ConversationKind.CHANNEL and not s.actor.is_admin:
        return Refusal(ErrorCode.FORBIDDEN, "only the channel's owner and admins post")
    return None


def _group_admins_only(code: ErrorCode, reason: str) -> Rule:
    """For admins of groups and channels; nobody in a direct chat (it has no admins)."""

    def rule(s: Situation) -> Refusal | None:
        if s.kind is ConversationKind.DIRECT or not s.actor.is_admin:
            return Refusal(code, reason)
        return None

    return rule


def _invite(s: Situation) -> Refusal | None:
    if s.visibility is Visibility.PUBLIC:
        return None  # anyone in a public group may bring others in
    return _admins_only("only admins add members to a private group")(s)


def _set_role(s: Situation) -> Refusal | None:
    if not s.actor.is_admin:
        return Refusal(ErrorCode.NOT_ADMIN, "only the owner changes roles")
    if s.actor is not Role.OWNER or (s.target is not None and not _outranks(s)):
        return Refusal(ErrorCode.FORBIDDEN, "only the owner changes roles")
    return None


def _leave(s: Situation) -> Refusal | None:
    if s.actor is Role.OWNER:
        return Refusal(ErrorCode.FORBIDDEN, "the owner transfers ownership or dissolves the group")
    return None


def _remove_webhook(s: Situation) -> Refusal | None:
    if s.on_self or s.actor.is_admin:
        return None
    return Refusal(ErrorCode.NOT_ADMIN, "only its creator or an admin deletes a webhook")


def _set_retention(s: Situation) -> Refusal | None:
    if s.kind is ConversationKind.DIRECT:
        return Refusal(ErrorCode.FORBIDDEN, "direct chats keep messages as the server does")
    return _admins_only("only the group's owner or admins set how long messages are kept")(s)


def _react(s: Situation) -> Refusal | None:
    return None  # every active member, channel subscribers included: reacting is not posting


def _pin(s: Situation) -> Refusal | None:
    if s.kind is ConversationKind.DIRECT:
        return None  # either party of a direct chat
    return _admins_only("only admins pin messages")(s)


RULES: dict[Action, Rule] = {
    Action.POST: _post,
    Action.MENTION_ALL: _group_admins_only(
        ErrorCode.NOT_ADMIN, "only a group's owner or admins mention @all"
    ),
    Action.MODERATE: _group_admins_only(
        ErrorCode.FORBIDDEN, "you can only recall your own messages"
    ),
    Action.EDIT_GROUP: _admins_only("only admins change the group"),
    Action.INVITE: _invite,
    Action.REMOVE: _on_member_below("only admins remove members", "you cannot remove that member"),
    Action.MUTE: _on_member_below("only admins mute members", "you cannot mute that member"),
    Action.SET_ROLE: _set_role,
    Action.TRANSFER: _owner_only("only the owner transfers ownership"),
    Action.DISSOLVE: _owner_only("only the owner dissolves a group"),
    Action.LEAVE: _leave,
    Action.REMOVE_WEBHOOK: _remove_webhook,
    Action.SET_RETENTION: _set_retention,
    # A target who is not a member (any more) is asked about as a plain member.
    Action.BAN: _on_member_below("only admins ban members", "you cannot ban that member"),
    Action.REACT: _react,
    Action.PIN: _pin,
}


def refusal(action: Action, situation: Situation) -> Refusal | None:
    """Why ``situation.actor`` may not do ``action``, or None if they may."""
    return RULES[action](situation)


def require(action: Action, situation: Situation) -> None:
    """Raise the refusal's ``CoreError``, if there is one."""
    refused = RULES[action](situation)
    if refused is not None:
        raise refused.error()


def server_admin_refusal(admin: bool, disabled: bool) -> Refusal | None:
    """Whether an account may use the server-admin API: admins only, and never a
    disabled account (whatever its mark says)."""
    if disabled:
        return Refusal(ErrorCode.ACCOUNT_DISABLED, "this account is disabled")
    if not admin:
        return Refusal(ErrorCode.NOT_SERVER_ADMIN, "only server admins may do that")
    return None


def require_server_admin(admin: bool, disabled: bool) -> None:
    refused = server_admin_refusal(admin, disabled)
    if refused is not None:
        raise refused.error()
