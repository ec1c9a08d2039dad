"""Retention and forwarding rules in process, with a clock moved by hand (tests/corekit.py).

The retention job runs by ``run_once``, never by waiting for its interval: messages
expire by moving the clock past the conversation's retention, one millisecond either
side of the edge.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corekit import CoreKit, core_kit
from pigeon.core.errors import CoreError
from pigeon.core.retention import RetentionLimits, RetentionService
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Forward, Send

DAY_S = 86_400
BATCH = 3


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[CoreKit]:
    # No posting cache: a reply checks the conversation as it is now (removed seqs).
    settings = {"retention_days": 2, "retention_batch": BATCH, "permission_cache_s": 0}
    async with core_kit(tmp_path, **settings) as started:
        yield started


async def _refused(code: ErrorCode, pending: object) -> CoreError:
    with pytest.raises(CoreError) as refused:
        await pending  # type: ignore[misc]
    assert refused.value.code is code
    return refused.value


def _forward(conv: str, seq: int, to: str, cid: str | None = None) -> Send:
    return Send(
        cid=cid or secrets.token_hex(6), conv=to, kind="", body={}, forward=Forward(conv, seq)
    )


async def test_messages_expire_at_the_edge_in_batches_and_history_says_so(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    conv = await kit.direct(alice, bob)
    old = [await kit.send(alice, conv, f"old {n}") for n in range(5)]
    kit.clock.advance(DAY_S)
    newer = await kit.send(bob, conv, "newer")
    retention = kit.services.retention

    kit.clock.advance(DAY_S)  # the old ones are exactly two days old: still kept
    assert (await retention.run_once()).messages == 0
    kit.clock.advance(0.001)
    first = await retention.run_once()
    assert (first.messages, first.conversations) == (BATCH, 1)  # one run removes a batch
    assert (await retention.run_until_done()).messages == len(old) - BATCH

    page = await kit.services.messaging.history(bob, conv)
    assert [m.seq for m in page.items] == [newer.seq]
    assert page.first_seq == newer.seq
    sync = await kit.services.messaging.sync(bob, None)
    assert sync.convs[0]["first_seq"] == newer.seq
    await _refused(
        ErrorCode.MESSAGE_REMOVED,
        kit.services.messaging.send(bob, _forward(conv, old[0].seq, conv)),
    )
    await _refused(ErrorCode.MESSAGE_REMOVED, kit.send(bob, conv, "re", reply_to=old[-1].seq))


async def test_an_override_wins_and_only_admins_of_groups_set_it(kit: CoreKit) -> None:
    owner, member = await kit.user("owner"), await kit.user("member")
    group, forever = await kit.group(owner, member), await kit.group(owner, member)
    chat = await kit.direct(owner, member)
    retention = kit.services.retention
    await _refused(ErrorCode.NOT_ADMIN, retention.set_days(member, group, 1))
    await _refused(ErrorCode.FORBIDDEN, retention.set_days(owner, chat, 1))
    await _refused(ErrorCode.NUMBER_OUT_OF_RANGE, retention.set_days(owner, group, 36501))
    view = await retention.set_days(owner, group, 1)
    assert (view["days"], view["effective_days"]) == (1, 1)
    assert (await retention.set_days(owner, forever, 0))["effective_days"] == 0
    for conv in (group, forever, chat):
        await kit.send(owner, conv, "hello")
    kit.clock.advance(DAY_S + 0.001)
    await retention.run_until_done()
    assert (await retention.describe(member, group))["first_seq"] > 1
    assert (await retention.describe(member, chat))["first_seq"] == 1  # server: two days
    kit.clock.advance(400 * DAY_S)
    await retention.run_until_done()
    assert (await retention.describe(member, forever))["first_seq"] == 1
    assert (await retention.describe(member, chat))["first_seq"] > 1
    assert (await retention.set_days(owner, group, None))["effective_days"] == 2


async def test_two_jobs_at_once_remove_each_message_once(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    convs = [await kit.direct(alice, bob), await kit.group(alice, bob)]
    for conv in convs:
        for n in range(7):
            await kit.send(alice, conv, f"m{n}")
    kit.clock.advance(3 * DAY_S)
    other = RetentionService(
        kit.services.store,
        kit.services.retention.access,
        RetentionLimits(default_days=2, max_days=10, interval_s=60, batch=2),
        kit.clock,
        kit.services.files.release,
    )

    async def drain(service: RetentionService) -> int:
        return (await service.run_until_done()).messages

    removed = await asyncio.gather(drain(kit.services.retention), drain(other))
    group_created = 1  # the group's first message is its creation notice
    assert sum(removed) == 14 + group_created
    for conv in convs:
        assert (await kit.services.messaging.history(bob, conv)).items == []


async def test_forwarding_rules(kit: CoreKit) -> None:
    alice, bob, carol = await kit.user("alice"), await kit.user("bob"), await kit.user("carol")
    source = await kit.group(alice, bob)
    target = await kit.direct(bob, carol)
    original = await kit.send(alice, source, "worth sharing")
    copy = await kit.services.messaging.send(bob, _forward(source, original.seq, target, "f1"))
    assert (copy.kind, copy.body, copy.sender_id) == ("text", original.body, bob)
    assert copy.forwarded is not None
    assert (copy.forwarded.sender_id, copy.forwarded.ts) == (alice, original.ts)
    again = await kit.services.messaging.send(bob, _forward(source, original.seq, target, "f1"))
    assert again.id == copy.id  # the same cid: the same copy
    onward = await kit.services.messaging.send(carol, _forward(target, copy.seq, target))
    assert onward.forwarded == copy.forwarded  # still the original's author
    assert onward.public()["forwarded"] == {"from": alice, "ts": original.ts}

    recall = await kit.amend(alice, source, "recall", seq=original.seq)
    await _refused(
        ErrorCode.NOT_FORWARDABLE,
        kit.services.messaging.send(bob, _forward(source, original.seq, target)),
    )
    await _refused(
        ErrorCode.NOT_FORWARDABLE,
        kit.services.messaging.send(bob, _forward(source, recall.seq, target)),
    )
    await _refused(
        ErrorCode.MESSAGE_NOT_FOUND, kit.services.messaging.send(carol, _forward(source, 1, target))
    )
    await _refused(
        ErrorCode.MESSAGE_NOT_FOUND, kit.services.messaging.send(bob, _forward(source, 999, target))
    )
