"""Watermarks, the sync feed (``changed_since``) and the conversation list (``list_for_user``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.storekit import (
    make_direct,
    make_user,
    make_users,
    new_message,
    send,
    store_property,
    tick,
)
from pigeon.core.ids import new_id
from pigeon.store.facade import Store
from pigeon.store.groups import MembershipChange, NewConversation
from pigeon.store.records import ConversationRecord, ConversationView, MemberRecord, UserRecord


async def _member(store: Store, conv_id: str, user_id: str) -> MemberRecord:
    member = await store.conversations.membership(conv_id, user_id)
    assert member is not None
    return member


async def _make_group(store: Store, owner: UserRecord, others: list[UserRecord]) -> str:
    conv = NewConversation(
        id=new_id("c_"),
        kind="group",
        title="a group",
        owner_id=owner.id,
        visibility="private",
        created_at=tick(),
    )
    await store.groups.create(conv, [owner.id, *(u.id for u in others)], None, None)
    return conv.id


# --- watermarks


@store_property(max_examples=8)
@given(
    sent=st.integers(min_value=0, max_value=8),
    marks=st.lists(
        st.tuples(st.none() | st.integers(0, 12), st.none() | st.integers(0, 12)), max_size=12
    ),
)
async def test_watermarks_only_move_forward_and_stay_within_the_stream(
    store: Store, sent: int, marks: list[tuple[int | None, int | None]]
) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    if sent:
        await send(store, conv.id, alice.id, sent)
    read = recv = 0
    for want_read, want_recv in marks:
        result = await store.conversations.advance_watermarks(
            conv.id, bob.id, read=want_read, recv=want_recv
        )
        assert result is not None
        expected_read = min(max(read, want_read or 0), sent)
        expected_recv = min(max(recv, want_recv or 0, expected_read), sent)
        assert (result.read_seq, result.recv_seq) == (expected_read, expected_recv)
        assert result.read_moved == (expected_read != read)
        assert result.recv_moved == (expected_recv != recv)
        read, recv = expected_read, expected_recv
        stored = await _member(store, conv.id, bob.id)
        assert (stored.read_seq, stored.recv_seq) == (read, recv)
        assert 0 <= stored.read_seq <= stored.recv_seq <= sent


async def test_watermarks_of_a_stranger_or_unknown_conversation(store: Store) -> None:
    alice, bob, mallory = await make_users(store, 3)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id, 2)
    assert await store.conversations.advance_watermarks(conv.id, mallory.id, read=1) is None
    assert await store.conversations.advance_watermarks("c_nope", alice.id, read=1) is None
    assert await store.conversations.membership(conv.id, mallory.id) is None


async def test_unread_counts_messages_from_others_above_read(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id, 4)
    (view,) = await store.conversations.list_views(bob.id, [conv.id])
    assert view.unread == 4
    await store.conversations.advance_watermarks(conv.id, bob.id, read=3)
    (view,) = await store.conversations.list_views(bob.id, [conv.id])
    assert (view.unread, view.member.read_seq) == (1, 3)


# --- the sync feed


async def _sync_all(
    store: Store, user_id: str, since: int | None, limit: int = 100
) -> tuple[dict[str, ConversationView], int]:
    """Every page from ``since``, the way a client drains ``sync`` (bounded)."""
    seen: dict[str, ConversationView] = {}
    cursor = since
    for _ in range(1000):
        views, next_cursor, more = await store.conversations.changed_since(user_id, cursor, limit)
        assert len(views) <= limit
        assert cursor is None or next_cursor >= cursor
        seen.update((v.conversation.id, v) for v in views)
        cursor = next_cursor
        if not more:
            return seen, cursor
    raise AssertionError("sync did not end")


async def test_first_sync_lists_every_active_conversation(store: Store) -> None:
    me, *peers = await make_users(store, 4)
    convs = [await make_direct(store, me, peer) for peer in peers]
    await send(store, convs[0].id, peers[0].id, 2)
    seen, _ = await _sync_all(store, me.id, None)
    assert set(seen) == {c.id for c in convs}
    assert seen[convs[0].id].conversation.last_seq == 2
    assert seen[convs[0].id].unread == 2


async def test_cursor_lists_only_what_changed_afterwards(store: Store) -> None:
    me, *peers = await make_users(store, 6)
    convs = [await make_direct(store, me, peer) for peer in peers]
    for conv, peer in zip(convs, peers, strict=True):
        await send(store, conv.id, peer.id)
    _, cursor = await _sync_all(store, me.id, None)
    assert (await _sync_all(store, me.id, cursor))[0] == {}

    await send(store, convs[0].id, peers[0].id)  # a new message
    await store.conversations.advance_watermarks(convs[1].id, me.id, read=1)  # my read
    await store.conversations.update_settings(convs[2].id, me.id, pinned=True)  # my settings
    await store.conversations.advance_watermarks(convs[3].id, peers[3].id, read=1)  # theirs
    await store.conversations.advance_watermarks(convs[4].id, me.id, recv=1)  # delivery only
    newcomer = await make_user(store)
    fresh = await make_direct(store, newcomer, me)  # a new conversation

    seen, next_cursor = await _sync_all(store, me.id, cursor)
    assert set(seen) == {convs[0].id, convs[1].id, convs[2].id, fresh.id}
    assert seen[convs[0].id].conversation.last_seq == 2
    assert seen[convs[1].id].member.read_seq == 1
    assert seen[convs[2].id].member.pinned
    assert next_cursor > cursor
    assert (await _sync_all(store, me.id, next_cursor))[0] == {}


async def test_sync_of_one_user_ignores_other_users_conversations(store: Store) -> None:
    me, friend, a, b = await make_users(store, 4)
    mine = await make_direct(store, me, friend)
    _, cursor = await _sync_all(store, me.id, None)
    others = await make_direct(store, a, b)
    await send(store, others.id, a.id, 3)
    assert (await _sync_all(store, me.id, cursor))[0] == {}
    await send(store, mine.id, friend.id)
    assert set((await _sync_all(store, me.id, cursor))[0]) == {mine.id}


async def test_removal_appears_once_as_inactive(store: Store) -> None:
    owner, me, other = await make_users(store, 3)
    group = await _make_group(store, owner, [me, other])
    _, cursor = await _sync_all(store, me.id, None)
    await store.groups.apply(MembershipChange(group, tick(), remove=[me.id]))
    seen, cursor = await _sync_all(store, me.id, cursor)
    assert set(seen) == {group}
    assert seen[group].member.state == "removed"
    await send(store, group, owner.id, 2)  # the group goes on without me
    assert (await _sync_all(store, me.id, cursor))[0] == {}


async def test_paging_never_skips_a_removal(store: Store) -> None:
    # The removal is older than the group's latest message: it must still be on some page.
    owner, me = await make_users(store, 2)
    group = await _make_group(store, owner, [me])
    peers = await make_users(store, 2)
    convs = [await make_direct(store, me, peer) for peer in peers]
    _, cursor = await _sync_all(store, me.id, None)
    await store.groups.apply(MembershipChange(group, tick(), remove=[me.id]))
    await send(store, convs[0].id, peers[0].id)
    await send(store, group, owner.id)  # bumps the group after my removal
    await send(store, convs[1].id, peers[1].id)
    seen, _ = await _sync_all(store, me.id, cursor, limit=1)
    assert set(seen) == {group, convs[0].id, convs[1].id}
    assert seen[group].member.state == "removed"


@dataclass
class ClientModel:
    """What a syncing client knows: per conversation (last_seq, read_seq, active)."""

    cursor: int | None = None
    known: dict[str, tuple[int, int, bool]] = field(default_factory=dict)

    def learn(self, views: list[ConversationView]) -> None:
        for view in views:
            self.known[view.conversation.id] = (
                view.conversation.last_seq,
                view.member.read_seq,
                view.member.active,
            )


SYNC_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("peer_sends"), st.integers(0, 3)),
        st.tuples(st.just("i_send"), st.integers(0, 3)),
        st.tuples(st.just("i_read"), st.integers(0, 3)),
        st.tuples(st.just("i_pin"), st.integers(0, 3)),
        st.tuples(st.just("new_peer"), st.just(0)),
        st.tuples(st.just("group_sends"), st.just(0)),
        st.tuples(st.just("remove_me"), st.just(0)),
        st.tuples(st.just("add_me"), st.just(0)),
        st.tuples(st.just("sync_page"), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=25,
)


@store_property(max_examples=8)
@given(ops=SYNC_OPS, final_limit=st.integers(1, 3))
async def test_a_syncing_client_converges_to_the_store(
    store: Store, ops: list[tuple[str, int]], final_limit: int
) -> None:
    me, owner = await make_users(store, 2)
    peers = await make_users(store, 2)
    directs: list[tuple[ConversationRecord, UserRecord]] = [
        (await make_direct(store, me, peer), peer) for peer in peers
    ]
    group = await _make_group(store, owner, [me])
    client = ClientModel()

    for op, arg in ops:
        conv, peer = directs[arg % len(directs)]
        if op == "peer_sends":
            await send(store, conv.id, peer.id)
        elif op == "i_send":
            await send(store, conv.id, me.id)
        elif op == "i_read":
            record = await store.conversations.conversation(conv.id)
            assert record is not None
            await store.conversations.advance_watermarks(conv.id, me.id, read=record.last_seq)
        elif op == "i_pin":
            await store.conversations.update_settings(conv.id, me.id, pinned=True)
        elif op == "new_peer":
            peer = await make_user(store)
            directs.append((await make_direct(store, peer, me), peer))
        elif op == "group_sends":
            await send(store, group, owner.id)
        elif op == "remove_me":
            await store.groups.apply(MembershipChange(group, tick(), remove=[me.id]))
        elif op == "add_me":
            await store.groups.apply(MembershipChange(group, tick(), add=[me.id]))
        else:  # one page of sync, keeping whatever cursor it hands back
            views, client.cursor, _ = await store.conversations.changed_since(
                me.id, client.cursor, arg
            )
            client.learn(views)

    for _ in range(1000):  # finally drain the feed
        views, client.cursor, more = await store.conversations.changed_since(
            me.id, client.cursor, final_limit
        )
        client.learn(views)
        if not more:
            break

    truth = await store.conversations.list_views(me.id, [c.id for c, _ in directs] + [group])
    for view in truth:
        known = client.known.get(view.conversation.id)
        if view.member.active:
            assert known == (view.conversation.last_seq, view.member.read_seq, True)
        else:  # a client that knew the group learns it is gone, and nothing after that
            assert known is None or not known[2]


# --- the conversation list


@store_property(max_examples=8)
@given(
    activity=st.lists(st.tuples(st.booleans(), st.sampled_from([0, 5, 5, 9, 12])), max_size=9),
    limit=st.integers(min_value=1, max_value=4),
)
async def test_list_is_pinned_first_then_by_activity_and_pages_without_loss(
    store: Store, activity: list[tuple[bool, int]], limit: int
) -> None:
    me = await make_user(store)
    base = tick() * 100  # later than anything else; small offsets force ties in last_ts
    convs = []
    for pinned, ts_offset in activity:
        peer = await make_user(store)
        conv = await store.conversations.direct(new_id("c_"), me.id, peer.id, base)
        if ts_offset:
            await store.messages.append([new_message(conv.id, peer.id, ts=base + ts_offset)])
        if pinned:
            await store.conversations.update_settings(conv.id, me.id, pinned=True)
        convs.append(conv.id)

    views = await store.conversations.list_views(me.id, convs)
    expected = [
        v.conversation.id
        for v in sorted(
            views,
            key=lambda v: (v.member.pinned, v.conversation.last_ts, v.conversation.id),
            reverse=True,
        )
    ]
    listed: list[str] = []
    after: tuple[bool, int, str] | None = None
    for _ in range(len(convs) + 2):
        page, more = await store.conversations.list_for_user(me.id, limit, after)
        assert len(page) <= limit
        listed += [v.conversation.id for v in page]
        if not more:
            break
        last = page[-1]
        after = (last.member.pinned, last.conversation.last_ts, last.conversation.id)
    assert listed == expected


async def test_list_leaves_out_conversations_the_user_left(store: Store) -> None:
    owner, me = await make_users(store, 2)
    group = await _make_group(store, owner, [me])
    direct = await make_direct(store, me, owner)
    await store.groups.apply(MembershipChange(group, tick(), leave=[me.id]))
    page, more = await store.conversations.list_for_user(me.id, 10, None)
    assert [v.conversation.id for v in page] == [direct.id]
    assert not more


async def test_settings_change_only_for_members(store: Store) -> None:
    alice, bob, mallory = await make_users(store, 3)
    conv = await make_direct(store, alice, bob)
    assert await store.conversations.update_settings(conv.id, alice.id, muted=True, pinned=True)
    assert not await store.conversations.update_settings(conv.id, mallory.id, pinned=True)
    member = await _member(store, conv.id, alice.id)
    assert (member.muted, member.pinned) == (True, True)
    assert not (await _member(store, conv.id, bob.id)).pinned


@pytest.mark.parametrize("order", ["ab", "ba"])
async def test_direct_conversation_is_one_per_pair(store: Store, order: str) -> None:
    alice, bob = await make_users(store, 2)
    first = await make_direct(store, alice, bob)
    pair = (alice, bob) if order == "ab" else (bob, alice)
    again = await make_direct(store, *pair)
    assert again.id == first.id
    assert sorted(await store.conversations.active_member_ids(first.id)) == sorted(
        [alice.id, bob.id]
    )
