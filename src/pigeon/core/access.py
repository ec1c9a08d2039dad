"""Whether a user is in a conversation, and whether they may post there.

Every service that acts on a conversation asks here, so a stranger always gets
the same answer (``CONVERSATION_NOT_FOUND``, as for a conversation that does not
exist: docs/protocol.md, "REST conventions") and the posting rules live once.
"""

from __future__ import annotations

from pigeon.core import policy
from pigeon.core.clock import Clock
from pigeon.core.errors import CoreError
from pigeon.core.permissions import PostingCache
from pigeon.core.policy import Action, Situation
from pigeon.core.social import SocialService
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind
from pigeon.store.facade import Store
from pigeon.store.records import ConversationRecord, MemberRecord


def check_may_post(conversation: ConversationRecord, member: MemberRecord) -> None:
    """Posting (and showing typing) as the policy says: core/policy.py."""
    policy.require(Action.POST, Situation(conversation.kind, member.role))


class ConversationAccess:
    """Membership lookups and the posting check, with a short-lived cache for the latter.

    Guarantees: ``member`` and ``active_member`` read the store on every call;
    ``posting_rights`` may answer from a cache up to ``PostingCache.ttl_s`` old
    (membership itself is checked again inside the commit), and ``fresh=True``
    bypasses it.
    """

    def __init__(
        self, store: Store, social: SocialService, cache: PostingCache, clock: Clock
    ) -> None:
        self.store = store
        self.social = social
        self.cache = cache
        self.clock = clock

    async def member(self, conv_id: str, user_id: str, *, readable: bool = False) -> MemberRecord:
        """The caller's active membership. With ``readable``, a member who left or was
        removed also qualifies: they keep reading the history up to their departure."""
        member = await self.store.conversations.membership(conv_id, user_id)
        if member is None or not (member.active or (readable and member.left_seq is not None)):
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return member

    async def reader(self, conv_id: str, user_id: str) -> tuple[ConversationRecord, MemberRecord]:
        """The conversation and the membership of someone who may read its history:
        an active member, or one who left (up to their departure), as ``member``."""
        found = await self.store.conversations.with_member(conv_id, user_id)
        member = found[1] if found is not None else None
        if found is None or member is None or not (member.active or member.left_seq is not None):
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return found[0], member

    async def active_member(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        """The conversation and the caller's active membership, in one query."""
        found = await self.store.conversations.with_member(conv_id, user_id)
        if found is None or found[1] is None or not found[1].active:
            raise CoreError(ErrorCode.CONVERSATION_NOT_FOUND)
        return found[0], found[1]

    async def posting_rights(
        self, conv_id: str, user_id: str, *, fresh: bool = False
    ) -> tuple[ConversationRecord, MemberRecord]:
        """What ``send`` needs: member, allowed to post here, not muted."""
        cached = None if fresh else self.cache.get(conv_id, user_id)
        if cached is None:
            cached = await self._load_posting_rights(conv_id, user_id)
            self.cache.put(conv_id, user_id, cached)
        member = cached[1]
        if member.muted_until is not None and member.muted_until > self.clock.now_ms():
            raise CoreError(ErrorCode.MUTED, details={"muted_until": member.muted_until})
        return cached

    async def marking_rights(
        self, conv_id: str, user_id: str, action: Action
    ) -> tuple[ConversationRecord, MemberRecord]:
        """What a reaction or pin needs: an active member whom the rule book lets do
        ``action`` here (channel subscribers react though they do not post), not
        muted, and in a direct chat not blocked. Read fresh: these are rarer than sends."""
        conversation, member = await self.active_member(conv_id, user_id)
        policy.require(action, Situation(conversation.kind, member.role))
        if member.muted_until is not None and member.muted_until > self.clock.now_ms():
            raise CoreError(ErrorCode.MUTED, details={"muted_until": member.muted_until})
        if conversation.kind is ConversationKind.DIRECT:
            await self.social.check_direct(conv_id, user_id)
        return conversation, member

    async def _load_posting_rights(
        self, conv_id: str, user_id: str
    ) -> tuple[ConversationRecord, MemberRecord]:
        conversation, member = await self.active_member(conv_id, user_id)
        check_may_post(conversation, member)
        if conversation.kind is ConversationKind.DIRECT:
            await self.social.check_direct(conv_id, user_id)
        return conversation, member
