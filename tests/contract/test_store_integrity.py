"""Failure isolation in the group commit, and recall versus edit, on every backend.

The edge refuses every value below before it reaches the store; these tests drive
the store and the committer directly with values the database itself rejects, to
prove one such message can never take other users' messages down with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pigeon.core.committer import GroupCommitter
from pigeon.core.errors import CoreError
from pigeon.core.ids import new_id
from pigeon.protocol.errors import ErrorCode
from pigeon.store.facade import Store
from pigeon.store.records import Amendment, Appended, AppendOutcome, NewMessage, Rejected

from .conftest import open_store
from .storekit import all_messages, append, make_direct, make_users, new_message, send

UNSTORABLE = Rejected(ErrorCode.UNSTORABLE)

# Values every backend refuses: a lone surrogate cannot be encoded for the database
# (nor as JSON for the body), and no 64-bit column holds 2**63.
POISONS: dict[str, dict[str, Any]] = {
    "surrogate in cid": {"cid": "bad\ud800cid"},
    "integer beyond 64 bits": {"ts": 2**63},
    "surrogate in body": {"body": {"text": "bad\udfff"}},
}


def _poisoned(message: NewMessage, poison: str) -> NewMessage:
    return dataclasses.replace(message, **POISONS[poison])


def _seqs(outcomes: list[AppendOutcome]) -> list[int | None]:
    return [o.message.seq if isinstance(o, Appended) else None for o in outcomes]


@pytest.mark.parametrize("poison", list(POISONS))
async def test_a_message_the_database_refuses_fails_alone(store: Store, poison: str) -> None:
    a, b, c, d, e, f = await make_users(store, 6)
    ab = await make_direct(store, a, b)
    cd = await make_direct(store, c, d)
    ef = await make_direct(store, e, f)
    batch = [
        new_message(ab.id, a.id),
        new_message(cd.id, c.id),
        _poisoned(new_message(cd.id, d.id), poison),
        new_message(ef.id, e.id),
        new_message(ab.id, b.id),
        new_message(cd.id, d.id),
    ]
    outcomes = await append(store, batch)
    assert outcomes[2] == UNSTORABLE
    assert all(
        isinstance(o, Appended) and not o.duplicate for i, o in enumerate(outcomes) if i != 2
    )
    # every conversation's seq stays gapless: the refused message took none
    assert [m.cid for m in await all_messages(store, cd.id)] == [batch[1].cid, batch[5].cid]
    assert [m.seq for m in await all_messages(store, ab.id)] == [1, 2]
    assert [m.seq for m in await all_messages(store, ef.id)] == [1]
    conv = await store.conversations.conversation(cd.id)
    assert conv is not None
    assert conv.last_seq == 2


async def test_a_retried_message_split_from_its_original_is_still_deduplicated(
    store: Store,
) -> None:
    a, b = await make_users(store, 2)
    conv = await make_direct(store, a, b)
    first = new_message(conv.id, a.id)
    retry = dataclasses.replace(first, id=new_id("m_"))
    batch = [first, _poisoned(new_message(conv.id, b.id), "surrogate in cid"), retry]
    original, refused, again = await append(store, batch)
    assert refused == UNSTORABLE
    assert isinstance(original, Appended)
    assert isinstance(again, Appended)
    assert again.duplicate
    assert again.message.id == original.message.id
    assert len(await all_messages(store, conv.id)) == 1


async def test_nul_in_text_is_refused_by_postgresql_and_fails_alone(
    store: Store, store_url: str
) -> None:
    """Why the edge refuses NUL: SQLite keeps it, PostgreSQL cannot store it at all."""
    a, b = await make_users(store, 2)
    conv = await make_direct(store, a, b)
    batch = [new_message(conv.id, a.id), new_message(conv.id, b.id, "nul\x00cid")]
    good, nul = await append(store, batch)
    assert isinstance(good, Appended)
    if store_url.startswith("postgresql"):
        assert nul == UNSTORABLE
    else:
        assert isinstance(nul, Appended)


async def test_committer_gives_the_poison_its_own_error_and_everyone_else_an_ack(
    store: Store,
) -> None:
    users = await make_users(store, 8)
    convs = [await make_direct(store, users[i], users[i + 1]) for i in range(0, 8, 2)]
    batches: list[int] = []
    committer = GroupCommitter(store.messages.append, 64, lambda n, _: batches.append(n))
    committer.start()
    try:
        items = [new_message(conv.id, users[2 * i].id) for i, conv in enumerate(convs)]
        items += [new_message(conv.id, users[2 * i + 1].id) for i, conv in enumerate(convs)]
        items.insert(3, _poisoned(new_message(convs[1].id, users[3].id), "surrogate in cid"))
        results = await asyncio.gather(
            *(committer.submit(item) for item in items), return_exceptions=True
        )
    finally:
        await committer.close()
    assert results[3] == UNSTORABLE
    others = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, Appended) for r in others), others
    assert max(batches) > 1  # the poison really shared a batch with other senders


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_store_that_is_down_fails_every_send_with_unavailable(
    backend: str, tmp_path: Path
) -> None:
    # SQLite: the database path is a directory; PostgreSQL: nothing listens on port 1.
    url = f"sqlite:///{tmp_path}" if backend == "sqlite" else "postgresql://x@127.0.0.1:1/none"
    down = open_store(url)
    committer = GroupCommitter(down.messages.append, 64)
    committer.start()
    try:
        items = [new_message("c_x", f"u_{i}") for i in range(5)]
        results = await asyncio.gather(
            *(committer.submit(item) for item in items), return_exceptions=True
        )
    finally:
        await committer.close()
        await down.close()
    for result in results:
        assert isinstance(result, CoreError), result
        assert result.code == ErrorCode.UNAVAILABLE


# --- recall versus edit


def _edit(conv_id: str, sender_id: str, seq: int, text: str) -> NewMessage:
    return dataclasses.replace(
        new_message(conv_id, sender_id),
        kind="edit",
        body={"seq": seq, "text": text},
        amends=Amendment(seq, {"text": text}),
    )


def _recall(conv_id: str, sender_id: str, seq: int) -> NewMessage:
    return dataclasses.replace(
        new_message(conv_id, sender_id),
        kind="recall",
        body={"seq": seq},
        amends=Amendment(seq, None),
    )


async def test_recall_removes_the_text_of_every_edit(store: Store) -> None:
    a, b = await make_users(store, 2)
    conv = await make_direct(store, a, b)
    [target] = await send(store, conv.id, a.id)
    [other] = await send(store, conv.id, a.id)
    await append(store, [_edit(conv.id, a.id, target.seq, "first secret")])
    await append(store, [_edit(conv.id, a.id, other.seq, "kept edit")])
    await append(store, [_edit(conv.id, a.id, target.seq, "second secret")])
    [recall] = await append(store, [_recall(conv.id, a.id, target.seq)])
    assert isinstance(recall, Appended)
    stream = await all_messages(store, conv.id)
    assert "secret" not in repr([m.body for m in stream])
    by_seq = {m.seq: m for m in stream}
    assert by_seq[target.seq].recalled
    assert by_seq[target.seq].body == {}
    assert by_seq[target.seq].edited_at is None
    edits = [m for m in stream if m.kind == "edit"]
    assert [(m.recalled, m.body) for m in edits] == [
        (True, {}),
        (False, {"seq": other.seq, "text": "kept edit"}),  # another message's edit stays
        (True, {}),
    ]
    assert by_seq[other.seq].body["text"] == "kept edit"


async def test_an_edit_committed_after_a_recall_in_one_batch_brings_no_text_back(
    store: Store,
) -> None:
    a, b = await make_users(store, 2)
    conv = await make_direct(store, a, b)
    [target] = await send(store, conv.id, a.id)
    batch = [_recall(conv.id, a.id, target.seq), _edit(conv.id, a.id, target.seq, "too late")]
    await append(store, batch)
    stream = await all_messages(store, conv.id)
    assert "too late" not in repr([m.body for m in stream])
    assert [(m.kind, m.recalled, m.body) for m in stream[1:]] == [
        ("recall", False, {"seq": target.seq}),
        ("edit", True, {}),
    ]
    recalled = stream[0]
    assert recalled.recalled
    assert recalled.body == {}
    assert recalled.edited_at is None
