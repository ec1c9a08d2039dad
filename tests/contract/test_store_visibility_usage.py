"""Queries behind presence visibility and upload quotas, on every backend."""

from __future__ import annotations

from contract.storekit import make_direct, make_users, send, tick
from pigeon.core.ids import new_id
from pigeon.store.facade import Store
from pigeon.store.files import FileStore, Usage
from pigeon.store.groups import NewConversation


async def _group(store: Store, kind: str, owner_id: str, member_ids: list[str]) -> str:
    conv = NewConversation(new_id("c_"), kind, "t", owner_id, "private", tick())
    await store.groups.create(conv, [owner_id, *member_ids], None, None)
    return conv.id


async def test_direct_peers_count_only_where_the_named_side_wrote(store: Store) -> None:
    me, wrote_to_me, silent, i_wrote_to = await make_users(store, 4)
    for peer in (wrote_to_me, silent, i_wrote_to):
        conv = await make_direct(store, me, peer)
        if peer is wrote_to_me:
            await send(store, conv.id, peer.id)
        if peer is i_wrote_to:
            await send(store, conv.id, me.id)
    everyone = [wrote_to_me.id, silent.id, i_wrote_to.id]
    conversations = store.conversations
    assert await conversations.direct_peers_who_wrote(me.id, everyone) == {wrote_to_me.id}
    assert await conversations.direct_peers_who_wrote(me.id, [silent.id]) == set()
    assert await conversations.direct_peers_who_wrote(me.id, []) == set()
    mine = await conversations.direct_peers_who_wrote(me.id, writer_is_peer=False)
    assert mine == {i_wrote_to.id}


async def test_group_peers_are_active_co_members_of_live_groups_only(store: Store) -> None:
    me, mate, subscriber, stranger = await make_users(store, 4)
    await _group(store, "group", me.id, [mate.id])
    await _group(store, "channel", me.id, [subscriber.id])
    among = [mate.id, subscriber.id, stranger.id]
    assert await store.conversations.group_peers(me.id, among) == {mate.id}
    assert await store.conversations.group_peers(mate.id, [me.id]) == {me.id}
    assert await store.conversations.group_peers(me.id, []) == set()


async def test_usage_counts_sizes_and_unfinished_uploads_at_their_length(store: Store) -> None:
    files = FileStore(store.db)
    [owner, other] = await make_users(store, 2)
    assert await files.usage(owner.id) == Usage(0, 0)
    now = tick()
    await files.create(new_id("f_"), owner.id, "a", 100, now)  # tus: declared length
    await files.create(new_id("f_"), owner.id, "b", None, now)  # one-shot, streaming
    await files.create(new_id("f_"), other.id, "c", 7, now)
    assert await files.usage(owner.id) == Usage(100, 1)
    assert await files.usage(other.id) == Usage(7, 1)


async def test_stale_takes_unfinished_uploads_at_their_own_cutoff(store: Store) -> None:
    files = FileStore(store.db)
    [owner] = await make_users(store, 1)
    pending = new_id("f_")
    await files.create(pending, owner.id, "p", 10, 1_000)
    found = await files.stale(touched_before=500, limit=10, pending_before=2_000)
    assert [r.id for r in found] == [pending]
    assert await files.stale(touched_before=5_000, limit=10, pending_before=500) == []
