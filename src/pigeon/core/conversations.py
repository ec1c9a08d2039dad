"""The caller's conversation list: opening direct chats, the rows, per-user settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pigeon.broker.base import Broker, Membership
from pigeon.core.access import ConversationAccess
from pigeon.core.clock import Clock
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.paging import Paging
from pigeon.core.social import SocialService
from pigeon.protocol.cursors import ListCursor
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind
from pigeon.protocol.views import ConversationItemView
from pigeon.store.facade import Store
from pigeon.store.records import (
    ConversationRecord,
    ConversationView,
    MemberRecord,
    MessageRecord,
    UserRecord,
)

# The per-user switches a member may flip on a conversation (PATCH /conversations/{id}).
MEMBER_SETTINGS = ("muted", "pinned")


class ConversationService:
    def __init__(
        self,
        store: Store,
        access: ConversationAccess,
        social: SocialService,
        paging: Paging,
        clock: Clock,
        broker: Broker,
    ) -> None:
        self.clock = clock
        self.broker = broker
        self.store = store
        self.access = access
        self.social = social
        self.paging = paging

    async def open_direct(self, user_id: str, peer_id: str) -> ConversationRecord:
        """The direct chat of the two users, created on first use."""
        peer = await self.store.accounts.user_by_id(peer_id)
        if peer is None or peer.disabled:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        await self.social.check_can_open_direct(user_id, peer)
        conv, created = await self.store.conversations.open_direct(
            new_id(IdPrefix.CONVERSATION), user_id, peer_id, self.clock.now_ms()
        )
        if created:  # both are members now: conversation pushes must find them
            for member in dict.fromkeys((user_id, peer_id)):
                await self.broker.publish(Membership(member, conv.id, joined=True))
        return conv

    async def page(
        self, user_id: str, cursor: str | None, limit: int | None
    ) -> tuple[list[ConversationItemView], str | None, bool]:
        """Pinned first, then by latest activity; the cursor resumes after the last row."""
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

    async def item(self, user_id: str, conv_id: str) -> ConversationItemView:
        await self.access.member(conv_id, user_id)
        return await self._item_of_member(user_id, conv_id)

    async def _item_of_member(self, user_id: str, conv_id: str) -> ConversationItemView:
        """The list row of a conversation whose membership the caller just checked."""
        for view in await self.store.conversations.list_views(user_id, [conv_id]):
            return (await self._describe(user_id, [view]))[0]
        raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)

    async def update_settings(
        self, user_id: str, conv_id: str, settings: dict[str, Any]
    ) -> ConversationItemView:
        await self.access.member(conv_id, user_id)
        changes = {
            k: bool(v) for k, v in settings.items() if k in MEMBER_SETTINGS and v is not None
        }
        if changes:
            await self.store.conversations.update_settings(conv_id, user_id, **changes)
        return await self._item_of_member(user_id, conv_id)

    async def _describe(
        self, user_id: str, views: Sequence[ConversationView]
    ) -> list[ConversationItemView]:
        last = await self.store.messages.last_messages(
            [(v.conversation.id, v.conversation.last_seq) for v in views]
        )
        direct_ids = [
            v.conversation.id for v in views if v.conversation.kind is ConversationKind.DIRECT
        ]
        peers = await self.store.conversations.peers(direct_ids, user_id)
        users = await self.store.accounts.users_by_ids(
            [p.user_id for p in peers.values()] + [user_id]
        )
        return [_item(v, last.get(v.conversation.id), peers, users) for v in views]


def _item(
    view: ConversationView,
    last: MessageRecord | None,
    peers: dict[str, MemberRecord],
    users: dict[str, UserRecord],
) -> ConversationItemView:
    conv, member = view.conversation, view.member
    item: ConversationItemView = {
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
    if conv.kind is ConversationKind.DIRECT:
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
