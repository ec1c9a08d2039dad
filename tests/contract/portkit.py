"""Nodes of the Broker and Presence ports on each backend, for their contract suites.

The ``cluster`` fixture (conftest.py) is parametrised over the in-memory backend, one
Redis and a Redis Cluster of three primaries: throwaway servers per test (so a test
may restart them) under a unique key prefix.
A cluster hands out started nodes, each a broker and a presence with one node id,
whose broker records every event its node's subscriber was given. The in-memory
backend is one process, so it has exactly one node; a test about several nodes asks
``cluster.nodes(2)``, which skips there (saying why: the guarantee is about other
nodes, and in-memory has none).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import pytest

from cluster.services import RedisClusterServers, RedisServer
from harness import WAIT_S
from pigeon.broker.base import Broker, Event, Kick, Presence, Push
from pigeon.broker.memory import MemoryBroker, MemoryPresence
from pigeon.broker.redis import RedisBroker, RedisPresence
from pigeon.broker.redis_cluster import RedisClusterBroker, RedisClusterPresence

# Long enough that a live node's refresh is never late on a loaded machine; the crash
# tests give the node they kill a short one of its own.
TTL_S = 30.0


class PortBackend(StrEnum):
    MEMORY = "memory"
    REDIS = "redis"
    REDIS_CLUSTER = "redis-cluster"


@dataclass
class PortNode:
    node_id: str
    broker: Broker
    presence: Presence
    received: list[Event] = field(default_factory=list)
    closed: bool = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.presence.close()
            await self.broker.close()

    def frames(self) -> list[dict[str, object]]:
        """The frames of the pushes this node's subscriber got, in order."""
        return [e.frame for e in self.received if isinstance(e, Push)]


class Cluster:
    def __init__(
        self, backend: PortBackend, redis: RedisServer | RedisClusterServers | None
    ) -> None:
        self.backend = backend
        self.redis = redis
        self.prefix = "contract-" + secrets.token_hex(4)
        self.started: list[PortNode] = []

    @property
    def spans_nodes(self) -> bool:
        """Whether this backend has nodes other than the one in this process."""
        return self.backend is not PortBackend.MEMORY

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return self.redis.url

    async def node(self, node_id: str = "a", ttl_s: float = TTL_S) -> PortNode:
        if self.backend is PortBackend.MEMORY:
            assert not self.started, "the in-memory backend is one node"
            broker: Broker = MemoryBroker()
            presence: Presence = MemoryPresence()
        elif self.backend is PortBackend.REDIS_CLUSTER:
            broker = RedisClusterBroker(self.redis_url, node_id, prefix=self.prefix)
            presence = RedisClusterPresence(self.redis_url, node_id, ttl_s, prefix=self.prefix)
        else:
            broker = RedisBroker(self.redis_url, node_id, prefix=self.prefix)
            presence = RedisPresence(self.redis_url, node_id, ttl_s, prefix=self.prefix)
        node = PortNode(node_id, broker, presence)
        broker.subscribe(node.received.append)
        await broker.start()
        await presence.start()
        self.started.append(node)
        return node

    async def nodes(self, count: int) -> list[PortNode]:
        if self.backend is PortBackend.MEMORY:
            pytest.skip("about other nodes: the in-memory backend is a cluster of one")
        return [await self.node(chr(ord("a") + i)) for i in range(count)]

    def require_backend_process(self) -> RedisServer | RedisClusterServers:
        if self.redis is None:
            pytest.skip("about losing the shared backend: the in-memory one is this process")
        return self.redis

    async def close(self) -> None:
        for node in self.started:
            await node.close()


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = WAIT_S
) -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    for _ in range(1_000_000):
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout}s")


async def route_known(sender: PortNode, holder: PortNode, user: str) -> None:
    """Publish probes from ``sender`` to ``user`` until one reaches ``holder``: from
    then on the route from one to the other is known. Then one last probe, so that no
    earlier one is still on its way (one publisher's events arrive in order), and both
    nodes' records are cleared."""
    sent = 0

    async def arrived() -> bool:
        nonlocal sent
        await sender.broker.publish(Push((user,), {"t": "probe", "n": sent}))
        sent += 1
        return any(f.get("t") == "probe" for f in holder.frames())

    await until(arrived, f"a push from {sender.node_id} reaching {holder.node_id}")
    await sender.broker.publish(Push((user,), {"t": "settled"}))
    await until(lambda: {"t": "settled"} in holder.frames(), "the last probe")
    sender.received.clear()
    holder.received.clear()


def kicks(node: PortNode) -> list[Kick]:
    return [e for e in node.received if isinstance(e, Kick)]


async def kicks_flow(sender: PortNode, *holders: PortNode) -> None:
    """Kick probes until one reaches every holder (their subscriptions are confirmed),
    then a last one, so that no probe is still on its way; records cleared."""

    async def arrived() -> bool:
        await sender.broker.publish(Kick(4000, user_id="probe"))
        return all(any(k.user_id == "probe" for k in kicks(h)) for h in holders)

    await until(arrived, "a kick reaching every node")
    await sender.broker.publish(Kick(4000, user_id="settled"))
    for holder in holders:
        await until(
            lambda h=holder: any(k.user_id == "settled" for k in kicks(h)), "the last probe"
        )
    for node in (sender, *holders):
        node.received.clear()


async def subscribed_again(*nodes: PortNode) -> None:
    """After the backend restarted: kicks flow from every node to every other, so each
    has subscribed again and reloaded its route table since. Before that, a probe may
    still reach a node through a subscription or a route table from before the restart
    which the node's recovery then replaces: a route seen once would not be one kept."""
    for node in nodes:
        await kicks_flow(node, *(other for other in nodes if other is not node))
