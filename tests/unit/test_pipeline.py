"""A connection's pipeline on a real event loop: arrival order of what goes out,
the bound on entries in flight, and one failing entry leaving the others alone."""

from __future__ import annotations

import asyncio

from harness import WAIT_S
from pigeon.gateway.machine import Action, Close, Reply
from pigeon.gateway.pipeline import Pipeline
from pigeon.protocol.closecodes import CloseCode


def _reply(n: int) -> Reply:
    return Reply({"t": "ack", "rid": n})


class Written:
    """What the pipeline carried out, in order."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    def __call__(self, actions: list[Action]) -> None:
        self.actions.extend(actions)

    @property
    def rids(self) -> list[object]:
        return [a.frame["rid"] for a in self.actions if isinstance(a, Reply)]


async def _answer(n: int, gate: asyncio.Event) -> list[Action]:
    await gate.wait()
    return [_reply(n)]


async def test_replies_go_out_in_arrival_order_whatever_finishes_first() -> None:
    written = Written()
    pipeline = Pipeline(8, written)
    gates = [asyncio.Event() for _ in range(4)]
    for n, gate in enumerate(gates):
        pipeline.start(_answer(n, gate))
    pipeline.then([_reply(99)])  # decided at once (a refusal), still behind the others
    for gate in reversed(gates[1:]):
        gate.set()
    await asyncio.sleep(0.05)
    assert written.rids == []  # the oldest is not answered yet: nothing may go out
    gates[0].set()
    await asyncio.wait_for(pipeline.settled(), WAIT_S)
    assert written.rids == [0, 1, 2, 3, 99]


async def test_at_the_bound_the_next_entry_waits_and_is_not_refused() -> None:
    written = Written()
    depth = 3
    pipeline = Pipeline(depth, written)
    gates = [asyncio.Event() for _ in range(depth + 1)]
    for n in range(depth - 1):
        pipeline.start(_answer(n, gates[n]))
    await asyncio.wait_for(pipeline.room(), WAIT_S)  # one below the bound: room left
    pipeline.start(_answer(depth - 1, gates[depth - 1]))
    waiting = asyncio.create_task(pipeline.room())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # N in flight: the N+1-th waits (the reader pauses)
    gates[1].set()  # a later one finishing frees nothing: the oldest still waits
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gates[0].set()
    await asyncio.wait_for(waiting, WAIT_S)
    pipeline.start(_answer(depth, gates[depth]))
    for gate in gates:
        gate.set()
    await asyncio.wait_for(pipeline.settled(), WAIT_S)
    assert written.rids == list(range(depth + 1))


async def test_nothing_waiting_goes_out_at_once() -> None:
    written = Written()
    pipeline = Pipeline(4, written)
    close = Close(CloseCode.POLICY, "rate limit exceeded repeatedly")
    pipeline.then([close])
    assert written.actions == [close]


async def test_a_failing_entry_costs_only_its_own_reply() -> None:
    written = Written()
    pipeline = Pipeline(4, written)

    async def broken() -> list[Action]:
        raise RuntimeError("boom")

    opened = asyncio.Event()
    opened.set()
    pipeline.start(_answer(0, opened))
    pipeline.start(broken())
    pipeline.start(_answer(2, opened))
    await asyncio.wait_for(pipeline.settled(), WAIT_S)
    assert written.rids == [0, 2]
