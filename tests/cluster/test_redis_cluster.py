"""Two nodes on PostgreSQL and a Redis Cluster of three primaries: chat and presence
cross nodes as on one Redis; a node pointed at the wrong kind of Redis refuses to
start, saying why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from contract.portkit import Cluster, PortBackend, route_known, subscribed_again, until
from harness import WAIT_S, ServerProcess
from integration.live import in_touch
from integration.wsclient import Rest, connect, direct, eventually, register
from pigeon.broker.base import Kick
from pigeon.broker.redis_cluster_lua import ClusterKeys

from .conftest import NodeFactory
from .services import RedisClusterServers, RedisServer


async def test_chat_and_presence_across_nodes_on_a_redis_cluster(
    cluster_node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    node_a, node_b = cluster_node_factory("a"), cluster_node_factory("b")
    rest_a, rest_b = Rest(http, node_a), Rest(http, node_b)
    alice, bob = await register(rest_a, "ra"), await register(rest_b, "rb")
    await in_touch(rest_a, alice, bob)  # each may see the other's presence
    ws_a, _ = await connect(http, node_a, alice)
    ws_b, _ = await connect(http, node_b, bob)
    await ws_a.expect("presence", user=bob.id, online=True)

    conv = await direct(rest_a, alice, bob)
    ack = await ws_a.send_text(conv, "from a, through the cluster")
    got = await ws_b.expect("msg", conv=conv, seq=ack["seq"])
    assert got["body"] == {"text": "from a, through the cluster"}
    reply = await ws_b.send_text(conv, "from b")
    assert (await ws_a.expect("msg", conv=conv, seq=reply["seq"]))["from"] == bob.id

    async def bob_online() -> bool:
        found = await rest_a.ok("GET", "presence", token=alice.access, params={"users": bob.id})
        return bool(found["items"][0]["online"])

    assert await bob_online()
    await ws_b.close()
    await ws_a.expect("presence", user=bob.id, online=False)

    async def bob_offline() -> bool:
        return not await bob_online()

    await eventually(bob_offline, timeout=WAIT_S, what="bob offline on node a")
    await ws_a.close()


@pytest.mark.parametrize("cluster_setting", [True, False])
def test_a_node_refuses_a_redis_of_the_other_kind(
    tmp_path: Path, database_url: str, cluster_setting: bool
) -> None:
    """--redis-cluster with a single Redis, or a cluster node without it: the start
    fails with a message naming the setting."""
    if cluster_setting:
        server: RedisServer | RedisClusterServers = RedisServer(tmp_path / "redis").start()
    else:
        server = RedisClusterServers(tmp_path / "redis-cluster").create()
    try:
        node = ServerProcess(
            tmp_path / "node",
            args=[
                "--database-url",
                database_url,
                "--redis-url",
                server.url,
                *(["--redis-cluster"] if cluster_setting else []),
            ],
        )
        with pytest.raises(RuntimeError, match="server exited") as failed:
            node.start(WAIT_S)
        assert "redis_cluster" in str(failed.value)
    finally:
        server.kill()


# --- the port's recovery guarantee when one shard moves or restarts, not the whole
# cluster (the contract suites kill and restart all of it)

USER = "u_shard_1"


@pytest.fixture
async def ports(redis_cluster: RedisClusterServers) -> AsyncIterator[Cluster]:
    made = Cluster(PortBackend.REDIS_CLUSTER, redis_cluster)
    try:
        yield made
    finally:
        await made.close()


async def test_pushes_follow_an_inbox_slot_to_another_primary(
    ports: Cluster, redis_cluster: RedisClusterServers
) -> None:
    """Resharding: when the slot of a node's inbox moves, the node subscribes at the
    new owner by itself and pushes reach it again."""
    sender, holder = await ports.nodes(2)
    assert await holder.presence.connect(USER, "login-1", "conn-1")
    await route_known(sender, holder, USER)
    inbox = ClusterKeys(ports.prefix).inbox(holder.node_id)
    source = redis_cluster.owner(inbox)
    redis_cluster.move_slot(inbox, next(p for p in redis_cluster.ports if p != source))
    await route_known(sender, holder, USER)


async def test_delivery_and_presence_resume_after_one_primary_restarts(
    ports: Cluster, redis_cluster: RedisClusterServers
) -> None:
    """Recovery: the primary holding the node set, the route and kick channels restarts
    empty; nodes register again (within a heartbeat), and then pushes, kicks and
    presence work across nodes."""
    sender, holder = await ports.nodes(2)
    assert await holder.presence.connect(USER, "login-1", "conn-1")
    await route_known(sender, holder, USER)
    shared = redis_cluster.owner(ClusterKeys(ports.prefix).nodes)
    redis_cluster.kill(shared)
    redis_cluster.start()

    async def seen_elsewhere() -> bool:
        return await sender.presence.online_logins(USER) == {"login-1"}

    await until(seen_elsewhere, "the connection seen from the other node")
    await subscribed_again(sender, holder)
    await route_known(sender, holder, USER)
    kick = Kick(4003, user_id=USER)

    async def kicked() -> bool:
        await sender.broker.publish(kick)
        return kick in holder.received

    await until(kicked, "a kick reaching the other node")


async def test_presence_comes_back_after_the_shard_holding_a_user_restarts(
    ports: Cluster, redis_cluster: RedisClusterServers
) -> None:
    """Recovery: a primary holding a user's presence (and not the node set) restarts
    empty; the node holding the user notices and registers it again."""
    keys = ClusterKeys(ports.prefix)
    shared = redis_cluster.owner(keys.nodes)
    user = next(
        u
        for u in (f"u_shard_{n}" for n in range(100))
        if redis_cluster.owner(keys.user_conns(u)) != shared
    )
    observer, holder = await ports.nodes(2)
    assert await holder.presence.connect(user, "login-1", "conn-1")
    redis_cluster.kill(redis_cluster.owner(keys.user_conns(user)))
    redis_cluster.start()

    async def seen_elsewhere() -> bool:
        return await observer.presence.online_logins(user) == {"login-1"}

    await until(seen_elsewhere, "the connection registered again")
