"""Server administration: what server admins (and the operator's `pigeon admin`
commands) may do to any account, message or group, each act written to the audit log.

Who is a server admin is the ``admin`` mark on the account, set from the command line
only; the rule that only enabled admins pass is ``policy.server_admin_refusal``. The
acts reuse the paths the rest of the server takes: disabling is
``AccountService.set_disabled`` (logins revoked, sockets closed), deleting a message is
a recall entry through the group committer (core/amend.py), dissolving and banning are
``GroupService``'s, so clients see nothing they do not already understand.

``actor`` None is the command line: its audit rows have no actor, and the stream
entries it makes (a recall, a dissolution notice) name ``OPERATOR`` (protocol/audit.py) as their sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.broker.base import Broker, ConvPush, Presence
from pigeon.core import policy
from pigeon.core.accounts import AccountService, normalize_username
from pigeon.core.amend import plan_operator_recall
from pigeon.core.audit import AuditLog
from pigeon.core.clock import Clock
from pigeon.core.committer import GroupCommitter
from pigeon.core.errors import CoreError
from pigeon.core.groups import GroupService
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.paging import Paging
from pigeon.protocol import frames
from pigeon.protocol.audit import OPERATOR, AuditAction
from pigeon.protocol.cursors import decode_key_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.views import AdminUserView, AuditView, StatsView
from pigeon.store.audit import AuditQuery
from pigeon.store.facade import Store
from pigeon.store.records import Appended, NewMessage, UserRecord


def admin_user_view(user: UserRecord) -> AdminUserView:
    return {
        **user.public(),
        "admin": user.admin,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "last_seen": user.last_seen,
    }


@dataclass(frozen=True, slots=True)
class AdminDeps:
    """What the administration acts through: the services whose paths they reuse."""

    store: Store
    accounts: AccountService
    groups: GroupService
    committer: GroupCommitter
    broker: Broker
    presence: Presence
    audit: AuditLog
    paging: Paging
    clock: Clock


class AdminService:
    def __init__(self, deps: AdminDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.audit = deps.audit

    # --- who may

    async def require_admin(self, user_id: str) -> UserRecord:
        """The caller's account, if it may use the admin API (NOT_SERVER_ADMIN,
        ACCOUNT_DISABLED otherwise)."""
        user = await self.store.accounts.user_by_id(user_id)
        if user is None:
            raise CoreError(ErrorCode.NOT_SERVER_ADMIN)
        policy.require_server_admin(user.admin, user.disabled)
        return user

    async def by_username(self, username: str) -> UserRecord:
        user = await self.store.accounts.user_by_username(normalize_username(username))
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        return user

    async def _user(self, user_id: str) -> UserRecord:
        user = await self.store.accounts.user_by_id(user_id)
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        return user

    async def set_admin(self, username: str, admin: bool) -> tuple[UserRecord, bool]:
        """Grant or revoke the mark (command line only); whether it changed."""
        user = await self.by_username(username)
        if user.guest or user.bot:
            raise CoreError(ErrorCode.BAD_REQUEST, "guests and bots cannot be server admins")
        changed = await self.store.admin.set_admin(user.id, admin)
        if changed:
            action = AuditAction.ADMIN_GRANTED if admin else AuditAction.ADMIN_REVOKED
            await self.audit.record(None, action, user=user.id)
        return user, changed

    async def admins(self) -> list[UserRecord]:
        return await self.store.admin.admins()

    # --- reading

    async def stats(self) -> StatsView:
        counts = await self.store.admin.counts(self.deps.clock.now_ms())
        online = await self.deps.presence.online_users(counts.signed_in)
        return {
            "users": counts.users,
            "disabled_users": counts.disabled_users,
            "admins": counts.admins,
            "bots": counts.bots,
            "signed_in_users": len(counts.signed_in),
            "online_users": len(online),
            "conversations": counts.conversations,
            "messages": counts.messages,
            "files": counts.files,
            "file_bytes": counts.file_bytes,
        }

    async def users(
        self, query: str, cursor: str | None, limit: int | None
    ) -> tuple[list[AdminUserView], str | None, bool]:
        """Every account whose username or display name starts with ``query``, by
        username; the cursor is the last username returned."""
        after = decode_key_cursor(cursor) if cursor else None
        page, more = await self.store.admin.users_page(
            query.strip().lower(), after, self.deps.paging.clamp(limit)
        )
        next_cursor = page[-1].username if more and page else None
        return [admin_user_view(u) for u in page], next_cursor, more

    async def audit_page(
        self, query: AuditQuery, cursor: str | None, limit: int | None
    ) -> tuple[list[AuditView], str | None, bool]:
        return await self.audit.page(query, cursor, limit, self.deps.paging)

    # --- accounts

    async def set_disabled(
        self, actor: str | None, user_id: str, disabled: bool, reason: str | None = None
    ) -> AdminUserView:
        """Disable (sign-in refused, every login revoked, sockets closed) or enable."""
        user = await self._user(user_id)
        if actor == user.id:
            raise CoreError(ErrorCode.SELF_TARGET, "an admin cannot disable themself")
        await self.deps.accounts.set_disabled(user.username, disabled)
        action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
        await self.audit.record(actor, action, user=user.id, reason=reason)
        return admin_user_view(await self._user(user_id))

    async def end_sessions(self, actor: str | None, user_id: str) -> int:
        """Sign the user out everywhere without disabling them; how many logins ended."""
        user = await self._user(user_id)
        ended = await self.deps.accounts.sign_out_everywhere(user.id)
        await self.audit.record(actor, AuditAction.SESSIONS_ENDED, user=user.id, logins=ended)
        return ended

    # --- messages and groups

    async def delete_message(
        self, actor: str | None, conv_id: str, seq: int, reason: str | None = None
    ) -> None:
        """Recall any message for everyone: a ``recall`` entry in its stream, marked
        ``"by": "server_admin"``, committed and pushed like any recall."""
        if await self.store.conversations.conversation(conv_id) is None:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        target = await self.store.messages.message_at(conv_id, seq)
        amends = plan_operator_recall(target)
        assert target is not None
        entry = NewMessage(
            id=new_id(IdPrefix.MESSAGE),
            conv_id=conv_id,
            sender_id=actor or OPERATOR,
            cid=new_id(IdPrefix.SYSTEM_CID),
            kind="recall",
            body={"seq": seq, "by": "server_admin"},
            ts=self.deps.clock.now_ms(),
            amends=amends,
            on_behalf=True,
        )
        outcome = await self.deps.committer.submit(entry)
        if not isinstance(outcome, Appended):
            raise CoreError(ErrorCode(outcome.code))
        frame = frames.msg_frame(outcome.message.public())
        await self.deps.broker.publish(ConvPush(conv_id, frame))
        await self.audit.record(
            actor,
            AuditAction.MESSAGE_DELETED,
            user=target.sender_id,
            conv=conv_id,
            message=target.id,
            seq=seq,
            reason=reason,
        )

    async def dissolve(self, actor: str | None, conv_id: str, reason: str | None = None) -> None:
        await self.deps.groups.dissolve(actor or OPERATOR, conv_id, operator=True, reason=reason)

    async def ban(
        self, actor: str | None, conv_id: str, user_id: str, reason: str | None = None
    ) -> None:
        await self._user(user_id)
        await self.deps.groups.ban(actor or OPERATOR, conv_id, user_id, reason, operator=True)

    async def unban(self, actor: str | None, conv_id: str, user_id: str) -> None:
        await self.deps.groups.unban(actor or OPERATOR, conv_id, user_id, operator=True)
