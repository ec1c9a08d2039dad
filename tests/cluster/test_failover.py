"""Failures mid-traffic: kill -9 of a node, a Redis restart, a graceful drain, and
two nodes racing into one group. After each, every acknowledged message is stored
exactly once in a gapless stream, and every recipient's live pushes plus its
sync and pull give exactly that stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import aiohttp

from harness import ServerProcess
from integration.wsclient import Rest, all_history, connect, register

from .conftest import NodeFactory
from .services import RedisServer
from .traffic import Chatter, check_recipient, check_stream, wait_until

MESSAGES_EACH = 25
PROBE_WINDOW_S = 120.0  # upper bound for live delivery to come back after a Redis restart


def alive(nodes: Sequence[ServerProcess]) -> list[ServerProcess]:
    return [n for n in nodes if n.proc is not None and n.proc.poll() is None]


async def group_of_chatters(
    http: aiohttp.ClientSession, nodes: list[ServerProcess], per_node: int
) -> tuple[str, list[Chatter]]:
    rest = Rest(http, nodes[0])
    accounts = [await register(rest, "ch") for _ in range(per_node * len(nodes))]
    group = await rest.ok(
        "POST",
        "groups",
        status=201,
        token=accounts[0].access,
        json={"title": "traffic", "members": [a.id for a in accounts[1:]]},
    )
    chatters = [
        Chatter(account, http, lambda: alive(nodes), node_index=i % len(nodes))
        for i, account in enumerate(accounts)
    ]
    for chatter in chatters:
        await chatter.open()
    return str(group["id"]), chatters


async def verify(
    http: aiohttp.ClientSession, node: ServerProcess, conv: str, chatters: list[Chatter]
) -> list[dict[str, object]]:
    stream = await all_history(Rest(http, node), chatters[0].account, conv)
    check_stream(stream, chatters, MESSAGES_EACH * len(chatters))
    for chatter in chatters:
        check_recipient(chatter, await chatter.catch_up(conv), stream)
        await chatter.close()
    return stream


def acked(chatters: list[Chatter]) -> int:
    return sum(len(c.acked) for c in chatters)


async def test_kill_9_of_a_node_loses_nothing_acknowledged(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    nodes = [node_factory("a"), node_factory("b"), node_factory("c")]
    conv, chatters = await group_of_chatters(http, nodes, per_node=2)
    traffic = asyncio.gather(*(c.run(conv, MESSAGES_EACH) for c in chatters))
    await wait_until(lambda: acked(chatters) >= 30, 60, "traffic under way")
    nodes[2].kill()
    await asyncio.wait_for(traffic, 180)
    assert sum(c.reconnects for c in chatters) >= 2  # the victims moved to other nodes
    await verify(http, nodes[0], conv, chatters)


async def test_redis_restart_resumes_live_delivery(
    node_factory: NodeFactory, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    nodes = [node_factory("a"), node_factory("b")]
    conv, chatters = await group_of_chatters(http, nodes, per_node=2)
    traffic = asyncio.gather(*(c.run(conv, MESSAGES_EACH) for c in chatters))
    await wait_until(lambda: acked(chatters) >= 20, 60, "traffic under way")
    redis_server.kill()
    await wait_until(lambda: acked(chatters) >= 40, 60, "sends acknowledged without Redis")
    redis_server.start()  # same port, empty: nodes must rebuild routes and presence
    await asyncio.wait_for(traffic, 180)
    await verify(http, nodes[0], conv, chatters)
    await live_delivery_works(http, nodes[0], nodes[1], chatters[0], chatters[1], conv)


async def live_delivery_works(
    http: aiohttp.ClientSession,
    sender_node: ServerProcess,
    receiver_node: ServerProcess,
    sender: Chatter,
    receiver: Chatter,
    conv: str,
) -> None:
    """A message sent on one node reaches a socket on the other live, once routes are back.

    Probes sent before the nodes have rebuilt their routes may never be pushed, so a new
    one goes out every couple of seconds; a push of any probe, however late, proves live
    delivery works. Bounded by PROBE_WINDOW_S in all.
    """
    tx, _ = await connect(http, sender_node, sender.account)
    rx, _ = await connect(http, receiver_node, receiver.account)
    probes: set[int] = set()
    deadline = time.monotonic() + PROBE_WINDOW_S
    try:
        for attempt in range(10_000):
            if time.monotonic() > deadline:
                break
            ack = await tx.send_text(conv, f"probe {attempt}")
            probes.add(ack["seq"])
            try:
                await rx.expect("msg", lambda m: m["seq"] in probes, timeout=2.0, conv=conv)
                return
            except TimeoutError:
                continue
        raise AssertionError(f"live delivery did not resume within {PROBE_WINDOW_S}s")
    finally:
        await tx.close()
        await rx.close()


async def test_sigterm_drains_a_node_without_losing_acknowledged_sends(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    nodes = [node_factory("a"), node_factory("b")]
    conv, chatters = await group_of_chatters(http, nodes, per_node=2)
    on_b = [c for c in chatters if c.node_index == 1]
    traffic = asyncio.gather(*(c.run(conv, MESSAGES_EACH) for c in chatters))
    await wait_until(lambda: acked(chatters) >= 20, 60, "traffic under way")
    exit_code = await asyncio.to_thread(nodes[1].terminate)
    assert exit_code == 0, nodes[1].log()[-3000:]
    await asyncio.wait_for(traffic, 180)
    assert all(1012 in c.close_codes for c in on_b), [c.close_codes for c in on_b]
    await verify(http, nodes[0], conv, chatters)


async def test_two_nodes_racing_into_one_group_keep_seq_gapless(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    nodes = [node_factory("a"), node_factory("b")]
    conv, chatters = await group_of_chatters(http, nodes, per_node=2)
    await asyncio.wait_for(asyncio.gather(*(c.run(conv, MESSAGES_EACH) for c in chatters)), 180)
    stream = await verify(http, nodes[1], conv, chatters)
    senders_by_node = {c.account.id: c.node_index for c in chatters}
    assert {senders_by_node[str(m["from"])] for m in stream} == {0, 1}
