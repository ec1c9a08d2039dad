"""Messages: send (checked, committed, published), history and sync."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pigeon.broker.base import Broker, Push
from pigeon.core import policy
from pigeon.core.access import ConversationAccess
from pigeon.core.amend import AMENDING_KINDS, plan_amendment
from pigeon.core.bodies import BodyLimits, validate_body
from pigeon.core.clock import Clock, SystemClock
from pigeon.core.committer import GroupCommitter
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.marks import MARK_KINDS, MarkLimits, action_for, normalized_body, plan_mark
from pigeon.core.paging import Paging
from pigeon.core.policy import Action, Situation
from pigeon.core.ratelimit import KeyedLimiter
from pigeon.core.typing_indicators import TypingService
from pigeon.protocol import frames
from pigeon.protocol.cursors import decode_sync_cursor, encode_sync_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Send
from pigeon.store.facade import Store
from pigeon.store.marks import PinRecord
from pigeon.store.records import (
    Appended,
    ConversationRecord,
    MemberRecord,
    MessageRecord,
    NewMessage,
)

ALL_MEMBERS = "@all"


@dataclass(frozen=True, slots=True)
class SyncPage:
    cursor: str
    convs: list[dict[str, Any]]
    more: bool


AttachmentCheck = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class MessagingService:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        committer: GroupCommitter,
        limits: BodyLimits,
        paging: Paging,
        access: ConversationAccess,
        typing: TypingService,
        recall_window_s: int,
        mark_limits: MarkLimits,
        check_attachment: AttachmentCheck | None = None,
        sends_per_user: KeyedLimiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        # One budget per user for every send, whatever socket or REST call it came by.
        self.sends_per_user = sends_per_user
        # (sender, kind, body) → raises CoreError unless an image/file message names a
        # complete file the sender uploaded.
        self.check_attachment = check_attachment
        self.access = access
        self.typing = typing
        self.recall_window_s = recall_window_s
        self.mark_limits = mark_limits
        self.store = store
        self.broker = broker
        self.committer = committer
        self.limits = limits
        self.paging = paging

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
            await self.typing.stopped(request.conv, user_id)
        return outcome.message

    async def _accept(self, user_id: str, request: Send) -> NewMessage:
        """Every check a new message passes before it is queued for commit."""
        validate_body(request.kind, request.body, self.limits)
        if request.kind in MARK_KINDS:
            return await self._accept_mark(user_id, request)
        conversation, member = await self.access.posting_rights(request.conv, user_id)
        if self.check_attachment is not None:  # after membership: strangers learn nothing
            await self.check_attachment(user_id, request.kind, request.body)
        now = self.clock.now_ms()
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
            conversation, member = await self.access.posting_rights(
                request.conv, user_id, fresh=True
            )
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

    async def _accept_mark(self, user_id: str, request: Send) -> NewMessage:
        """A reaction, pin or unpin: its own rights (core/marks.py), no reply or mentions."""
        if request.reply_to is not None or request.mentions:
            raise CoreError(ErrorCode.BAD_REQUEST, f"a {request.kind} has no reply_to or mentions")
        _, member = await self.access.marking_rights(
            request.conv, user_id, action_for(request.kind)
        )
        target = await self.store.messages.message_at(request.conv, request.body["seq"])
        mark = await plan_mark(
            request.kind, request.body, member, target, self.store.marks, self.mark_limits
        )
        return NewMessage(
            id=new_id(IdPrefix.MESSAGE),
            conv_id=request.conv,
            sender_id=user_id,
            cid=request.cid,
            kind=request.kind,
            body=normalized_body(request.kind, request.body),
            ts=self.clock.now_ms(),
            marks=mark,
        )

    async def mark(
        self, user_id: str, conv_id: str, kind: str, body: dict[str, Any], cid: str | None = None
    ) -> MessageRecord:
        """A mark entry made by a REST call: ``send`` with a fresh ``cid`` unless given."""
        request = Send(cid=cid or new_id(IdPrefix.MESSAGE), conv=conv_id, kind=kind, body=body)
        return await self.send(user_id, request)

    async def pins(self, user_id: str, conv_id: str) -> list[PinRecord]:
        """The conversation's pinned messages the caller may read, newest pin first."""
        member = await self.access.member(conv_id, user_id, readable=True)
        floor, ceiling = member.visible_range
        return await self.store.messages.pinned(conv_id, floor, ceiling, user_id)

    async def _check_mentions(
        self, conversation: ConversationRecord, member: MemberRecord, mentions: tuple[str, ...]
    ) -> None:
        if ALL_MEMBERS in mentions:
            policy.require(Action.MENTION_ALL, Situation(conversation.kind, member.role))
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
        member = await self.access.member(conv_id, user_id, readable=True)
        floor, ceiling = member.visible_range
        if ceiling is not None:
            before = ceiling + 1 if before is None else min(before, ceiling + 1)
        return await self.store.messages.history(
            conv_id,
            floor_seq=floor,
            before=before,
            after=after,
            limit=self.paging.clamp(limit),
            viewer=user_id,
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
