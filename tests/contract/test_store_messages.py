"""Message streams: gapless seq, (sender, cid) dedup, membership and history paging."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.storekit import (
    all_messages,
    append,
    make_direct,
    make_user,
    make_users,
    new_message,
    send,
    store_property,
)
from pigeon.protocol.errors import ErrorCode
from pigeon.store.facade import Store
from pigeon.store.records import Appended, AppendOutcome, MessageRecord, NewMessage, Rejected


def _appended(outcome: AppendOutcome) -> Appended:
    assert isinstance(outcome, Appended), outcome
    return outcome


# --- gapless seq under concurrency


@store_property(max_examples=6)
@given(
    tasks=st.integers(min_value=2, max_value=8),
    batches_per_task=st.integers(min_value=1, max_value=3),
    batch_size=st.integers(min_value=1, max_value=6),
    cid_pool=st.integers(min_value=3, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
async def test_concurrent_batches_give_gapless_seq_and_dedup(
    store: Store, tasks: int, batches_per_task: int, batch_size: int, cid_pool: int, seed: int
) -> None:
    rng = random.Random(seed)
    alice, bob, carol = await make_users(store, 3)
    convs = [await make_direct(store, alice, bob), await make_direct(store, alice, carol)]
    senders = {convs[0].id: [alice, bob], convs[1].id: [alice, carol]}

    def random_item() -> NewMessage:
        conv = rng.choice(convs)
        sender = rng.choice(senders[conv.id])
        # A small cid pool makes retries (same sender and cid) collide within and across batches.
        return new_message(conv.id, sender.id, f"cid-{rng.randrange(cid_pool)}")

    async def worker() -> list[tuple[NewMessage, AppendOutcome]]:
        done = []
        for _ in range(batches_per_task):
            batch = [random_item() for _ in range(batch_size)]
            done += list(zip(batch, await append(store, batch), strict=True))
        return done

    results = [
        pair for chunk in await asyncio.gather(*(worker() for _ in range(tasks))) for pair in chunk
    ]

    by_key: dict[tuple[str, str], set[tuple[str, int, str]]] = defaultdict(set)
    for item, outcome in results:
        stored = _appended(outcome).message
        assert (stored.sender_id, stored.cid) == (item.sender_id, item.cid)
        by_key[(item.sender_id, item.cid)].add((stored.conv_id, stored.seq, stored.id))
    # Every (sender, cid) maps to exactly one stored message, whatever the retries.
    assert all(len(found) == 1 for found in by_key.values())
    fresh = [outcome for _, outcome in results if not _appended(outcome).duplicate]
    assert len(fresh) == len(by_key)

    for conv in convs:
        stream = await all_messages(store, conv.id)
        assert [m.seq for m in stream] == list(range(1, len(stream) + 1))
        record = await store.conversations.conversation(conv.id)
        assert record is not None
        assert record.last_seq == len(stream)
        assert {(m.conv_id, m.seq, m.id) for m in stream} == {
            next(iter(v)) for v in by_key.values() if next(iter(v))[0] == conv.id
        }


async def test_seq_starts_at_one_and_counts_per_conversation(store: Store) -> None:
    alice, bob, carol = await make_users(store, 3)
    first = await make_direct(store, alice, bob)
    second = await make_direct(store, alice, carol)
    items = [new_message(first.id, alice.id), new_message(second.id, carol.id)]
    items += [new_message(first.id, bob.id), new_message(first.id, alice.id)]
    outcomes = [_appended(o) for o in await append(store, items)]
    assert [(o.message.conv_id, o.message.seq) for o in outcomes] == [
        (first.id, 1),
        (second.id, 1),
        (first.id, 2),
        (first.id, 3),
    ]
    assert all(not o.duplicate for o in outcomes)


# --- (sender, cid) dedup


async def test_retry_in_the_same_batch_returns_the_original(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    original = new_message(conv.id, alice.id, "same-cid", body={"text": "first"})
    retry = new_message(conv.id, alice.id, "same-cid", body={"text": "different body"})
    first, second = (_appended(o) for o in await append(store, [original, retry]))
    assert not first.duplicate
    assert second.duplicate
    assert second.message == first.message
    assert second.message.body == {"text": "first"}
    assert [m.seq for m in await all_messages(store, conv.id)] == [1]


async def test_retry_in_a_later_batch_returns_the_original(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    (first,) = await append(store, [new_message(conv.id, alice.id, "c-1")])
    await send(store, conv.id, bob.id, 2)
    (again,) = await append(store, [new_message(conv.id, alice.id, "c-1")])
    assert _appended(again).duplicate
    assert _appended(again).message == _appended(first).message
    assert len(await all_messages(store, conv.id)) == 3


async def test_same_cid_from_different_senders_are_different_messages(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    outcomes = await append(
        store, [new_message(conv.id, alice.id, "shared"), new_message(conv.id, bob.id, "shared")]
    )
    assert [(_appended(o).duplicate, _appended(o).message.seq) for o in outcomes] == [
        (False, 1),
        (False, 2),
    ]


async def test_cid_is_per_sender_across_conversations(store: Store) -> None:
    # Identity is (sender, cid): reusing a cid in another conversation is still a retry.
    alice, bob, carol = await make_users(store, 3)
    first = await make_direct(store, alice, bob)
    second = await make_direct(store, alice, carol)
    (original,) = await append(store, [new_message(first.id, alice.id, "reused")])
    (retry,) = await append(store, [new_message(second.id, alice.id, "reused")])
    assert _appended(retry).duplicate
    assert _appended(retry).message.conv_id == first.id
    assert await all_messages(store, second.id) == []
    assert _appended(original).message == await store.messages.find_by_cid(alice.id, "reused")


async def test_dedup_survives_reopening_the_store(store: Store, store_url: str) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    (first,) = await append(store, [new_message(conv.id, alice.id, "durable")])
    await store.close()
    reopened = Store.open(store_url)
    try:
        (again,) = await append(reopened, [new_message(conv.id, alice.id, "durable")])
        assert _appended(again).duplicate
        assert _appended(again).message == _appended(first).message
        (next_one,) = await append(reopened, [new_message(conv.id, bob.id)])
        assert _appended(next_one).message.seq == 2
    finally:
        await reopened.close()


# --- membership


async def test_non_member_is_rejected_and_nothing_is_stored(store: Store) -> None:
    alice, bob, mallory = await make_users(store, 3)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id)
    batch = [
        new_message(conv.id, mallory.id, "sneaky"),
        new_message(conv.id, bob.id),
        new_message("c_does_not_exist", alice.id),
    ]
    stranger, member, nowhere = await append(store, batch)
    assert stranger == Rejected(ErrorCode.CONVERSATION_NOT_FOUND)
    assert nowhere == Rejected(ErrorCode.CONVERSATION_NOT_FOUND)
    assert _appended(member).message.seq == 2  # the rejection took no seq
    assert [m.sender_id for m in await all_messages(store, conv.id)] == [alice.id, bob.id]
    assert await store.messages.find_by_cid(mallory.id, "sneaky") is None
    record = await store.conversations.conversation(conv.id)
    assert record is not None
    assert record.last_seq == 2
    assert await store.conversations.membership(conv.id, mallory.id) is None


async def test_sending_advances_the_senders_read_watermark(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, bob.id, 3)
    await send(store, conv.id, alice.id, 2)
    sender = await store.conversations.membership(conv.id, alice.id)
    other = await store.conversations.membership(conv.id, bob.id)
    assert sender is not None
    assert other is not None
    assert (sender.read_seq, sender.recv_seq) == (5, 5)
    assert (other.read_seq, other.recv_seq) == (3, 3)  # bob's own sends, not alice's
    (view,) = await store.conversations.list_views(alice.id, [conv.id])
    assert view.unread == 0
    (bob_view,) = await store.conversations.list_views(bob.id, [conv.id])
    assert bob_view.unread == 2


# --- history


@pytest.fixture
async def stream(store: Store) -> tuple[str, list[MessageRecord]]:
    """A conversation holding 25 messages."""
    alice, bob = await make_user(store), await make_user(store)
    conv = await make_direct(store, alice, bob)
    stored = await send(store, conv.id, alice.id, 15) + await send(store, conv.id, bob.id, 10)
    return conv.id, stored


async def _history_seqs(
    store: Store,
    conv_id: str,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 10,
    floor: int = 0,
) -> tuple[list[int], bool]:
    page, more = await store.messages.history(
        conv_id, floor_seq=floor, before=before, after=after, limit=limit
    )
    return [m.seq for m in page], more


async def test_latest_page_is_ascending_and_more_means_older(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, _ = stream
    assert await _history_seqs(store, conv_id, limit=10) == (list(range(16, 26)), True)
    assert await _history_seqs(store, conv_id, limit=25) == (list(range(1, 26)), False)
    assert await _history_seqs(store, conv_id, limit=100) == (list(range(1, 26)), False)


async def test_before_returns_the_messages_just_before(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, _ = stream
    assert await _history_seqs(store, conv_id, before=16, limit=10) == (list(range(6, 16)), True)
    assert await _history_seqs(store, conv_id, before=6, limit=10) == (list(range(1, 6)), False)
    assert await _history_seqs(store, conv_id, before=11, limit=10) == (list(range(1, 11)), False)
    assert await _history_seqs(store, conv_id, before=1) == ([], False)


async def test_after_returns_the_messages_just_after_and_more_means_newer(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, _ = stream
    assert await _history_seqs(store, conv_id, after=0, limit=10) == (list(range(1, 11)), True)
    assert await _history_seqs(store, conv_id, after=15, limit=10) == (list(range(16, 26)), False)
    assert await _history_seqs(store, conv_id, after=20, limit=3) == ([21, 22, 23], True)
    assert await _history_seqs(store, conv_id, after=25) == ([], False)
    assert await _history_seqs(store, conv_id, after=99) == ([], False)


async def test_after_and_before_together_bound_a_window(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, _ = stream
    assert await _history_seqs(store, conv_id, after=5, before=9, limit=10) == ([6, 7, 8], False)
    assert await _history_seqs(store, conv_id, after=5, before=20, limit=3) == ([6, 7, 8], True)


async def test_floor_hides_messages_from_before_joining(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, _ = stream
    assert await _history_seqs(store, conv_id, limit=50, floor=20) == ([21, 22, 23, 24, 25], False)
    assert await _history_seqs(store, conv_id, before=23, limit=5, floor=20) == ([21, 22], False)
    assert await _history_seqs(store, conv_id, after=0, limit=2, floor=20) == ([21, 22], True)


async def test_history_returns_what_was_stored(
    store: Store, stream: tuple[str, list[MessageRecord]]
) -> None:
    conv_id, stored = stream
    assert await all_messages(store, conv_id) == stored
    assert stored[0].public()["conv"] == conv_id


@store_property(max_examples=6)
@given(
    total=st.integers(min_value=0, max_value=30),
    limit=st.integers(min_value=1, max_value=12),
)
async def test_paging_backwards_and_forwards_covers_the_stream_once(
    store: Store, total: int, limit: int
) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    if total:
        await send(store, conv.id, alice.id, total)
    backwards: list[int] = []
    before: int | None = None
    for _ in range(total + 2):
        seqs, more = await _history_seqs(store, conv.id, before=before, limit=limit)
        assert len(seqs) <= limit
        backwards = seqs + backwards
        if not more:
            break
        before = seqs[0]
    forwards: list[int] = []
    after = 0
    for _ in range(total + 2):
        seqs, more = await _history_seqs(store, conv.id, after=after, limit=limit)
        forwards += seqs
        if not more:
            break
        after = seqs[-1]
    assert backwards == forwards == list(range(1, total + 1))


async def test_last_messages_previews(store: Store) -> None:
    alice, bob, carol = await make_users(store, 3)
    first = await make_direct(store, alice, bob)
    empty = await make_direct(store, alice, carol)
    stored = await send(store, first.id, bob.id, 3)
    previews = await store.messages.last_messages([(first.id, 3), (empty.id, 0)])
    assert previews == {first.id: stored[-1]}
    assert await store.messages.last_messages([]) == {}
