"""The Presence port's guarantees (pigeon/broker/base.py), on every backend.

Each test states the guarantee it checks. Times are compared with the clock read
just before and after the call that sets them, never with a duration.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from harness import WAIT_S
from pigeon.core.ids import now_ms

from .portkit import Cluster, until

USER, OTHER = "u_presence_1", "u_presence_2"

# A node in a process of its own, killed with SIGKILL by the crash test: it registers
# one connection, says so, and waits to die.
DOOMED_NODE = """
import asyncio, sys
from pigeon.broker.redis import RedisPresence
from pigeon.broker.redis_cluster import RedisClusterPresence

async def main(backend, url, prefix, user, ttl_s):
    kind = RedisClusterPresence if backend == "redis-cluster" else RedisPresence
    presence = kind(url, "doomed", float(ttl_s), prefix=prefix)
    await presence.start()
    first = await presence.connect(user, "login-doomed", "conn-doomed")
    print("registered", first, flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_connect_is_first_and_disconnect_is_last_on_one_node(cluster: Cluster) -> None:
    """First and last: True only for a user's first connection and for the withdrawal
    of their last; withdrawing what is not registered is False and changes nothing."""
    node = await cluster.node()
    presence = node.presence
    assert await presence.connect(USER, "login-1", "conn-1") is True
    assert await presence.connect(USER, "login-2", "conn-2") is False  # another device
    assert await presence.connect(USER, "login-1", "conn-3") is False  # another tab
    assert await presence.connect(OTHER, "login-9", "conn-9") is True  # someone else
    assert await presence.disconnect(USER, "login-1", "conn-1") is False
    assert await presence.disconnect(USER, "login-1", "conn-1") is False  # already gone
    assert await presence.disconnect(USER, "login-1", "conn-never") is False
    assert await presence.disconnect("u_nobody", "login-0", "conn-0") is False
    assert await presence.online_users([USER, OTHER, "u_nobody"]) == {USER, OTHER}
    assert await presence.disconnect(USER, "login-2", "conn-2") is False
    assert await presence.disconnect(USER, "login-1", "conn-3") is True  # the last
    assert await presence.disconnect(USER, "login-1", "conn-3") is False
    assert await presence.online_users([USER, OTHER]) == {OTHER}
    assert await presence.connect(USER, "login-1", "conn-4") is True  # first again


async def test_logins_and_last_seen_follow_the_connections(cluster: Cluster) -> None:
    """online_logins are the logins holding a connection; last_seen is None for a user
    never seen, now for one online, and the time of the last withdrawal after."""
    presence = (await cluster.node()).presence
    assert await presence.last_seen([USER]) == {USER: None}
    assert await presence.online_logins(USER) == set()
    await presence.connect(USER, "login-1", "conn-1")
    await presence.connect(USER, "login-1", "conn-2")
    await presence.connect(USER, "login-2", "conn-3")
    assert await presence.online_logins(USER) == {"login-1", "login-2"}
    before = now_ms()
    seen = (await presence.last_seen([USER, OTHER]))[USER]
    assert seen is not None
    assert before <= seen <= now_ms()
    await presence.disconnect(USER, "login-2", "conn-3")
    assert await presence.online_logins(USER) == {"login-1"}
    await presence.disconnect(USER, "login-1", "conn-1")
    assert await presence.online_logins(USER) == {"login-1"}  # conn-2 still holds it
    before = now_ms()
    await presence.disconnect(USER, "login-1", "conn-2")
    after = now_ms()
    assert await presence.online_logins(USER) == set()
    left = (await presence.last_seen([USER]))[USER]
    assert left is not None
    assert before <= left <= after
    assert await presence.last_seen([OTHER]) == {OTHER: None}


async def test_first_and_last_are_decided_across_nodes(cluster: Cluster) -> None:
    """Cluster-wide: a connection on another node makes a connect not the first and a
    disconnect not the last; every node reads the others' writes at once."""
    node_a, node_b = await cluster.nodes(2)
    a, b = node_a.presence, node_b.presence
    assert await a.connect(USER, "login-a", "conn-a") is True
    assert await b.connect(USER, "login-b", "conn-b") is False
    assert await b.online_logins(USER) == {"login-a", "login-b"}
    assert await a.disconnect(USER, "login-a", "conn-a") is False
    assert await a.online_users([USER]) == {USER}
    assert await a.online_logins(USER) == {"login-b"}
    before = now_ms()
    assert await b.disconnect(USER, "login-b", "conn-b") is True
    after = now_ms()
    assert await a.online_users([USER]) == set()
    left = (await a.last_seen([USER]))[USER]
    assert left is not None
    assert before <= left <= after


async def test_close_withdraws_this_nodes_connections(cluster: Cluster) -> None:
    """Close: as if each of the node's connections were disconnected; users connected
    on another node stay online."""
    closing = await cluster.node("a")
    observer = await cluster.node("b") if cluster.spans_nodes else closing
    await closing.presence.connect(USER, "login-1", "conn-1")
    await closing.presence.connect(OTHER, "login-2", "conn-2")
    if observer is not closing:
        await observer.presence.connect(OTHER, "login-3", "conn-3")
    before = now_ms()
    await closing.close()
    after = now_ms()
    expected_online = {OTHER} if observer is not closing else set()
    assert await observer.presence.online_users([USER, OTHER]) == expected_online
    left = (await observer.presence.last_seen([USER]))[USER]
    assert left is not None
    assert before <= left <= after


async def test_a_crashed_nodes_connections_expire(cluster: Cluster) -> None:
    """Crash: a node killed without withdrawing stops refreshing; its users go offline
    within its TTL, with a last_seen no later than that, and a connection elsewhere
    is a first one again."""
    cluster.require_backend_process()
    survivor = (await cluster.nodes(1))[0].presence
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DOOMED_NODE,
        cluster.backend.value,
        cluster.redis_url,
        cluster.prefix,
        USER,
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert doomed.stdout is not None
        line = await asyncio.wait_for(doomed.stdout.readline(), WAIT_S)
        assert line.split() == [b"registered", b"True"]
    finally:
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
    killed_at = now_ms()

    async def offline() -> bool:
        return await survivor.online_users([USER]) == set()

    await until(offline, "the crashed node's user going offline")
    seen = (await survivor.last_seen([USER]))[USER]
    assert seen is not None
    assert seen <= killed_at
    assert await survivor.connect(USER, "login-1", "conn-1") is True


async def test_connections_are_registered_again_after_a_backend_restart(
    cluster: Cluster,
) -> None:
    """Backend outage: while Redis is away a node answers from its own connections;
    when Redis is back (empty), the node registers them again by itself and every
    node sees them."""
    redis = cluster.require_backend_process()
    holder = await cluster.node("a", ttl_s=6.0)
    other = await cluster.node("b", ttl_s=6.0)
    await holder.presence.connect(USER, "login-1", "conn-1")
    redis.kill()
    assert await holder.presence.online_users([USER, OTHER]) == {USER}
    assert await holder.presence.online_logins(USER) == {"login-1"}
    redis.start()  # same port, nothing in it

    async def seen_elsewhere() -> bool:
        return await other.presence.online_logins(USER) == {"login-1"}

    await until(seen_elsewhere, "the connection registered again")
    assert await other.presence.connect(USER, "login-2", "conn-2") is False
