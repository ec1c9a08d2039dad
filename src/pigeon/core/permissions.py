"""A short-lived cache of "may this user post in this conversation?".

Sending is the hot path, and the facts behind the answer (membership, role, blocks,
``dm_policy``) change rarely. Only allowed answers are kept, for ``ttl_s`` seconds,
and every change to those facts made through this node clears the cache, so here a
change takes effect at once and on other nodes within ``ttl_s``. Mutes are checked
on every send from the cached ``muted_until``, and the store re-checks membership
inside the commit, so a removed member can never post, whatever is cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from pigeon.store.records import ConversationRecord, MemberRecord

Entry = tuple[ConversationRecord, MemberRecord]


class PostingCache:
    def __init__(self, ttl_s: float = 2.0, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, Entry]] = OrderedDict()

    def get(self, conv_id: str, user_id: str) -> Entry | None:
        found = self._entries.get((conv_id, user_id))
        if found is None:
            return None
        stored_at, entry = found
        if time.monotonic() - stored_at > self.ttl_s:
            del self._entries[(conv_id, user_id)]
            return None
        return entry

    def put(self, conv_id: str, user_id: str, entry: Entry) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[(conv_id, user_id)] = (time.monotonic(), entry)
        self._entries.move_to_end((conv_id, user_id))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        """Something that decides who may post changed: forget every answer."""
        self._entries.clear()
