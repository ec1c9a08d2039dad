"""Groups (members post), channels (owner and admins post) and public rooms.

Permissions, in one place:
- owner: everything; the only one who changes roles, transfers or dissolves.
- admin: edits the group, adds members, removes and mutes plain members.
- member: posts (in groups), leaves; in a public group may also add others.
Every change is a ``system`` message in the stream, so offline members catch up
by sync (docs/protocol.md, "Groups, channels, rooms"), except channel
subscribe/unsubscribe, which would flood a huge audience with notices nobody reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pigeon.broker.base import Broker, ConvPush, Membership
from pigeon.core import policy
from pigeon.core.audit import AuditLog
from pigeon.core.avatars import claim_avatar
from pigeon.core.clock import Clock, SystemClock
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.permissions import PostingCache
from pigeon.core.policy import Action, Situation
from pigeon.core.presence import PresenceService
from pigeon.protocol import frames
from pigeon.protocol.audit import AuditAction
from pigeon.protocol.cursors import MemberCursor, decode_key_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind, Role, Visibility
from pigeon.protocol.views import BanView, GroupView, MemberView, UserView
from pigeon.store.bans import BanRecord
from pigeon.store.facade import Store
from pigeon.store.files import FileStore
from pigeon.store.groups import ChangeResult, MembershipChange, NewConversation
from pigeon.store.records import ConversationRecord, MemberRecord, NewMessage, UserRecord

LOBBY_ID = "c_lobby"
MAX_TITLE = 64
MAX_ANNOUNCEMENT = 2000
MAX_ADD_AT_ONCE = 500


@dataclass(frozen=True, slots=True)
class GroupLimits:
    max_group_members: int
    max_channel_members: int

    def for_kind(self, kind: ConversationKind) -> int:
        if kind is ConversationKind.CHANNEL:
            return self.max_channel_members
        return self.max_group_members


def group_view(conv: ConversationRecord) -> GroupView:
    return {
        "id": conv.id,
        "kind": conv.kind,
        "title": conv.title,
        "avatar": conv.avatar,
        "announcement": conv.announcement,
        "visibility": conv.visibility,
        "owner": conv.owner_id,
        "member_count": conv.member_count,
        "created_at": conv.created_at,
    }


def member_view(member: MemberRecord, user: UserRecord) -> MemberView:
    return {
        "user": user.public(),
        "role": member.role,
        "joined_at": member.joined_at,
        "muted_until": member.muted_until,
    }


def _title(value: str) -> str:
    title = value.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise CoreError(ErrorCode.BAD_REQUEST, f"title must be 1-{MAX_TITLE} characters")
    return title


class GroupService:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        presence: PresenceService,
        limits: GroupLimits,
        permissions: PostingCache | None = None,
        avatar_files: FileStore | None = None,
        clock: Clock | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.audit = audit or AuditLog(store.audit, self.clock)
        self.permissions = permissions or PostingCache(ttl_s=0)
        self.avatar_files = avatar_files
        self.store = store
        self.broker = broker
        self.presence = presence
        self.limits = limits

    # --- lookups and permission checks

    async def _group(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord | None]:
        found = await self.store.conversations.with_member(conv_id, user_id)
        if found is None or not found[0].kind.is_group_like or found[0].dissolved_at is not None:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return found

    async def _as_member(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        conv, member = await self._group(conv_id, user_id)
        if member is None or not member.active:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return conv, member

    async def _permitted(
        self, action: Action, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        """The group and the caller's membership, once the policy lets them ``action``."""
        conv, member = await self._as_member(conv_id, user_id)
        policy.require(action, Situation(conv.kind, member.role, visibility=conv.visibility))
        return conv, member

    @staticmethod
    def _on_target(
        action: Action, conv: ConversationRecord, member: MemberRecord, target: MemberRecord
    ) -> None:
        situation = Situation(
            conv.kind, member.role, target.role, conv.visibility, target.user_id == member.user_id
        )
        policy.require(action, situation)

    async def _target(self, conv_id: str, target_id: str) -> MemberRecord:
        member = await self.store.conversations.membership(conv_id, target_id)
        if member is None or not member.active:
            raise CoreError(ErrorCode.USER_NOT_FOUND, "that user is not a member")
        return member

    # --- system messages

    def _system(
        self, conv_id: str, actor: str, event: str, *, operator: bool = False, **details: Any
    ) -> NewMessage:
        """The notice of a change; ``operator``: made by a server admin, member or not."""
        return NewMessage(
            id=new_id(IdPrefix.MESSAGE),
            conv_id=conv_id,
            sender_id=actor,
            cid=new_id(IdPrefix.SYSTEM_CID),
            kind="system",
            body={"event": event, "actor": actor, **details},
            ts=self.clock.now_ms(),
            on_behalf=operator,
        )

    async def _announce(self, result: ChangeResult) -> None:
        """Publish a committed change: who joined, its notice, who departed, in that
        order, so the notice reaches newcomers and the departed alike. Nothing here
        may wait between the commit and these publishes: on this node a message
        committed after the change is published after them (docs/architecture.md)."""
        conv_id = result.conversation.id
        for user_id in result.joined:
            await self.broker.publish(Membership(user_id, conv_id, joined=True))
        if result.system is not None:
            frame = frames.msg_frame(result.system.message.public())
            await self.broker.publish(ConvPush(conv_id, frame))
        for user_id in result.departed:
            await self.broker.publish(Membership(user_id, conv_id, joined=False))

    async def _apply(self, change: MembershipChange) -> ConversationRecord:
        result = await self.store.groups.apply(change)
        self.permissions.invalidate()
        await self._announce(result)
        return result.conversation

    # --- create, read, update, dissolve

    async def create(
        self,
        owner_id: str,
        title: str,
        member_ids: Sequence[str],
        visibility: Visibility = Visibility.PRIVATE,
        kind: ConversationKind = ConversationKind.GROUP,
    ) -> GroupView:
        if not kind.is_group_like:
            raise CoreError(ErrorCode.BAD_REQUEST, "kind is group or channel")
        others = [m for m in dict.fromkeys(member_ids) if m != owner_id]
        await self._check_invitees(owner_id, others)
        now = self.clock.now_ms()
        conv = NewConversation(
            new_id(IdPrefix.CONVERSATION), kind, _title(title), owner_id, visibility, now
        )
        system = self._system(conv.id, owner_id, "group_created", title=conv.title, users=others)
        result = await self.store.groups.create(
            conv, [owner_id, *others], system, self.limits.for_kind(kind)
        )
        await self._announce(result)
        return group_view(result.conversation)

    async def _check_invitees(self, actor: str, user_ids: Sequence[str]) -> None:
        if len(user_ids) > MAX_ADD_AT_ONCE:
            raise CoreError(ErrorCode.BAD_REQUEST, f"add at most {MAX_ADD_AT_ONCE} users at once")
        found = await self.store.accounts.users_by_ids(user_ids)
        missing = [u for u in user_ids if u not in found or found[u].disabled]
        if missing:
            raise CoreError(ErrorCode.USER_NOT_FOUND, details={"user_ids": missing})
        blockers = await self.store.social.blockers_of(actor, list(user_ids))
        if blockers:
            raise CoreError(
                ErrorCode.BLOCKED,
                "some users do not accept invitations from you",
                {"user_ids": sorted(blockers)},
            )

    async def get(self, user_id: str, conv_id: str) -> GroupView:
        conv, member = await self._group(conv_id, user_id)
        if conv.visibility is not Visibility.PUBLIC and (member is None or not member.active):
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return group_view(conv)

    async def directory(self, query: str, limit: int, offset: int = 0) -> list[GroupView]:
        return [
            group_view(c) for c in await self.store.groups.directory(query.strip(), limit, offset)
        ]

    async def update(self, user_id: str, conv_id: str, fields: dict[str, Any]) -> GroupView:
        conv, _ = await self._permitted(Action.EDIT_GROUP, conv_id, user_id)
        changes: dict[str, Any] = {}
        if fields.get("title") is not None:
            changes["title"] = _title(fields["title"])
        if "avatar" in fields:
            changes["avatar"] = await claim_avatar(self.avatar_files, user_id, fields["avatar"])
        if "announcement" in fields:
            text = fields["announcement"]
            if text is not None and len(text) > MAX_ANNOUNCEMENT:
                raise CoreError(
                    ErrorCode.BAD_REQUEST, f"announcement is over {MAX_ANNOUNCEMENT} characters"
                )
            changes["announcement"] = text
        if fields.get("visibility") is not None:
            if fields["visibility"] not in tuple(Visibility):
                raise CoreError(ErrorCode.BAD_REQUEST, "visibility is private or public")
            changes["visibility"] = Visibility(fields["visibility"])
        if not changes:
            return group_view(conv)
        system = self._system(conv_id, user_id, "group_updated", changes=changes)
        updated = await self._apply(
            MembershipChange(conv_id, self.clock.now_ms(), conversation=changes, system=system)
        )
        return group_view(updated)

    async def dissolve(
        self, user_id: str, conv_id: str, *, operator: bool = False, reason: str | None = None
    ) -> None:
        """End the group for everyone: its owner, or (``operator``) a server admin."""
        if operator:
            await self._group(conv_id, user_id)
        else:
            await self._permitted(Action.DISSOLVE, conv_id, user_id)
        now = self.clock.now_ms()
        entry = self.audit.entry(
            user_id, AuditAction.GROUP_DISSOLVED, conv=conv_id, **_as_operator(operator, reason)
        )
        await self._apply(
            MembershipChange(
                conv_id,
                now,
                conversation={"dissolved_at": now, "visibility": Visibility.PRIVATE},
                system=self._system(conv_id, user_id, "group_dissolved", operator=operator),
                dissolve=True,
                audit=[entry],
            )
        )

    # --- members

    async def members(
        self, user_id: str, conv_id: str, cursor: str | None, limit: int
    ) -> tuple[list[MemberView], str | None, bool]:
        await self._as_member(conv_id, user_id)
        position = MemberCursor.decode(cursor) if cursor else None
        after = (position.joined_at, position.user_id) if position else None
        page, more = await self.store.groups.member_page(conv_id, after, limit)
        users = await self.store.accounts.users_by_ids([m.user_id for m in page])
        items = [member_view(m, users[m.user_id]) for m in page if m.user_id in users]
        next_cursor = (
            MemberCursor(page[-1].joined_at, page[-1].user_id).encode() if more and page else None
        )
        return items, next_cursor, more

    async def add_members(self, user_id: str, conv_id: str, user_ids: Sequence[str]) -> GroupView:
        conv, _ = await self._permitted(Action.INVITE, conv_id, user_id)
        wanted = [u for u in dict.fromkeys(user_ids) if u != user_id]
        await self._check_invitees(user_id, wanted)
        present = await self.store.conversations.active_among(conv_id, wanted) if wanted else set()
        newcomers = [u for u in wanted if u not in present]  # the notice names only them
        system = None
        if conv.kind is not ConversationKind.CHANNEL and newcomers:
            system = self._system(conv_id, user_id, "member_added", users=newcomers)
        updated = await self._apply(
            MembershipChange(
                conv_id,
                self.clock.now_ms(),
                add=wanted,
                system=system,
                max_members=self.limits.for_kind(conv.kind),
            )
        )
        return group_view(updated)

    async def remove_member(self, user_id: str, conv_id: str, target_id: str) -> None:
        conv, member = await self._as_member(conv_id, user_id)
        policy.require(Action.REMOVE, Situation(conv.kind, member.role))  # admins only...
        target = await self._target(conv_id, target_id)
        self._on_target(Action.REMOVE, conv, member, target)  # ...and only those below them
        await self._apply(
            MembershipChange(
                conv_id,
                self.clock.now_ms(),
                remove=[target_id],
                system=self._system(conv_id, user_id, "member_removed", users=[target_id]),
                audit=[
                    self.audit.entry(
                        user_id, AuditAction.MEMBER_REMOVED, user=target_id, conv=conv_id
                    )
                ],
            )
        )

    async def update_member(
        self, user_id: str, conv_id: str, target_id: str, fields: dict[str, Any]
    ) -> MemberView:
        conv, member = await self._as_member(conv_id, user_id)
        gate = Action.SET_ROLE if fields.get("role") is not None else Action.MUTE
        policy.require(gate, Situation(conv.kind, member.role))  # before the target is known
        target = await self._target(conv_id, target_id)
        roles: dict[str, Role] = {}
        muted: dict[str, int | None] = {}
        details: dict[str, Any] = {"users": [target_id]}
        if fields.get("role") is not None:
            self._on_target(Action.SET_ROLE, conv, member, target)
            if fields["role"] not in (Role.ADMIN, Role.MEMBER):
                raise CoreError(ErrorCode.BAD_REQUEST, "role is admin or member")
            roles[target_id] = details["role"] = Role(fields["role"])
        if "muted_until" in fields:
            self._on_target(Action.MUTE, conv, member, target)
            muted[target_id] = details["muted_until"] = fields["muted_until"]
        audit = []
        if roles:
            audit.append(
                self.audit.entry(
                    user_id,
                    AuditAction.ROLE_CHANGED,
                    user=target_id,
                    conv=conv_id,
                    role=roles[target_id],
                )
            )
        if muted:
            audit.append(
                self.audit.entry(
                    user_id,
                    AuditAction.MEMBER_MUTED,
                    user=target_id,
                    conv=conv_id,
                    muted_until=muted[target_id],
                )
            )
        if roles or muted:
            await self._apply(
                MembershipChange(
                    conv_id,
                    self.clock.now_ms(),
                    roles=roles,
                    muted_until=muted,
                    system=self._system(conv_id, user_id, "member_updated", **details),
                    audit=audit,
                )
            )
        updated = await self._target(conv_id, target_id)
        user = await self.store.accounts.user_by_id(target_id)
        assert user is not None
        return member_view(updated, user)

    async def join(self, user_id: str, conv_id: str) -> GroupView:
        conv, member = await self._group(conv_id, user_id)
        if member is not None and member.active:
            return group_view(conv)  # already in (private groups too): idempotent
        if conv.visibility is not Visibility.PUBLIC:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        system = None
        if conv.kind is not ConversationKind.CHANNEL:  # subscribers come and go unannounced
            system = self._system(conv_id, user_id, "member_joined")
        updated = await self._apply(
            MembershipChange(
                conv_id,
                self.clock.now_ms(),
                add=[user_id],
                system=system,
                max_members=self.limits.for_kind(conv.kind),
            )
        )
        return group_view(updated)

    async def leave(self, user_id: str, conv_id: str) -> None:
        conv, _ = await self._permitted(Action.LEAVE, conv_id, user_id)
        system = None
        if conv.kind is not ConversationKind.CHANNEL:
            system = self._system(conv_id, user_id, "member_left")
        await self._apply(
            MembershipChange(conv_id, self.clock.now_ms(), leave=[user_id], system=system)
        )

    async def transfer(self, user_id: str, conv_id: str, target_id: str) -> GroupView:
        await self._permitted(Action.TRANSFER, conv_id, user_id)
        await self._target(conv_id, target_id)
        if target_id == user_id:
            raise CoreError(ErrorCode.SELF_TARGET, "you own it already")
        updated = await self._apply(
            MembershipChange(
                conv_id,
                self.clock.now_ms(),
                roles={target_id: Role.OWNER, user_id: Role.ADMIN},
                conversation={"owner_id": target_id},
                system=self._system(conv_id, user_id, "owner_transferred", users=[target_id]),
                audit=[
                    self.audit.entry(
                        user_id, AuditAction.OWNERSHIP_TRANSFERRED, user=target_id, conv=conv_id
                    )
                ],
            )
        )
        return group_view(updated)

    # --- bans

    async def _ban_gate(
        self, actor: str, conv_id: str, operator: bool
    ) -> tuple[ConversationRecord, MemberRecord | None]:
        """The group, once ``actor`` may ban there at all: its owner or admins, or
        (``operator``) a server admin, member or not."""
        if operator:
            return await self._group(conv_id, actor)
        conv, member = await self._as_member(conv_id, actor)
        policy.require(Action.BAN, Situation(conv.kind, member.role))
        return conv, member

    async def ban(
        self,
        actor: str,
        conv_id: str,
        target_id: str,
        reason: str | None = None,
        *,
        operator: bool = False,
    ) -> None:
        """Ban ``target_id``: removed if present, and refused every way back in (join,
        invitation, being added) until unbanned. Banning again replaces the reason."""
        conv, member = await self._ban_gate(actor, conv_id, operator)
        if await self.store.accounts.user_by_id(target_id) is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        target = await self.store.conversations.membership(conv_id, target_id)
        present = target is not None and target.active
        if member is not None:  # one of the group's own admins: only those below them
            role = target.role if target is not None and present else Role.MEMBER
            policy.require(
                Action.BAN,
                Situation(conv.kind, member.role, role, conv.visibility, target_id == actor),
            )
        elif target_id == conv.owner_id:
            raise CoreError(
                ErrorCode.FORBIDDEN, "the owner cannot be banned; dissolve the group instead"
            )
        now = self.clock.now_ms()
        system = self._system(conv_id, actor, "member_banned", operator=operator, users=[target_id])
        await self._apply(
            MembershipChange(
                conv_id,
                now,
                remove=[target_id] if present else [],
                system=system if present else None,
                ban=[BanRecord(conv_id, target_id, actor, reason, now)],
                audit=[
                    self.audit.entry(
                        actor,
                        AuditAction.MEMBER_BANNED,
                        user=target_id,
                        conv=conv_id,
                        **_as_operator(operator, reason),
                    )
                ],
            )
        )

    async def unban(
        self, actor: str, conv_id: str, target_id: str, *, operator: bool = False
    ) -> None:
        """Let ``target_id`` back in (they are not re-added); NOT_FOUND if not banned."""
        await self._ban_gate(actor, conv_id, operator)
        entry = self.audit.entry(
            actor,
            AuditAction.MEMBER_UNBANNED,
            user=target_id,
            conv=conv_id,
            **_as_operator(operator, None),
        )
        await self._apply(
            MembershipChange(conv_id, self.clock.now_ms(), unban=[target_id], audit=[entry])
        )

    async def bans(
        self, actor: str, conv_id: str, cursor: str | None, limit: int, *, operator: bool = False
    ) -> tuple[list[BanView], str | None, bool]:
        """The group's bans by user id; the cursor is the last user id returned."""
        await self._ban_gate(actor, conv_id, operator)
        after = decode_key_cursor(cursor) if cursor else None
        page, more = await self.store.bans.page(conv_id, after, limit)
        users = await self.store.accounts.users_by_ids([b.user_id for b in page])
        items: list[BanView] = [
            {
                "user": users[b.user_id].public(),
                "actor": b.actor_id,
                "reason": b.reason,
                "created_at": b.created_at,
            }
            for b in page
            if b.user_id in users
        ]
        return items, page[-1].user_id if more and page else None, more

    async def online_members(self, user_id: str, conv_id: str, limit: int) -> list[UserView]:
        """Members online now that the caller may see online (core/presence.py): the
        chat-room list. Nobody across a block; in a channel, only people the caller
        knows otherwise (subscribers share no room)."""
        conv, _ = await self._as_member(conv_id, user_id)
        member_ids = await self.store.conversations.active_member_ids(conv_id)
        online = await self.presence.visible_online(
            user_id, member_ids, limit, shared_group=conv.kind is ConversationKind.GROUP
        )
        users = await self.store.accounts.users_by_ids(online)
        return [users[u].public() for u in online if u in users]

    async def ensure_lobby(self) -> None:
        """The public room everyone can find on a fresh server."""
        now = self.clock.now_ms()
        await self.store.groups.ensure_room(
            NewConversation(LOBBY_ID, ConversationKind.GROUP, "lobby", None, Visibility.PUBLIC, now)
        )


def _as_operator(operator: bool, reason: str | None) -> dict[str, Any]:
    """Audit detail: whether a server admin acted (rather than the group's own), and why."""
    detail: dict[str, Any] = {"reason": reason}
    if operator:
        detail["as"] = "server_admin"
    return detail
