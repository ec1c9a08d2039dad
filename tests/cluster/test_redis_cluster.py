"""Two nodes on PostgreSQL and a Redis Cluster of three primaries: chat and presence
cross nodes as on one Redis; a node pointed at the wrong kind of Redis refuses to
start, saying why."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from harness import WAIT_S, ServerProcess
from integration.live import in_touch
from integration.wsclient import Rest, connect, direct, eventually, register

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
