"""The notification outbox on every backend: planning moves a cursor exactly once,
pending notifications collapse, claims are disjoint, and a delivery that raced a
collapse is not lost (pigeon.push.store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select, text

from pigeon.core.ids import now_ms
from pigeon.push.store import Backlog, Plan, PlannedJob, PushStore, push_jobs
from pigeon.store.engine import Database
from pigeon.store.facade import Store

from .storekit import make_direct, make_users, send

LEASE_MS = 60_000


def job_for(backlog: Backlog, user_id: str, target: str = "webhook") -> PlannedJob:
    seqs = [m.seq for m in backlog.messages]
    return PlannedJob(user_id, target, seqs[0], seqs[-1], len(seqs), False, now_ms())


async def pending_of(outbox: PushStore, conv_id: str, user_id: str) -> list[tuple[int, int, int]]:
    """(first_seq, last_seq, count) of the user's pending jobs in the conversation."""
    stmt = select(push_jobs.c.first_seq, push_jobs.c.last_seq, push_jobs.c.count).where(
        push_jobs.c.conv_id == conv_id,
        push_jobs.c.user_id == user_id,
        push_jobs.c.state == "pending",
    )
    async with outbox.db.read() as conn:
        return sorted(tuple(row) for row in (await conn.execute(stmt)).all())


async def test_two_planners_at_one_cursor_commit_once(store: Store) -> None:
    outbox = PushStore(store.db)
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id, 3)
    first, second = await outbox.backlog(conv.id, 100), await outbox.backlog(conv.id, 100)
    assert first.cursor is None
    assert [m.seq for m in first.messages] == [1, 2, 3]
    assert set(first.members) == {alice.id, bob.id}
    assert await outbox.commit_plan(first, 3, [job_for(first, bob.id)], now_ms())
    assert not await outbox.commit_plan(second, 3, [job_for(second, bob.id)], now_ms())
    assert (await outbox.backlog(conv.id, 100)).messages == []
    assert await pending_of(outbox, conv.id, bob.id) == [(1, 3, 3)]


async def test_later_messages_collapse_into_the_pending_notification(store: Store) -> None:
    outbox = PushStore(store.db)
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id, 2)
    backlog = await outbox.backlog(conv.id, 100)
    assert await outbox.commit_plan(backlog, 2, [job_for(backlog, bob.id)], now_ms())
    await send(store, conv.id, alice.id, 3)
    backlog = await outbox.backlog(conv.id, 100)
    assert backlog.cursor == 2
    assert [m.seq for m in backlog.messages] == [3, 4, 5]
    assert await outbox.commit_plan(backlog, 5, [job_for(backlog, bob.id)], now_ms())
    assert await pending_of(outbox, conv.id, bob.id) == [(1, 5, 5)]


async def test_concurrent_claims_take_disjoint_jobs(store: Store) -> None:
    outbox = PushStore(store.db)
    sender, *readers = await make_users(store, 9)
    convs = [await make_direct(store, sender, r) for r in readers]
    for conv, reader in zip(convs, readers, strict=True):
        await send(store, conv.id, sender.id)
        backlog = await outbox.backlog(conv.id, 100)
        assert await outbox.commit_plan(backlog, 1, [job_for(backlog, reader.id)], now_ms())
    now = now_ms()
    claims = await asyncio.gather(*(outbox.claim(now, LEASE_MS, 3) for _ in range(6)))
    mine = {c.id for c in convs}
    taken = [j.id for claim in claims for j in claim if j.conv_id in mine]
    assert len(taken) == len(set(taken)), "a job was claimed twice"
    # Leased: not claimable again until the lease runs out...
    again = await outbox.claim(now, LEASE_MS, 10_000)
    assert not {j.id for j in again} & set(taken)
    # ...and then claimable, as when the claiming node died, counting the attempt.
    later = await outbox.claim(now + LEASE_MS, LEASE_MS, 10_000)
    redone = [j for j in later if j.conv_id in mine]
    assert {j.id for j in redone} >= set(taken)
    assert all(j.attempts == 2 for j in redone if j.id in taken)


async def test_a_delivery_that_raced_a_collapse_leaves_the_rest_due(store: Store) -> None:
    outbox = PushStore(store.db)
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id, 2)
    backlog = await outbox.backlog(conv.id, 100)
    assert await outbox.commit_plan(backlog, 2, [job_for(backlog, bob.id)], now_ms())
    [job] = [j for j in await outbox.claim(now_ms(), LEASE_MS, 10_000) if j.conv_id == conv.id]
    await send(store, conv.id, alice.id)  # arrives while job is being delivered
    backlog = await outbox.backlog(conv.id, 100)
    assert await outbox.commit_plan(backlog, 3, [job_for(backlog, bob.id)], now_ms())
    await outbox.finish(job, now_ms())
    assert await pending_of(outbox, conv.id, bob.id) == [(3, 3, 1)]
    [rest] = [j for j in await outbox.claim(now_ms(), LEASE_MS, 10_000) if j.conv_id == conv.id]
    await outbox.finish(rest, now_ms())
    assert await pending_of(outbox, conv.id, bob.id) == []


async def test_dead_letters_are_kept_and_never_claimed(store: Store) -> None:
    outbox = PushStore(store.db)
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    await send(store, conv.id, alice.id)
    backlog = await outbox.backlog(conv.id, 100)
    assert await outbox.commit_plan(backlog, 1, [job_for(backlog, bob.id)], now_ms())
    [job] = [j for j in await outbox.claim(now_ms(), 0, 10_000) if j.conv_id == conv.id]
    await outbox.bury(job, "HTTP 400")
    assert await pending_of(outbox, conv.id, bob.id) == []
    assert (await outbox.counts()).get("dead", 0) >= 1


async def test_one_transaction_plans_many_conversations_and_a_lost_race_spoils_only_its_own(
    store: Store,
) -> None:
    outbox = PushStore(store.db)
    sender, *readers = await make_users(store, 4)
    convs = [await make_direct(store, sender, r) for r in readers]
    for count, conv in enumerate(convs, start=2):
        await send(store, conv.id, sender.id, count)
    backlogs = await outbox.backlogs([c.id for c in convs], 3)  # at most 3 each
    assert [[m.seq for m in b.messages] for b in backlogs] == [
        [1, 2, 3][: len(b.messages)] for b in backlogs
    ]
    assert sorted(len(b.messages) for b in backlogs) == [2, 3, 3]
    by_conv = {b.conv_id: b for b in backlogs}
    raced = convs[0].id
    # another node plans the first conversation in between
    assert await outbox.commit_plan(await outbox.backlog(raced, 100), 2, [], now_ms())
    plans = [
        Plan(b, b.messages[-1].seq, [job_for(b, reader.id)])
        for b, reader in ((by_conv[c.id], r) for c, r in zip(convs, readers, strict=True))
    ]
    assert await outbox.commit_plans(plans, now_ms()) == {raced}
    assert await pending_of(outbox, raced, readers[0].id) == []
    assert await pending_of(outbox, convs[1].id, readers[1].id) == [(1, 3, 3)]
    assert await pending_of(outbox, convs[2].id, readers[2].id) == [(1, 3, 3)]
    # the third conversation has a fourth message past the page: still unplanned
    [rest] = await outbox.backlogs([convs[2].id], 100)
    assert (rest.cursor, [m.seq for m in rest.messages]) == (3, [4])


async def test_a_write_that_skips_the_fsync_leaves_the_connection_as_configured(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'relaxed.db'}", sqlite_synchronous="FULL")
    try:
        async with db.write(durable=False) as conn:
            relaxed = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with db.write() as conn:
            strict = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with db.read() as conn:
            again = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
            rows = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
    finally:
        await db.close()
    assert (relaxed, strict, again, rows) == (1, 2, 2, 1)  # NORMAL, then FULL again
