"""Deleting an account: by its owner (``DELETE /users/me``) or an operator
(``pigeon user delete``). The policy is docs/operations.md, "Deleting accounts".

A deletion is a sequence of idempotent steps behind one durable mark:

1. ``begin``: one transaction marks the row deleted (``deleted_at``, and ``deletion`` =
   the mode while unfinished), frees the username (``deleted~<id>``), replaces the
   display name, clears avatar and password, disables the account and revokes every
   login. From here the account cannot sign in, and its sockets are closed (4003).
2. Ties: friendships, friend requests and blocks either way, push subscriptions and
   preferences, webhooks the account made.
3. ``remove`` mode only: each of its messages with content is recalled in every
   conversation it was ever in, by an ordinary ``recall`` entry (next seq), so history
   stays gapless and every device converges by the sync it already does.
4. Memberships end through core/groups.py: a group it owns passes to the
   longest-standing admin, else member (``transfer``), else is dissolved; then it
   leaves (the group sees ``member_left``). Direct chats stay readable to the peer.
5. ``remove`` mode only: its uploaded files are deleted.
6. The mark is cleared.

A failure anywhere leaves the mark, and running the deletion again (the operator's
command, or every node at start) finishes it: each step only does what is still left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pigeon.broker.base import Broker, ConvPush, Kick
from pigeon.core.clock import Clock
from pigeon.core.errors import CoreError
from pigeon.core.groups import GroupService
from pigeon.core.ids import IdPrefix, new_id
from pigeon.core.passwords import Passwords
from pigeon.core.permissions import PostingCache
from pigeon.protocol import frames
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.lifecycle import AccountDeletionMode
from pigeon.protocol.membership import Role
from pigeon.store.facade import Store
from pigeon.store.lifecycle import LifecycleStore
from pigeon.store.records import (
    Amendment,
    Appended,
    ConversationRecord,
    MemberRecord,
    NewMessage,
    UserRecord,
)

log = logging.getLogger(__name__)

_RECALL_BATCH = 200  # recall entries per transaction
_RESUME_BATCH = 100  # unfinished deletions resumed per pass


class AccountDeletion:
    def __init__(
        self,
        store: Store,
        lifecycle: LifecycleStore,
        groups: GroupService,
        delete_file: Callable[[str], Awaitable[bool]],
        broker: Broker,
        passwords: Passwords,
        permissions: PostingCache,
        mode: AccountDeletionMode,
        clock: Clock,
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.groups = groups
        self.delete_file = delete_file  # FileService.delete: False while still referenced
        self.broker = broker
        self.passwords = passwords
        self.permissions = permissions
        self.mode = mode
        self.clock = clock

    async def delete_self(self, user_id: str, password: str) -> None:
        """The owner's deletion, confirmed with their password, in the configured mode."""
        user = await self.store.accounts.user_by_id(user_id)
        if user is not None and user.bot:
            raise CoreError(ErrorCode.BOT_NOT_SELF_DELETABLE)
        # A guest has no password: it verifies like a wrong one (core/guests.py).
        stored = user.password_hash if user is not None and not user.guest else None
        if not await self.passwords.verify(stored, password):
            raise CoreError(ErrorCode.BAD_CREDENTIALS, "the password is wrong")
        await self.delete(user_id, self.mode)

    async def delete_by_operator(self, username: str, remove: bool) -> UserRecord:
        """``pigeon user delete``: also finishes a deletion that was interrupted."""
        user = await self.store.accounts.user_by_username(username.lower())
        if user is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        if user.bot:
            raise CoreError(ErrorCode.BOT_NOT_SELF_DELETABLE)
        mode = AccountDeletionMode.REMOVE if remove else self.mode
        return await self.delete(user.id, mode)

    async def delete(self, user_id: str, mode: AccountDeletionMode) -> UserRecord:
        began = await self.lifecycle.begin_deletion(user_id, mode, self.clock.now_ms())
        if began is None:
            raise CoreError(ErrorCode.USER_NOT_FOUND)
        user, revoked = began
        if revoked:
            await self.broker.publish(Kick(CloseCode.REVOKED, login_ids=tuple(revoked)))
        pending = await self.lifecycle.deletion_mode(user_id)
        if pending is not None:
            await self._run(user_id, pending)
        return user

    async def resume_unfinished(self) -> int:
        """Finish deletions a crash or a failed step left half done; returns how many."""
        done = 0
        for user in await self.lifecycle.unfinished(_RESUME_BATCH):
            try:
                await self.delete(user.id, AccountDeletionMode.KEEP)  # keeps a stored remove
            except Exception:  # the next start (or the operator) tries again
                log.exception("resuming an account deletion failed", extra={"user": user.id})
                continue
            done += 1
        return done

    async def _run(self, user_id: str, mode: AccountDeletionMode) -> None:
        await self.lifecycle.drop_ties(user_id)
        self.permissions.invalidate()  # friendships and dm_policy changed
        memberships = await self.lifecycle.memberships(user_id)
        if mode is AccountDeletionMode.REMOVE:
            for conv, _ in memberships:
                await self._erase(conv.id, user_id)
        for conv, member in memberships:
            if member.active and conv.kind.is_group_like and conv.dissolved_at is None:
                await self._depart(conv, member)
        if mode is AccountDeletionMode.REMOVE:
            for file_id in await self.lifecycle.owned_file_ids(user_id):
                if not await self.delete_file(file_id):
                    log.warning("a deleted account's file is still in use", extra={"file": file_id})
        await self.lifecycle.finish_deletion(user_id)
        log.info("account deleted", extra={"user": user_id, "mode": str(mode)})

    async def _erase(self, conv_id: str, user_id: str) -> None:
        """Recall every message of the user in the conversation that still shows content."""
        while seqs := await self.lifecycle.content_seqs(conv_id, user_id, _RECALL_BATCH):
            now = self.clock.now_ms()
            batch = [
                NewMessage(
                    id=new_id(IdPrefix.MESSAGE),
                    conv_id=conv_id,
                    sender_id=user_id,
                    cid=f"erase:{seq}:{conv_id}",  # the same entry if a retry gets here again
                    kind="recall",
                    body={"seq": seq},
                    ts=now,
                    amends=Amendment(seq, None),
                    on_behalf=True,  # stored although they left the conversation
                )
                for seq in seqs
            ]
            for outcome in await self.lifecycle.append_recalls(batch):
                if isinstance(outcome, Appended) and not outcome.duplicate:
                    frame = frames.msg_frame(outcome.message.public())
                    await self.broker.publish(ConvPush(conv_id, frame))

    async def _depart(self, conv: ConversationRecord, member: MemberRecord) -> None:
        """Leave a group, handing it on first when the user owns it (or ending it)."""
        user_id = member.user_id
        try:
            if member.role is Role.OWNER:
                heir = await self.lifecycle.longest_standing(conv.id, exclude=user_id)
                if heir is None:
                    await self.groups.dissolve(user_id, conv.id)
                    return
                await self.groups.transfer(user_id, conv.id, heir.user_id)
            await self.groups.leave(user_id, conv.id)
        except CoreError as exc:
            if exc.code is not ErrorCode.CONVERSATION_NOT_FOUND:  # dissolved meanwhile: done
                raise
