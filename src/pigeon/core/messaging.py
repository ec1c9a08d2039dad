"""Messages: send (checked, committed, published), history and sync."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from pigeon.broker.base import Broker, ConvPush
from pigeon.core import policy
from pigeon.core.access import ConversationAccess
from pigeon.core.amend import AMENDING_KINDS, plan_amendment
from pigeon.core.audit import AuditLog
from pigeon.core.bodies import BodyLimits, validate_body
from pigeon.core.clock import Clock, SystemClock
from pigeon.core.committer import GroupCommitter, SubmitTurn
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.marks import MARK_KINDS, MarkLimits, action_for, normalized_body, plan_mark
from pigeon.core.paging import Paging
from pigeon.core.policy import Action, Situation
from pigeon.core.ratelimit import KeyedLimiter
from pigeon.core.typing_indicators import TypingService
from pigeon.protocol import frames
from pigeon.protocol.audit import AuditAction
from pigeon.protocol.cursors import decode_sync_cursor, encode_sync_cursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Forward, Send
from pigeon.store.facade import Store
from pigeon.store.marks import PinRecord
from pigeon.store.records import (
    Appended,
    ConversationRecord,
    Forwarded,
    MemberRecord,
    MessageRecord,
    NewMessage,
)

ALL_MEMBERS = "@all"
# What a forward may copy: messages with content of their own. Recall and edit entries
# act on another message, and system notices speak for the server.
FORWARDABLE_KINDS = frozenset({"text", "image", "file", "custom"})


@dataclass(frozen=True, slots=True)
class SyncPage:
    cursor: str
    convs: list[dict[str, Any]]
    more: bool


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A page of history; ``first_seq`` is set when retention removed the messages
    before it that the reader could otherwise have seen."""

    items: list[MessageRecord]
    more: bool
    first_seq: int | None = None


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
        check_forwarded_attachment: AttachmentCheck | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.audit = audit or AuditLog(store.audit, self.clock)
        # One budget per user for every send, whatever socket or REST call it came by.
        self.sends_per_user = sends_per_user
        # (sender, kind, body) → raises CoreError unless an image/file message names a
        # complete file the sender uploaded.
        self.check_attachment = check_attachment
        # (forwarder, kind, body) → raises CoreError unless the forwarder may read the
        # file a forwarded image/file message shows; it then stays referenced.
        self.check_forwarded_attachment = check_forwarded_attachment
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
        self,
        user_id: str,
        request: Send,
        connection_id: str | None = None,
        turn: SubmitTurn | None = None,
    ) -> MessageRecord:
        """Validate, commit durably (deduplicated by cid), then publish to the members.

        A retry of a stored ``(sender, cid)`` returns the original even when the
        checks would now refuse it (removed since, recall window over, ...).
        ``turn`` orders this send's commit after its connection's earlier sends
        (``GroupCommitter.submit``); whatever happens, the turn is passed.
        """
        try:
            if self.sends_per_user is not None:
                self.sends_per_user.check(user_id, ErrorCode.SEND_RATE_LIMITED)
            try:
                item, moderated = await self._accept(user_id, request)
            except CoreError:
                original = await self.store.messages.find_by_cid(user_id, request.cid)
                if original is None:
                    raise
                return original
            outcome = await self.committer.submit(item, turn)
        finally:
            if turn is not None:
                turn.passed()
        if not isinstance(outcome, Appended):
            raise CoreError(ErrorCode(outcome.code))
        if not outcome.duplicate:
            frame = frames.msg_frame(outcome.message.public())
            await self.broker.publish(ConvPush(outcome.message.conv_id, frame, connection_id))
            await self.typing.stopped(request.conv, user_id)
            if moderated is not None:  # someone else's message: a moderator's act
                await self.audit.record(
                    user_id,
                    AuditAction.MESSAGE_RECALLED,
                    user=moderated.sender_id,
                    conv=request.conv,
                    message=moderated.id,
                    seq=moderated.seq,
                )
        return outcome.message

    async def _accept(self, user_id: str, request: Send) -> tuple[NewMessage, MessageRecord | None]:
        """Every check a new message passes before it is queued for commit; with it,
        the message of someone else it recalls, if it does (for the audit log)."""
        forwarded = None
        if request.forward is not None:
            original = await self._forwardable(user_id, request.forward)
            request = replace(request, kind=original.kind, body=original.body)
            # A copy of a copy still names the original's author.
            forwarded = original.forwarded or Forwarded(original.sender_id, original.ts)
        validate_body(request.kind, request.body, self.limits)
        if request.kind in MARK_KINDS:
            return await self._accept_mark(user_id, request), None
        conversation, member = await self.access.posting_rights(request.conv, user_id)
        # after membership: strangers learn nothing
        check = self.check_attachment if forwarded is None else self.check_forwarded_attachment
        if check is not None:
            await check(user_id, request.kind, request.body)
        now = self.clock.now_ms()
        amends = moderated = None
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
            if request.kind == "recall" and target is not None and target.sender_id != user_id:
                moderated = target
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
        if request.reply_to is not None and request.reply_to <= conversation.pruned_seq:
            raise CoreError(ErrorCode.MESSAGE_REMOVED, "reply_to was removed by retention")
        if request.mentions:
            await self._check_mentions(conversation, member, request.mentions)
        return (
            NewMessage(
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
                forwarded=forwarded,
            ),
            moderated,
        )

    async def _forwardable(self, user_id: str, source: Forward) -> MessageRecord:
        """The message ``source`` names, if the caller may read and forward it.

        Anything the caller may not read — another conversation, a conversation they
        left, a message before they joined — is MESSAGE_NOT_FOUND, as a missing one.
        """
        try:
            conversation, member = await self.access.active_member(source.conv, user_id)
        except CoreError:
            raise CoreError(ErrorCode.MESSAGE_NOT_FOUND) from None
        if source.seq <= member.join_seq or source.seq > conversation.last_seq:
            raise CoreError(ErrorCode.MESSAGE_NOT_FOUND)
        if source.seq <= conversation.pruned_seq:
            raise CoreError(
                ErrorCode.MESSAGE_REMOVED, details={"first_seq": conversation.pruned_seq + 1}
            )
        original = await self.store.messages.message_at(source.conv, source.seq)
        if original is None:  # removed by retention since the conversation was read
            raise CoreError(ErrorCode.MESSAGE_REMOVED)
        if original.recalled or original.kind not in FORWARDABLE_KINDS:
            raise CoreError(ErrorCode.NOT_FORWARDABLE)
        return original

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
    ) -> HistoryPage:
        conversation, member = await self.access.reader(conv_id, user_id)
        floor, ceiling = member.visible_range
        if ceiling is not None:
            before = ceiling + 1 if before is None else min(before, ceiling + 1)
        first_seq = None
        if conversation.pruned_seq > floor:  # retention removed some of what they could see
            floor, first_seq = conversation.pruned_seq, conversation.pruned_seq + 1
        items, more = await self.store.messages.history(
            conv_id,
            floor_seq=floor,
            before=before,
            after=after,
            limit=self.paging.clamp(limit),
            viewer=user_id,
        )
        return HistoryPage(items, more, first_seq)

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
            if view.conversation.pruned_seq > view.member.join_seq:
                entry["first_seq"] = view.conversation.pruned_seq + 1
            if not view.member.active:  # nothing after the departure is theirs to know
                entry.update(
                    removed=True, last_seq=view.member.left_seq or view.member.join_seq, unread=0
                )
            convs.append(entry)
        return SyncPage(encode_sync_cursor(next_cursor), convs, more)
