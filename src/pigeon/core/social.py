"""Friends, friend requests, blocks, and who may write to whom directly."""

from __future__ import annotations

from typing import Any

from pigeon.broker.base import Broker, Push
from pigeon.core.errors import CoreError
from pigeon.core.ids import IdPrefix, new_id, now_ms
from pigeon.core.permissions import PostingCache
from pigeon.protocol.errors import ErrorCode
from pigeon.store.facade import Store
from pigeon.store.records import UserRecord
from pigeon.store.social import FriendRequestRecord

MAX_NOTE_CHARS = 256
MAX_LISTED = 500


class SocialService:
    def __init__(
        self, store: Store, broker: Broker, permissions: PostingCache | None = None
    ) -> None:
        self.store = store
        self.broker = broker
        self.permissions = permissions or PostingCache(ttl_s=0)

    async def _other_user(self, user_id: str, target_id: str) -> UserRecord:
        if target_id == user_id:
            raise CoreError(ErrorCode.SELF_TARGET)
        target = await self.store.accounts.user_by_id(target_id)
        if target is None or target.disabled:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        return target

    # --- friends

    async def friends(self, user_id: str) -> list[UserRecord]:
        ids = await self.store.social.friend_ids(user_id)
        found = await self.store.accounts.users_by_ids(ids[:MAX_LISTED])
        return [found[i] for i in ids if i in found]

    async def requests(self, user_id: str) -> list[dict[str, Any]]:
        return [r.public(user_id) for r in await self.store.social.requests_of(user_id, MAX_LISTED)]

    async def request_friend(
        self, user_id: str, target_id: str, note: str | None
    ) -> dict[str, Any]:
        """Ask to be friends. If the other side already asked, this accepts their request.
        Bots take no friend requests: nobody would answer them, and a bot is messaged
        directly without being a friend (its ``dm_policy`` is always ``anyone``)."""
        target = await self._other_user(user_id, target_id)
        if target.bot:
            raise CoreError(ErrorCode.BOT_NOT_FRIENDABLE)
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise CoreError(
                ErrorCode.BAD_REQUEST, f"note must be at most {MAX_NOTE_CHARS} characters"
            )
        if await self.store.social.has_blocked(target_id, user_id):
            raise CoreError(ErrorCode.BLOCKED, "this user does not accept friend requests from you")
        if await self.store.social.has_blocked(user_id, target_id):
            raise CoreError(ErrorCode.BLOCKED, "you have blocked this user; unblock them first")
        if await self.store.social.are_friends(user_id, target_id):
            raise CoreError(ErrorCode.ALREADY_EXISTS, "you are friends already")
        pending = await self.store.social.pending_between(user_id, target_id)
        if pending is not None and pending.from_id == user_id:
            return pending.public(user_id)
        if pending is not None:
            return await self.answer(user_id, pending.id, accept=True)
        now = now_ms()
        request = FriendRequestRecord(
            new_id(IdPrefix.FRIEND_REQUEST), user_id, target_id, note, "pending", now, now
        )
        await self.store.social.create_request(request)
        await self._notify(request)
        return request.public(user_id)

    async def answer(self, user_id: str, request_id: str, *, accept: bool) -> dict[str, Any]:
        request = await self.store.social.request(request_id)
        if request is None or request.to_id != user_id:
            raise CoreError(ErrorCode.NOT_FOUND, "no such friend request")
        if request.status != "pending":
            raise CoreError(ErrorCode.CONFLICT, f"the request is {request.status} already")
        answered = await self.store.social.answer(request_id, accept, now_ms())
        self.permissions.invalidate()
        if answered is None:
            raise CoreError(ErrorCode.CONFLICT, "the request was answered already")
        await self._notify(answered)
        return answered.public(user_id)

    async def _notify(self, request: FriendRequestRecord) -> None:
        """Both sides' devices learn of a request and its answer (an extension frame)."""
        for viewer in (request.from_id, request.to_id):
            frame = {"t": "friend_request", **request.public(viewer)}
            await self.broker.publish(Push((viewer,), frame))

    async def unfriend(self, user_id: str, friend_id: str) -> None:
        self.permissions.invalidate()
        if not await self.store.social.unfriend(user_id, friend_id):
            raise CoreError(ErrorCode.NOT_FOUND, "not friends")

    # --- blocks

    async def blocked(self, user_id: str) -> list[UserRecord]:
        ids = await self.store.social.blocked_ids(user_id)
        found = await self.store.accounts.users_by_ids(ids[:MAX_LISTED])
        return [found[i] for i in ids if i in found]

    async def block(self, user_id: str, target_id: str) -> None:
        await self._other_user(user_id, target_id)
        await self.store.social.block(user_id, target_id, now_ms())
        self.permissions.invalidate()

    async def unblock(self, user_id: str, target_id: str) -> None:
        self.permissions.invalidate()
        if not await self.store.social.unblock(user_id, target_id):
            raise CoreError(ErrorCode.NOT_FOUND, "not blocked")

    # --- direct messages

    async def check_direct(self, conv_id: str, sender_id: str) -> None:
        """Raise unless ``sender_id`` may write in this direct conversation now."""
        gate = await self.store.social.direct_gate(conv_id, sender_id)
        if gate is None:
            return  # a conversation with oneself
        if gate.sender_blocked_peer:
            raise CoreError(ErrorCode.BLOCKED, "you have blocked this user; unblock them first")
        if gate.peer_blocked_sender:
            raise CoreError(ErrorCode.BLOCKED, "this user does not accept messages from you")
        if gate.dm_policy == "friends" and not gate.friends:
            raise CoreError(ErrorCode.FRIENDS_ONLY)

    async def check_can_open_direct(self, user_id: str, peer: UserRecord) -> None:
        if peer.id == user_id:
            return
        if await self.store.social.has_blocked(peer.id, user_id):
            raise CoreError(ErrorCode.BLOCKED, "this user does not accept messages from you")
        if await self.store.social.has_blocked(user_id, peer.id):
            raise CoreError(ErrorCode.BLOCKED, "you have blocked this user; unblock them first")
        if peer.dm_policy == "friends" and not await self.store.social.are_friends(
            user_id, peer.id
        ):
            raise CoreError(ErrorCode.FRIENDS_ONLY)
