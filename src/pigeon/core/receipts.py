"""Delivered and read watermarks, and who hears about them.

Watermarks only move forward (the store clamps them). Who gets a ``receipt``:
- direct chats: both members (so the peer sees ticks, and the reader's other
  devices clear their unread);
- groups up to ``push_max_members``: the reader's own devices and the senders of
  the messages the watermark just passed;
- larger groups and channels: the reader's own devices only. Senders ask
  ``counts`` instead, so no push ever grows with the size of the group.
"""

from __future__ import annotations

from typing import Any

from pigeon.broker.base import Broker, ConvPush, Push
from pigeon.core.access import ConversationAccess
from pigeon.core.errors import CoreError
from pigeon.protocol import frames
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind
from pigeon.store.conversations import Watermarks
from pigeon.store.facade import Store
from pigeon.store.records import ConversationRecord


class ReceiptService:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        access: ConversationAccess,
        push_max_members: int,
        detail_max_members: int,
    ) -> None:
        self.store = store
        self.broker = broker
        self.access = access
        self.push_max_members = push_max_members
        self.detail_max_members = detail_max_members

    async def mark(
        self,
        user_id: str,
        conv_id: str,
        *,
        read: int | None = None,
        recv: int | None = None,
        connection_id: str | None = None,
    ) -> Watermarks:
        marks = await self.store.conversations.advance_watermarks(
            conv_id, user_id, read=read, recv=recv
        )
        if marks is None:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        if marks.read_moved or marks.recv_moved:
            frame = frames.receipt_frame(
                conv_id,
                user_id,
                marks.read_seq if marks.read_moved else None,
                marks.recv_seq if marks.recv_moved else None,
            )
            conversation = await self.store.conversations.conversation(conv_id)
            if conversation is not None and conversation.kind is ConversationKind.DIRECT:
                await self.broker.publish(ConvPush(conv_id, frame, connection_id))
            else:
                audience = await self._audience(conversation, user_id, marks)
                await self.broker.publish(Push(audience, frame, connection_id))
        return marks

    async def _audience(
        self, conversation: ConversationRecord | None, user_id: str, marks: Watermarks
    ) -> tuple[str, ...]:
        """Who of a group learns of a receipt: the reader's devices and the senders
        of the messages it passes (a direct chat's receipts go to the conversation)."""
        if conversation is None:
            return (user_id,)
        conv_id = conversation.id
        if (
            conversation.kind is ConversationKind.CHANNEL
            or conversation.member_count > self.push_max_members
        ):
            return (user_id,)
        passed_from = min(
            marks.previous_read if marks.read_moved else marks.read_seq,
            marks.previous_recv if marks.recv_moved else marks.recv_seq,
        )
        upto = max(marks.read_seq, marks.recv_seq)
        senders = await self.store.messages.senders_between(conv_id, passed_from, upto)
        return tuple(dict.fromkeys([user_id, *senders]))

    async def counts(self, user_id: str, conv_id: str, seq: int) -> dict[str, Any]:
        """Read/delivered counts for one message; names too in small groups."""
        conversation, member = await self.access.active_member(conv_id, user_id)
        message = await self.store.messages.message_at(conv_id, seq)
        if message is None or seq <= member.join_seq:
            raise CoreError(ErrorCode.MESSAGE_NOT_FOUND)
        small = conversation.member_count <= self.detail_max_members
        counts = await self.store.conversations.receipt_counts(
            conv_id, seq, message.sender_id, with_names=small
        )
        return {"conv": conv_id, "seq": seq, **counts}
