"""Messaging: direct conversations, send, history, sync, watermarks, typing, the list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pigeon.broker.base import Broker, Push
from pigeon.core.amend import AMENDING_KINDS, plan_amendment
from pigeon.core.bodies import BodyLimits, validate_body
from pigeon.core.committer import GroupCommitter
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.permissions import PostingCache
from pigeon.core.ratelimit import KeyedLimiter
from pigeon.core.social import SocialService
from pigeon.core.typing import TypingTracker
from pigeon.protocol import frames
from pigeon.protocol.cursors import ListCursor, decode_sync_cursor, encode_sync_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Send
from pigeon.store.facade import Store
from pigeon.store.records import (
    Appended,
    ConversationRecord,
    ConversationView,
    MemberRecord,
    MessageRecord,
    NewMessage,
    UserRecord,
)

ALL_MEMBERS = "@all"


@dataclass(frozen=True, slots=True)
class SyncPage:
    cursor: str
    convs: list[dict[str, Any]]
    more: bool


@dataclass(frozen=True, slots=True)
class Paging:
    default: int
    maximum: int

    def clamp(self, limit: int | None) -> int:
        return self.default if limit is None else max(1, min(limit, self.maximum))


AttachmentCheck = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class MessagingService:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        committer: GroupCommitter,
        limits: BodyLimits,
        paging: Paging,
        social: SocialService,
        recall_window_s: int,
        typing: tuple[float, float] = (3.0, 6.0),
        permissions: PostingCache | None = None,
        check_attachment: AttachmentCheck | None = None,
        sends_per_user: KeyedLimiter | None = None,
    ) -> None:
        # One budget per user for every send, whatever socket or REST call it came by.
        self.sends_per_user = sends_per_user
        self.permissions = permissions or PostingCache(ttl_s=0)
        # (sender, kind, body) → raises CoreError unless an image/file message names a
        # complete file the sender uploaded.
        self.check_attachment = check_attachment
        self.social = social
        self.recall_window_s = recall_window_s
        self.typing_tracker = TypingTracker(self._relay_typing, *typing)
        self.store = store
        self.broker = broker
        self.committer = committer
        self.limits = limits
        self.paging = paging

    async def member(self, conv_id: str, user_id: str, *, readable: bool = False) -> MemberRecord:
        """The caller's active membership; a stranger gets the same error as for no such
        conversation (docs/protocol.md, "REST conventions"). With ``readable``, a member who left or was
        removed also qualifies: they keep reading the history up to their departure."""
        member = await self.store.conversations.membership(conv_id, user_id)
        if member is None or not (member.active or (readable and member.left_seq is not None)):
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return member

    async def check_can_post(self, conv_id: str, user_id: str) -> MemberRecord:
        """The one rule of who may post in a conversation (membership, channel roles,
        direct-chat blocks and policy, mutes), for whatever posts in a member's name
        (an incoming webhook): raises ``CoreError`` unless ``user_id`` may post now."""
        return (await self._check_can_post(conv_id, user_id, fresh=True))[1]

    async def _check_can_post(
        self, conv_id: str, user_id: str, *, fresh: bool = False
    ) -> tuple[ConversationRecord, MemberRecord]:
        cached = None if fresh else self.permissions.get(conv_id, user_id)
        if cached is None:
            cached = await self._load_posting_rights(conv_id, user_id)
            self.permissions.put(conv_id, user_id, cached)
        member = cached[1]
        if member.muted_until is not None and member.muted_until > now_ms():
            raise CoreError(ErrorCode.MUTED, details={"muted_until": member.muted_until})
        return cached

    async def _load_posting_rights(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        conversation, member = await self._member_of(conv_id, user_id)
        if conversation.kind == "channel" and member.role not in ("owner", "admin"):
            raise CoreError(ErrorCode.FORBIDDEN, "only the channel's owner and admins post")
        if conversation.kind == "direct":
            await self.social.check_direct(conv_id, user_id)
        return conversation, member

    # --- conversations

    async def open_direct(self, user_id: str, peer_id: str) -> ConversationRecord:
        peer = await self.store.accounts.user_by_id(peer_id)
        if peer is None or peer.disabled:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        await self.social.check_can_open_direct(user_id, peer)
        return await self.store.conversations.direct(
            new_id(IdPrefix.CONVERSATION), user_id, peer_id, now_ms()
        )

    async def conversation_page(
        self, user_id: str, cursor: str | None, limit: int | None
    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        position = ListCursor.decode(cursor) if cursor else None
        after = (position.pinned, position.last_ts, position.conv_id) if position else None
        views, more = await self.store.conversations.list_for_user(
            user_id, self.paging.clamp(limit), after
        )
        items = await self._describe(user_id, views)
        next_cursor = None
        if more and views:
            last = views[-1]
            next_cursor = ListCursor(
                last.member.pinned, last.conversation.last_ts, last.conversation.id
            ).encode()
        return items, next_cursor, more

    async def conversation_item(self, user_id: str, conv_id: str) -> dict[str, Any]:
        await self.member(conv_id, user_id)
        for view in await self.store.conversations.list_views(user_id, [conv_id]):
            return (await self._describe(user_id, [view]))[0]
        raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)

    async def update_settings(
        self, user_id: str, conv_id: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        await self.member(conv_id, user_id)
        changes = {
            k: bool(v) for k, v in settings.items() if k in ("muted", "pinned") and v is not None
        }
        if changes:
            await self.store.conversations.update_settings(conv_id, user_id, **changes)
        return await self.conversation_item(user_id, conv_id)

    async def _describe(
        self, user_id: str, views: Sequence[ConversationView]
    ) -> list[dict[str, Any]]:
        last = await self.store.messages.last_messages(
            [(v.conversation.id, v.conversation.last_seq) for v in views]
        )
        direct_ids = [v.conversation.id for v in views if v.conversation.kind == "direct"]
        peers = await self.store.conversations.peers(direct_ids, user_id)
        users = await self.store.accounts.users_by_ids(
            [p.user_id for p in peers.values()] + [user_id]
        )
        return [self._item(v, last.get(v.conversation.id), peers, users) for v in views]

    @staticmethod
    def _item(
        view: ConversationView,
        last: MessageRecord | None,
        peers: dict[str, MemberRecord],
        users: dict[str, UserRecord],
    ) -> dict[str, Any]:
        conv, member = view.conversation, view.member
        item: dict[str, Any] = {
            "id": conv.id,
            "kind": conv.kind,
            "title": conv.title,
            "avatar": conv.avatar,
            "last_message": last.public() if last else None,
            "last_seq": conv.last_seq,
            "read_seq": member.read_seq,
            "unread": view.unread,
            "mentioned": view.mentioned,
            "muted": member.muted,
            "pinned": member.pinned,
            "member_count": conv.member_count,
            "last_ts": conv.last_ts,
        }
        if conv.kind == "direct":
            peer_member = peers.get(conv.id)
            peer = users.get(peer_member.user_id if peer_member else member.user_id)
            if peer is not None:
                item["peer"] = peer.public()
                item["title"] = peer.display_name
                item["avatar"] = peer.avatar
            if peer_member is not None:  # so a reloaded client can draw its ticks
                item["peer_read_seq"] = peer_member.read_seq
                item["peer_recv_seq"] = peer_member.recv_seq
        return item

    # --- messages

    async def send(
        self, user_id: str, request: Send, connection_id: str | None = None
    ) -> MessageRecord:
        """Validate, commit durably (deduplicated by cid), then publish to the members.

        A retry of a stored ``(sender, cid)`` returns the original even when the
        checks would now refuse it (removed since, recall window over, ...).
        """
        if self.sends_per_user is not None:
            self.sends_per_user.check(user_id, ErrorCode.SEND_RATE_LIMITED)
        try:
            item = await self._accept(user_id, request)
        except CoreError:
            original = await self.store.messages.find_by_cid(user_id, request.cid)
            if original is None:
                raise
            return original
        outcome = await self.committer.submit(item)
        if not isinstance(outcome, Appended):
            raise CoreError(ErrorCode(outcome.code))
        if not outcome.duplicate:
            frame = frames.msg_frame(outcome.message.public())
            await self.broker.publish(Push(outcome.recipients, frame, connection_id))
            await self.typing_tracker.stop(request.conv, user_id)
        return outcome.message

    async def _accept(self, user_id: str, request: Send) -> NewMessage:
        """Every check a new message passes before it is queued for commit."""
        validate_body(request.kind, request.body, self.limits)
        conversation, member = await self._check_can_post(request.conv, user_id)
        if self.check_attachment is not None:  # after membership: strangers learn nothing
            await self.check_attachment(user_id, request.kind, request.body)
        now = now_ms()
        amends = None
        if request.kind in AMENDING_KINDS:
            target = await self.store.messages.message_at(request.conv, request.body["seq"])
            amends = plan_amendment(
                request.kind,
                request.body,
                member,
                conversation,
                target,
                now,
                self.recall_window_s,
            )
        if request.reply_to is not None and request.reply_to > conversation.last_seq:
            # the cached conversation may predate the message replied to
            conversation, member = await self._check_can_post(request.conv, user_id, fresh=True)
        if request.reply_to is not None and not (
            member.join_seq < request.reply_to <= conversation.last_seq
        ):
            raise CoreError(
                ErrorCode.MESSAGE_NOT_FOUND, "reply_to is not a message of this conversation"
            )
        if request.mentions:
            await self._check_mentions(conversation, member, request.mentions)
        return NewMessage(
            id=new_id(IdPrefix.MESSAGE),
            conv_id=request.conv,
            sender_id=user_id,
            cid=request.cid,
            kind=request.kind,
            body=request.body,
            ts=now,
            reply_to=request.reply_to,
            mentions=request.mentions,
            amends=amends,
        )

    async def _check_mentions(
        self, conversation: ConversationRecord, member: MemberRecord, mentions: tuple[str, ...]
    ) -> None:
        if ALL_MEMBERS in mentions and (
            conversation.kind == "direct" or member.role not in ("owner", "admin")
        ):
            raise CoreError(ErrorCode.NOT_ADMIN, "only a group's owner or admins mention @all")
        people = [m for m in mentions if m != ALL_MEMBERS]
        if people:
            present = await self.store.conversations.active_among(conversation.id, people)
            strangers = [m for m in people if m not in present]
            if strangers:
                raise CoreError(
                    ErrorCode.BAD_REQUEST, "mentions must be members", {"user_ids": strangers}
                )

    async def history(
        self,
        user_id: str,
        conv_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> tuple[list[MessageRecord], bool]:
        member = await self.member(conv_id, user_id, readable=True)
        floor, ceiling = member.visible_range
        if ceiling is not None:
            before = ceiling + 1 if before is None else min(before, ceiling + 1)
        return await self.store.messages.history(
            conv_id,
            floor_seq=floor,
            before=before,
            after=after,
            limit=self.paging.clamp(limit),
        )

    async def sync(self, user_id: str, cursor: str | None, limit: int | None = None) -> SyncPage:
        since = decode_sync_cursor(cursor) if cursor else None
        views, next_cursor, more = await self.store.conversations.changed_since(
            user_id, since, self.paging.clamp(limit or self.paging.maximum)
        )
        convs = []
        for view in views:
            entry: dict[str, Any] = {
                "conv": view.conversation.id,
                "kind": view.conversation.kind,
                "last_seq": view.conversation.last_seq,
                "read_seq": view.member.read_seq,
                "unread": view.unread,
            }
            if not view.member.active:  # nothing after the departure is theirs to know
                entry.update(
                    removed=True, last_seq=view.member.left_seq or view.member.join_seq, unread=0
                )
            convs.append(entry)
        return SyncPage(encode_sync_cursor(next_cursor), convs, more)

    # --- typing

    async def typing(self, user_id: str, conv_id: str, on: bool) -> None:
        conversation, member = await self._member_of(conv_id, user_id)
        if conversation.kind == "channel" and member.role not in ("owner", "admin"):
            raise CoreError(ErrorCode.FORBIDDEN, "only the channel's owner and admins post")
        await self.typing_tracker.update(conv_id, user_id, on)

    async def _member_of(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        found = await self.store.conversations.with_member(conv_id, user_id)
        if found is None or found[1] is None or not found[1].active:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return found[0], found[1]

    async def _relay_typing(self, conv_id: str, user_id: str, on: bool) -> None:
        members = await self.store.conversations.active_member_ids(conv_id)
        others = tuple(m for m in members if m != user_id)
        if others:
            await self.broker.publish(Push(others, frames.typing_frame(conv_id, user_id, on)))
