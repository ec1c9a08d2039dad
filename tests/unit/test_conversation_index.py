"""The hub's conversation index: loaded per user on their first connection, kept
current by membership events, including those that arrive while the load is in flight."""

from __future__ import annotations

import asyncio

from pigeon.gateway.convindex import ConversationIndex


class Members:
    """Stands in for the members table: each user's active conversations, with a gate
    that holds a read in flight until the test opens it."""

    def __init__(self, memberships: dict[str, set[str]]) -> None:
        self.memberships = memberships
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def conversations_of(self, user_id: str) -> set[str]:
        self.reads += 1
        snapshot = set(self.memberships.get(user_id, ()))
        await self.gate.wait()
        return snapshot


async def test_connect_indexes_the_users_conversations() -> None:
    store = Members({"alice": {"c1", "c2"}, "bob": {"c2"}})
    index = ConversationIndex(store.conversations_of)
    await index.track("alice")
    await index.track("bob")
    assert index.members("c1") == {"alice"}
    assert index.members("c2") == {"alice", "bob"}
    assert index.members("c3") == set()


async def test_join_and_leave_events_change_the_index() -> None:
    index = ConversationIndex(Members({"alice": {"c1"}}).conversations_of)
    await index.track("alice")
    index.apply("alice", "c2", joined=True)
    index.apply("alice", "c1", joined=False)
    assert index.members("c1") == set()
    assert index.members("c2") == {"alice"}
    assert index.conversations("alice") == {"c2"}


async def test_events_for_users_without_a_connection_here_are_ignored() -> None:
    index = ConversationIndex(Members({}).conversations_of)
    index.apply("carol", "c1", joined=True)
    assert index.members("c1") == set()
    await index.track("carol")  # loaded from the store, not from the ignored event
    assert index.members("c1") == set()


async def test_several_connections_share_one_load_and_the_last_one_clears() -> None:
    store = Members({"alice": {"c1"}})
    index = ConversationIndex(store.conversations_of)
    await asyncio.gather(index.track("alice"), index.track("alice"))
    await index.track("alice")
    assert store.reads == 1
    index.untrack("alice")
    index.untrack("alice")
    assert index.members("c1") == {"alice"}  # one connection still here
    index.untrack("alice")
    assert index.members("c1") == set()
    assert index.conversations("alice") == set()


async def test_membership_events_during_the_load_are_replayed_in_order() -> None:
    # The read saw c1 and c2; while it was in flight alice left c1, joined c3, and
    # joined and left c4: the result is what the events say after the read.
    store = Members({"alice": {"c1", "c2"}})
    store.gate.clear()
    index = ConversationIndex(store.conversations_of)
    load = asyncio.create_task(index.track("alice"))
    await asyncio.sleep(0)
    index.apply("alice", "c1", joined=False)
    index.apply("alice", "c3", joined=True)
    index.apply("alice", "c4", joined=True)
    index.apply("alice", "c4", joined=False)
    store.gate.set()
    await asyncio.wait_for(load, 30)
    assert index.conversations("alice") == {"c2", "c3"}
    assert index.members("c1") == set()
    assert index.members("c3") == {"alice"}


async def test_an_event_right_after_track_starts_is_not_lost() -> None:
    # Before the read has even been sent (the load task has not run yet).
    store = Members({"alice": set()})
    index = ConversationIndex(store.conversations_of)
    load = asyncio.create_task(index.track("alice"))
    await asyncio.sleep(0)  # track() ran up to its await; the read has not started
    index.apply("alice", "c9", joined=True)
    await asyncio.wait_for(load, 30)
    assert index.members("c9") == {"alice"}


async def test_a_user_who_left_during_the_load_is_not_indexed() -> None:
    store = Members({"alice": {"c1"}})
    store.gate.clear()
    index = ConversationIndex(store.conversations_of)
    load = asyncio.create_task(index.track("alice"))
    await asyncio.sleep(0)
    index.untrack("alice")
    store.gate.set()
    await asyncio.wait_for(load, 30)
    assert index.members("c1") == set()


async def test_a_failed_load_raises_and_the_next_connection_reads_again() -> None:
    calls = 0

    async def flaky(user_id: str) -> set[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store unavailable")
        return {"c1"}

    index = ConversationIndex(flaky)
    try:
        await index.track("alice")
    except ConnectionError:
        index.untrack("alice")
    else:
        raise AssertionError("the failed read should have raised")
    await index.track("alice")
    assert index.members("c1") == {"alice"}


async def test_a_reload_replaces_the_index_and_keeps_events_of_its_read() -> None:
    # After lost events (a broker outage): the store says c2 now; while the read is in
    # flight alice leaves c2 — applied at once and again over the read's result.
    store = Members({"alice": {"c1"}})
    index = ConversationIndex(store.conversations_of)
    await index.track("alice")
    store.memberships["alice"] = {"c2", "c3"}
    store.gate.clear()
    reload = asyncio.create_task(index.reload())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert index.members("c1") == {"alice"}  # the old entries serve until the read returns
    index.apply("alice", "c3", joined=False)
    store.gate.set()
    await asyncio.wait_for(reload, 30)
    assert index.conversations("alice") == {"c2"}
    assert index.members("c1") == set()
    assert index.members("c3") == set()
