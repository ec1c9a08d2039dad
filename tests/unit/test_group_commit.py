"""Group commit batching, driven by a fake append function.

The fake stands in for the store only to observe how submits are grouped: which
items share a batch, in what order, and what each waiter gets back. The store
itself is covered by the contract suite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import WAIT_S
from pigeon.core.committer import GroupCommitter, SubmitOrder
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.store.records import AppendOutcome, NewMessage, Rejected


def _item(index: int) -> NewMessage:
    return NewMessage(
        id=f"m_{index}",
        conv_id="c_1",
        sender_id="u_1",
        cid=f"cid-{index}",
        kind="text",
        body={"text": str(index)},
        ts=index,
    )


def _index_of(outcome: AppendOutcome) -> int:
    """The fake answers item N with ``Rejected(N)``, so a waiter can tell its own answer."""
    assert isinstance(outcome, Rejected)
    return outcome.code


class FakeAppend:
    """Records each batch; can hold a batch open (``gate``) or fail chosen batches."""

    def __init__(self, fail_batches: Iterable[int] = ()) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_batches = set(fail_batches)

    async def __call__(self, batch: Sequence[NewMessage]) -> list[AppendOutcome]:
        number = len(self.batches)
        self.batches.append([int(item.id.removeprefix("m_")) for item in batch])
        await self.gate.wait()
        if number in self.fail_batches:
            raise OSError("disk on fire")
        return [Rejected(int(item.id.removeprefix("m_"))) for item in batch]


async def until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Let the loop run until ``condition`` holds (bounded in steps and time)."""
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if condition():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def _hold_first_batch(
    fake: FakeAppend, committer: GroupCommitter
) -> asyncio.Task[AppendOutcome]:
    """Submit item 0 and wait until its batch is in flight and held at the gate."""
    fake.gate.clear()
    first = asyncio.create_task(committer.submit(_item(0)))
    await until(lambda: len(fake.batches) == 1)
    return first


async def test_each_waiter_gets_its_own_outcome() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=8)
    committer.start()
    outcomes = await asyncio.gather(*(committer.submit(_item(i)) for i in range(20)))
    assert [_index_of(o) for o in outcomes] == list(range(20))
    await committer.close()


async def test_submits_during_a_commit_share_the_next_batch() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    first = await _hold_first_batch(fake, committer)
    waiting = [asyncio.create_task(committer.submit(_item(i))) for i in range(1, 11)]
    await until(lambda: len(committer._pending) == 10)
    fake.gate.set()
    outcomes = await asyncio.gather(first, *waiting)
    assert fake.batches == [[0], list(range(1, 11))]
    assert [_index_of(o) for o in outcomes] == list(range(11))
    await committer.close()


async def test_batches_never_exceed_max_batch_and_keep_order() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=3)
    committer.start()
    first = await _hold_first_batch(fake, committer)
    waiting = [asyncio.create_task(committer.submit(_item(i))) for i in range(1, 11)]
    await until(lambda: len(committer._pending) == 10)
    fake.gate.set()
    await asyncio.gather(first, *waiting)
    assert fake.batches == [[0], [1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    await committer.close()


async def test_failure_reaches_every_waiter_of_the_batch_and_only_them() -> None:
    fake = FakeAppend(fail_batches=[1])
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    first = await _hold_first_batch(fake, committer)
    doomed = [asyncio.create_task(committer.submit(_item(i))) for i in range(1, 6)]
    await until(lambda: len(committer._pending) == 5)
    fake.gate.set()
    assert _index_of(await first) == 0
    results = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(r, CoreError) for r in results)
    for error in results:
        assert isinstance(error, CoreError)
        assert error.code == ErrorCode.UNAVAILABLE
        assert isinstance(error.__cause__, OSError)
    # The committer survives a failed batch.
    assert _index_of(await committer.submit(_item(99))) == 99
    await committer.close()


async def test_a_cancelled_waiter_does_not_disturb_its_batch() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    first = await _hold_first_batch(fake, committer)
    gone = asyncio.create_task(committer.submit(_item(1)))
    stays = asyncio.create_task(committer.submit(_item(2)))
    await until(lambda: len(committer._pending) == 2)
    gone.cancel()
    fake.gate.set()
    assert _index_of(await first) == 0
    assert _index_of(await stays) == 2
    assert gone.cancelled()
    await committer.close()


async def test_close_drains_the_queue_then_refuses_new_submits() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=4)
    committer.start()
    first = await _hold_first_batch(fake, committer)
    queued = [asyncio.create_task(committer.submit(_item(i))) for i in range(1, 10)]
    await until(lambda: len(committer._pending) == 9)
    closing = asyncio.create_task(committer.close())
    await until(lambda: committer._closing)
    with pytest.raises(CoreError) as refused:
        await committer.submit(_item(100))
    assert refused.value.code == ErrorCode.UNAVAILABLE
    fake.gate.set()
    await closing
    outcomes = await asyncio.gather(first, *queued)
    assert [_index_of(o) for o in outcomes] == list(range(10))
    assert sorted(i for batch in fake.batches for i in batch) == list(range(10))
    with pytest.raises(CoreError):
        await committer.submit(_item(101))


async def test_observer_sees_each_batch_size() -> None:
    seen: list[tuple[int, float]] = []
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=2, observe=lambda n, s: seen.append((n, s)))
    committer.start()
    first = await _hold_first_batch(fake, committer)
    rest = [asyncio.create_task(committer.submit(_item(i))) for i in range(1, 4)]
    await until(lambda: len(committer._pending) == 3)
    fake.gate.set()
    await asyncio.gather(first, *rest)
    await committer.close()
    assert [n for n, _ in seen] == [1, 2, 1]
    assert all(seconds >= 0 for _, seconds in seen)


async def _run_scenario(max_batch: int, waves: list[int], fail_batches: set[int]) -> None:
    fake = FakeAppend(fail_batches)
    committer = GroupCommitter(fake, max_batch=max_batch)
    committer.start()
    tasks: list[asyncio.Task[AppendOutcome]] = []
    for size in waves:  # each wave is submitted at once; the loop runs between waves
        start = len(tasks)
        tasks += [asyncio.create_task(committer.submit(_item(start + i))) for i in range(size)]
        await asyncio.sleep(0)
    await committer.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = {i for n, batch in enumerate(fake.batches) if n in fail_batches for i in batch}
    assert all(0 < len(batch) <= max_batch for batch in fake.batches)
    assert [i for batch in fake.batches for i in batch] == list(range(len(tasks)))
    for index, result in enumerate(results):
        if index in failed:
            assert isinstance(result, CoreError)
            assert result.code == ErrorCode.UNAVAILABLE
        else:
            assert isinstance(result, Rejected)
            assert _index_of(result) == index


@settings(max_examples=60)
@given(
    max_batch=st.integers(min_value=1, max_value=6),
    waves=st.lists(st.integers(min_value=0, max_value=10), min_size=1, max_size=6),
    fail_batches=st.sets(st.integers(min_value=0, max_value=8), max_size=3),
)
def test_any_interleaving_commits_every_item_once_in_order(
    max_batch: int, waves: list[int], fail_batches: set[int]
) -> None:
    asyncio.run(_run_scenario(max_batch, waves, fail_batches))


# --- one connection's sends in flight at once: queued in the order they arrived


async def test_a_send_whose_checks_finish_first_still_queues_behind_the_earlier_one() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    order = SubmitOrder()
    first, second = order.next_turn(), order.next_turn()
    # The second send's checks are done first: it submits while the first is still
    # being checked, and must not be queued yet.
    second_done = asyncio.create_task(committer.submit(_item(2), second))
    await asyncio.sleep(0.05)
    assert fake.batches == []
    assert not second_done.done()
    first_done = asyncio.create_task(committer.submit(_item(1), first))
    assert [_index_of(await first_done), _index_of(await second_done)] == [1, 2]
    assert [i for batch in fake.batches for i in batch] == [1, 2]
    await committer.close()


async def test_a_send_refused_before_the_commit_does_not_let_a_later_one_overtake() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    order = SubmitOrder()
    first, refused, third = order.next_turn(), order.next_turn(), order.next_turn()
    refused.passed()  # its checks failed fast: it gives up its turn, never submits
    third_done = asyncio.create_task(committer.submit(_item(3), third))
    await asyncio.sleep(0.05)
    assert fake.batches == []  # the first is still being checked
    first_done = asyncio.create_task(committer.submit(_item(1), first))
    assert [_index_of(await first_done), _index_of(await third_done)] == [1, 3]
    assert [i for batch in fake.batches for i in batch] == [1, 3]
    await committer.close()


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    fake = FakeAppend()
    committer = GroupCommitter(fake, max_batch=100)
    committer.start()
    order = SubmitOrder()
    first, second, third = order.next_turn(), order.next_turn(), order.next_turn()
    waiting = asyncio.create_task(committer.submit(_item(2), second))
    await asyncio.sleep(0.01)
    waiting.cancel()
    third_done = asyncio.create_task(committer.submit(_item(3), third))
    first_done = asyncio.create_task(committer.submit(_item(1), first))
    assert [_index_of(await first_done), _index_of(await third_done)] == [1, 3]
    assert waiting.cancelled()
    await committer.close()
