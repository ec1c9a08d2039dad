"""Rules with time windows, tested in process with a clock moved by hand (tests/corekit.py).

No server and no sleeping: each window is checked one millisecond either side of its
edge, which a test against a real clock could only approximate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corekit import CoreKit, core_kit
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode

RECALL_WINDOW_S = 120


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[CoreKit]:
    async with core_kit(tmp_path, recall_window_s=RECALL_WINDOW_S) as started:
        yield started


async def _refused(code: ErrorCode, pending: object) -> None:
    with pytest.raises(CoreError) as refused:
        await pending  # type: ignore[misc]
    assert refused.value.code is code


async def test_a_sender_recalls_until_the_window_closes_and_an_admin_after(kit: CoreKit) -> None:
    owner, member = await kit.user("owner"), await kit.user("member")
    conv = await kit.group(owner, member)
    early, late = await kit.send(member, conv, "one"), await kit.send(member, conv, "two")

    kit.clock.advance(RECALL_WINDOW_S)  # the last millisecond of the window
    await kit.amend(member, conv, "recall", seq=early.seq)
    kit.clock.advance(0.001)
    await _refused(ErrorCode.FORBIDDEN, kit.amend(member, conv, "recall", seq=late.seq))
    await kit.amend(owner, conv, "recall", seq=late.seq)  # a moderator: any time

    history = (await kit.services.messaging.history(member, conv)).items
    assert [m.recalled for m in history if m.kind == "text"] == [True, True]


async def test_a_muted_member_posts_again_once_the_mute_ends(kit: CoreKit) -> None:
    owner, member = await kit.user("owner"), await kit.user("member")
    conv = await kit.group(owner, member)
    until = kit.clock.now_ms() + 60_000
    await kit.services.groups.update_member(owner, conv, member, {"muted_until": until})

    kit.clock.advance(59.999)
    await _refused(ErrorCode.MUTED, kit.send(member, conv))
    kit.clock.advance(0.001)  # muted_until is the first moment they may post again
    assert (await kit.send(member, conv)).ts == until


async def test_published_events_are_recorded_for_each_recipient(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    conv = await kit.direct(alice, bob)
    kit.pushes.clear()
    sent = await kit.send(alice, conv, "hello")
    pushed = kit.pushes.frames_to(bob, "msg")
    assert [(f["seq"], f["body"], f["ts"]) for f in pushed] == [
        (sent.seq, {"text": "hello"}, kit.clock.now_ms())
    ]
