"""Which local users are active members of which conversations: the index a node
delivers ``ConvPush`` events through (gateway/hub.py).

A user's conversations are loaded from the store (one query) when their first
connection on this node registers, and kept current by ``Membership`` events while
any of their connections stays here. Events that arrive while the load is in flight
are recorded and replayed over its result in arrival order, so a change committed
before, during or after the read ends up applied either way: the read sees a
change committed before it, and replaying a change the read already saw changes
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Set

ConversationsOf = Callable[[str], Awaitable[set[str]]]


async def _none(_: str) -> set[str]:
    return set()


class ConversationIndex:
    def __init__(self, conversations_of: ConversationsOf | None = None) -> None:
        self._conversations_of = conversations_of or _none
        self._holders: dict[str, int] = {}  # user -> local connections tracked
        self._convs: dict[str, set[str]] = {}  # loaded users only
        self._members: dict[str, set[str]] = {}  # conv -> loaded local users
        self._pending: dict[str, list[tuple[str, bool]]] = {}  # user -> events during load
        self._loads: dict[str, asyncio.Future[None]] = {}

    async def track(self, user_id: str) -> None:
        """A connection of ``user_id`` registered here: returns once the user's
        conversations are indexed (raises if the store could not be read)."""
        self._holders[user_id] = self._holders.get(user_id, 0) + 1
        load = self._loads.get(user_id)
        if load is None and user_id not in self._convs:
            # Recording starts now, before the read is even sent: nothing slips between.
            self._pending[user_id] = []
            load = self._loads[user_id] = asyncio.ensure_future(self._load(user_id))
        if load is not None:
            await asyncio.shield(load)

    async def _load(self, user_id: str) -> None:
        try:
            found = set(await self._conversations_of(user_id))
        finally:
            events = self._pending.pop(user_id, [])
            del self._loads[user_id]
        if user_id not in self._holders:
            return  # every connection left while the read was in flight
        for conv_id, joined in events:
            if joined:
                found.add(conv_id)
            else:
                found.discard(conv_id)
        for conv_id in self._convs.pop(user_id, set()) - found:  # a reload
            self._drop_member(conv_id, user_id)
        self._convs[user_id] = found
        for conv_id in found:
            self._members.setdefault(conv_id, set()).add(user_id)

    async def reload(self) -> None:
        """Read every indexed user's conversations again, one user at a time: after
        the broker lost events (a backend outage), membership events may be missing.
        The entries in place keep serving until each user's read returns."""
        for user_id in list(self._convs):
            if user_id in self._loads or user_id not in self._holders:
                continue
            self._pending[user_id] = []
            load = self._loads[user_id] = asyncio.ensure_future(self._load(user_id))
            await asyncio.shield(load)

    def untrack(self, user_id: str) -> None:
        """A connection of ``user_id`` left; the last one takes the user's entries along."""
        left = self._holders.get(user_id, 0) - 1
        if left > 0:
            self._holders[user_id] = left
            return
        self._holders.pop(user_id, None)
        for conv_id in self._convs.pop(user_id, ()):
            self._drop_member(conv_id, user_id)

    def apply(self, user_id: str, conv_id: str, joined: bool) -> None:
        """A ``Membership`` event; users with no connection here are not indexed."""
        pending = self._pending.get(user_id)
        if pending is not None:  # replayed over the read in flight
            pending.append((conv_id, joined))
        convs = self._convs.get(user_id)  # and, during a reload, applied at once too
        if convs is None:
            return
        if joined:
            convs.add(conv_id)
            self._members.setdefault(conv_id, set()).add(user_id)
        elif conv_id in convs:
            convs.discard(conv_id)
            self._drop_member(conv_id, user_id)

    def members(self, conv_id: str) -> Set[str]:
        """The local users indexed under ``conv_id`` (empty if none)."""
        return self._members.get(conv_id, frozenset())

    def conversations(self, user_id: str) -> Set[str]:
        return self._convs.get(user_id, frozenset())

    def _drop_member(self, conv_id: str, user_id: str) -> None:
        users = self._members.get(conv_id)
        if users is not None:
            users.discard(user_id)
            if not users:
                del self._members[conv_id]
