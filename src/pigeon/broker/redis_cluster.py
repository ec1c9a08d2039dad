"""Broker and presence on a Redis Cluster (or Valkey in cluster mode), redis-py asyncio.

The model is the single-Redis one (``pigeon.broker.redis``): a replicated route
table, per-node inboxes, presence hashes per user, a node set with expiries. What
changes so that it runs on a cluster:

Slots. Every key is hash-tagged (``pigeon.broker.redis_cluster_lua``) and each
script touches one slot: the user's. A per-user script cannot read the node set,
so each node keeps a view of every node's expiry (read with each heartbeat, and
again before a connect, disconnect or lookup when older than ``VIEW_MAX_AGE_S``)
and hands it to the script, which drops connections of dead nodes and decides
first/last atomically within the user's slot. So a crashed node's users go
offline within its TTL plus at most that age, and expiries written by one
primary's clock are compared with another's: the primaries' clocks must agree to
well within the TTL (NTP does).

Sharded pub/sub. Events travel with ``SPUBLISH``: a push goes to the inboxes of
the nodes holding its recipients (each node's inbox is a channel in a slot of
its own, so push traffic spreads over the shards); node-wide events (``Kick``)
and route events share the channels of the ``{prefix}`` slot. A node reads them
with ``SSUBSCRIBE`` on a plain connection to the primary owning each slot
(found from the cluster's slot map); a slot that moves, a failover or a lost
connection makes it subscribe again and reload the routes. Per-publisher order
therefore holds per channel: pushes among themselves, node-wide events among
themselves, but a push and a kick published one after the other may swap.

Restarts. A primary that restarts empty loses the users' hashes it held while
the node set, on another shard, still lists them; so each heartbeat also reads
the primaries' run ids, and a change makes the node register all its
connections again and announce every route (route snapshots taken while it was
missing from the node set left it out). The ids are read at start and first in
each beat, before any write: a restart after a registration then always shows as
a change (a command that failed on the dead connection is retried by the client
on a fresh one, so the restart need not surface as an error).

Route events. A script cannot publish to another slot's channel, so the node
publishes each route event after its script has run (and after updating its node
set, which the route snapshot reads). Until then other nodes do not route to the
new connection: a push published in that moment misses it, as it would on one
Redis a moment earlier. A node that dies between the two never announces it, and
its connections expire with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MovedError

from pigeon.backoff import Backoff
from pigeon.broker.redis_cluster_lua import (
    CONNECT,
    DISCONNECT,
    FORGET,
    NODES,
    PURGE,
    ClusterKeys,
    NodeView,
)
from pigeon.broker.redis_common import (
    REDIS_ERRORS,
    RETRY,
    ErrorObserver,
    Lookup,
    PresenceCore,
    cancel_and_wait,
    classify_redis_error,
    text,
)
from pigeon.broker.redis_relay import RedisRelay

log = logging.getLogger(__name__)

# How stale the view of live nodes may be when a per-user script is handed it.
VIEW_MAX_AGE_S = 1.0
# Re-registering connections after a loss: this many scripts in flight at once.
SYNC_CONCURRENCY = 64
# MOVED replies followed when subscribing before starting over from the slot map.
MAX_REDIRECTS = 3


def connect_cluster(url: str) -> RedisCluster:
    """A cluster client that fails fast, following MOVED once (no hidden retry loops)."""
    return RedisCluster.from_url(
        url,
        socket_timeout=3.0,
        socket_connect_timeout=2.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )


def _node_client(url: str, host: str, port: int) -> Redis:
    """A plain client of one cluster node, with the URL's credentials and TLS."""
    template = ConnectionPool.from_url(url)
    options = {**template.connection_kwargs, "host": host, "port": port, "socket_timeout": 10.0}
    pool = ConnectionPool(connection_class=template.connection_class, **options)
    return Redis(connection_pool=pool)


class RedisClusterBroker(RedisRelay[ClusterKeys]):
    """The broker on a Redis Cluster: sharded channels, each read at the primary
    owning its slot (see the module docstring)."""

    label = "redis-cluster"

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = "pigeon",
        queue_limit: int = 10_000,
        on_error: ErrorObserver | None = None,
    ) -> None:
        super().__init__(node_id, ClusterKeys(prefix), queue_limit=queue_limit, on_error=on_error)
        self._url = url
        self._cluster: RedisCluster | None = None

    @property
    def cluster(self) -> RedisCluster:
        assert self._cluster is not None, "broker not started"
        return self._cluster

    def _connect(self) -> None:
        self._cluster = connect_cluster(self._url)

    async def _disconnect(self) -> None:
        if self._cluster is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._cluster.aclose()

    async def _publish_batch(self, batch: Sequence[tuple[str, bytes]]) -> None:
        pipe = self.cluster.pipeline(transaction=False)  # split by shard, order kept
        for channel, data in batch:
            pipe.spublish(channel, data)
        await pipe.execute()

    async def _probe(self) -> None:
        await self.cluster.spublish(self.keys.broadcast, b"")  # the slot's owner answers

    # --- the subscriber: one connection per slot read, all renewed after any loss

    async def _subscriber(self) -> None:
        backoff = Backoff(RETRY)
        while True:
            opened: list[tuple[Redis, PubSub]] = []
            try:
                await self._listen(opened, backoff)
            except REDIS_ERRORS as exc:
                self._on_error(classify_redis_error(exc))
                log.warning("redis cluster subscription lost", extra={"error": repr(exc)})
            finally:
                self._subscribed.clear()
                for client, pubsub in opened:
                    with contextlib.suppress(*REDIS_ERRORS):
                        await pubsub.aclose()
                        await client.aclose()
            await asyncio.sleep(backoff.next_delay())

    async def _listen(self, opened: list[tuple[Redis, PubSub]], backoff: Backoff) -> None:
        await self.cluster.initialize()
        groups = [(self.keys.broadcast, self.keys.routes), (self.keys.inbox(self.node_id),)]
        early: list[dict[str, Any]] = []
        for channels in groups:
            early += await self._subscribe_at_owner(channels, opened)
        await self._load_routes()
        self._subscribed_now(backoff)
        for message in early:
            self._on_message(message)
        readers = [asyncio.create_task(self._read(pubsub)) for _, pubsub in opened]
        failure: BaseException | None = None
        try:
            await asyncio.wait(readers, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in readers:
                if not task.done():
                    task.cancel()
                with contextlib.suppress(*REDIS_ERRORS, asyncio.CancelledError):
                    await cancel_and_wait(task)
                if task.done() and not task.cancelled() and failure is None:
                    failure = task.exception()
        if failure is not None:
            raise failure

    async def _subscribe_at_owner(
        self, channels: Sequence[str], opened: list[tuple[Redis, PubSub]]
    ) -> list[dict[str, Any]]:
        """``SSUBSCRIBE`` at the primary owning the channels' slot: the one the slot
        map names, or the one a MOVED reply names (the map may lag a resharding or a
        failover). Returns the messages that came before the confirmations."""
        owner = self.cluster.get_node_from_key(channels[0])
        if owner is None:
            raise RedisConnectionError(f"no primary owns the slot of {channels[0]}")
        host, port = owner.host, int(owner.port)
        for _ in range(MAX_REDIRECTS):
            client = _node_client(self._url, host, port)
            pubsub = client.pubsub()
            opened.append((client, pubsub))
            try:
                await pubsub.ssubscribe(*channels)
                return await _confirmations(pubsub, len(channels))
            except MovedError as moved:
                host, port = moved.host, moved.port
        raise RedisConnectionError(f"the slot of {channels[0]} keeps moving")

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                continue
            if message["type"] == "sunsubscribe":  # the server's: the slot moved away
                raise RedisConnectionError("sharded subscription ended by the server")
            self._on_message(message)

    async def _load_routes(self) -> None:
        """Snapshot every live node's connections. Events that arrive meanwhile wait
        in the subscriptions and are applied after, so none is lost or reordered."""
        _, redis_now, zset = await self.cluster.eval(NODES, 1, self.keys.nodes, "", "")
        view = NodeView(self.node_id)
        view.update(int(redis_now), zset)
        nodes = [node for node in view.expiries if view.alive(node, int(redis_now))]
        pipe = self.cluster.pipeline(transaction=False)
        for node in nodes:
            pipe.smembers(self.keys.node(node))
        members = await pipe.execute() if nodes else []
        self.routes.clear()
        for node, entries in zip(nodes, members, strict=True):
            for entry in entries:
                user, _, conn = text(entry).partition("\t")
                self.routes.add(user, node, conn)

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "smessage":
            self._on_channel_data(text(message["channel"]), message["data"])


async def _confirmations(pubsub: PubSub, count: int) -> list[dict[str, Any]]:
    """Wait until the node confirms every subscription; keep messages that came first."""
    early: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10.0
    while count > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("redis did not confirm the subscriptions")
        message = await pubsub.get_message(timeout=1.0)
        if message is None:
            continue
        if message["type"] == "ssubscribe":
            count -= 1
        else:
            early.append(message)
    return early


class RedisClusterPresence(PresenceCore):
    """Cluster-wide presence on a Redis Cluster; see the module docstring.

    While Redis is unreachable, answers come from this node's own connections and
    the node registers all of them again once it is back.
    """

    def __init__(
        self,
        url: str,
        node_id: str,
        ttl_s: float,
        *,
        prefix: str = "pigeon",
        on_error: ErrorObserver | None = None,
    ) -> None:
        super().__init__(node_id, ttl_s, on_error)
        self.keys = ClusterKeys(prefix)
        self._url = url
        self._cluster: RedisCluster | None = None
        self._view = NodeView(node_id)
        self._shards: frozenset[str] = frozenset()  # run ids of the primaries

    @property
    def cluster(self) -> RedisCluster:
        assert self._cluster is not None, "presence not started"
        return self._cluster

    async def start(self) -> None:
        self._cluster = connect_cluster(self._url)
        for name, source in (
            ("connect", CONNECT),
            ("disconnect", DISCONNECT),
            ("purge", PURGE),
            ("nodes", NODES),
            ("forget", FORGET),
        ):
            self._scripts[name] = self.cluster.register_script(source)
        with contextlib.suppress(*REDIS_ERRORS):
            # The primaries' run ids first: a restart after this moment (and so after
            # any connection registered from now on) shows as a change at a later beat.
            await self._shards_restarted()
            # A previous run under the same node id may have left connections behind.
            await self._sync_node()
        self._heartbeat = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            await cancel_and_wait(self._heartbeat)
        self._local.clear()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._sync_node(withdraw=True)
        if self._cluster is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._cluster.aclose()

    # --- the per-user scripts, with the view of live nodes

    async def _user_script(self, script: str, user: str, *args: str | int) -> Any:
        if self._view.age_s > VIEW_MAX_AGE_S:
            await self._read_nodes(beat=False)
        keys = [self.keys.user_conns(user), self.keys.user_seen(user)]
        argv = [*self._view.script_args(), self.ttl_ms, *args]
        return await self._scripts[script](keys=keys, args=argv)

    async def _read_nodes(self, *, beat: bool) -> bool:
        """Refresh the view (and this node's expiry if ``beat``); True if this node
        was unknown to the node set (Redis lost it, or it was reaped after a stall)."""
        args = [self.node_id, self.ttl_ms if beat else ""]
        fresh, redis_now, zset = await self._scripts["nodes"](keys=[self.keys.nodes], args=args)
        self._view.update(int(redis_now), zset)
        return bool(fresh)

    async def _announce(self, sign: str, user: str, conn: str) -> None:
        """Keep the node set and the route tables in step with a change just made."""
        member = f"{user}\t{conn}"
        pipe = self.cluster.pipeline(transaction=False)
        if sign == "+":
            pipe.sadd(self.keys.node(self.node_id), member)
        else:
            pipe.srem(self.keys.node(self.node_id), member)
        pipe.spublish(self.keys.routes, f"{sign}\t{user}\t{self.node_id}\t{conn}")
        await pipe.execute()

    async def connect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        local_first = all(user != user_id for user, _ in self._local.values())
        self._local[connection_id] = (user_id, login_id)
        try:
            was_offline = await self._user_script(
                "connect", user_id, self.node_id, connection_id, login_id
            )
            await self._announce("+", user_id, connection_id)
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._resync_soon()
            return local_first
        return bool(was_offline)

    async def disconnect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        if self._local.pop(connection_id, None) is None:
            return False
        local_last = all(user != user_id for user, _ in self._local.values())
        try:
            removed, last = await self._user_script("disconnect", user_id, connection_id)
            if removed:
                await self._announce("-", user_id, connection_id)
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._resync_soon()
            return local_last
        return bool(last)

    # --- reads: no script, a pipeline of the users' hashes judged with the view

    async def _lookup(self, user_ids: Sequence[str]) -> Lookup:
        """user -> (live logins, stored last_seen); this node's view if Redis is away."""
        if not user_ids:
            return {}
        try:
            if self._view.age_s > VIEW_MAX_AGE_S:
                await self._read_nodes(beat=False)
            pipe = self.cluster.pipeline(transaction=False)
            for user in user_ids:
                pipe.hvals(self.keys.user_conns(user))
                pipe.get(self.keys.user_seen(user))
            rows = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            return {
                user: ([login for u, login in self._local.values() if u == user], None)
                for user in user_ids
            }
        at = self._view.estimated_now()
        out: dict[str, tuple[list[str], int | None]] = {}
        for index, user in enumerate(user_ids):
            values, seen = rows[2 * index], int(rows[2 * index + 1] or 0)
            live: list[str] = []
            for value in values:
                node, _, login = text(value).partition("\t")
                expiry = self._view.expiries.get(node)
                if self._view.alive(node, at):
                    live.append(login)
                elif expiry:  # dead but not yet reaped: when it was last alive
                    seen = max(seen, expiry - self.ttl_ms)
            out[user] = (live, seen or None)
        return out

    # --- heartbeat: refresh this node, re-register after loss, reap dead nodes

    async def _beat_once(self) -> None:
        # The run ids before anything is written: a primary restarting after this read
        # is seen at the next beat, so no registration made meanwhile goes unrepaired.
        if await self._shards_restarted() or self._needs_sync:
            await self._sync_node()
        if await self._read_nodes(beat=True):
            await self._sync_node()
        for node in self._view.dead():
            await self._reap(node)

    async def _shards_restarted(self) -> bool:
        """Whether a primary restarted (or another took over) since the last read: the
        users' hashes it held may be gone while the node set, elsewhere, says nothing.
        A failed command to a restarted primary is retried by the client on a fresh
        connection, so the restart may surface only here, never as an error."""
        found = await self.cluster.execute_command(
            "INFO", "server", target_nodes=RedisCluster.PRIMARIES
        )
        run_ids = frozenset(str(info.get("run_id")) for info in found.values())
        changed = bool(self._shards) and run_ids != self._shards
        self._shards = run_ids
        return changed

    async def _reap(self, node: str) -> None:
        """Withdraw a dead node's connections user by user (each in its slot), then
        forget the node; a reaper that fails midway leaves it for the next beat."""
        members = [text(m) for m in await self.cluster.smembers(self.keys.node(node))]
        for member in members:
            await self._user_script("purge", member.partition("\t")[0])
        await self.cluster.delete(self.keys.node(node))
        if await self._scripts["forget"](keys=[self.keys.nodes], args=[node]):
            await self.cluster.spublish(self.keys.routes, f"x\t{node}")
            log.info("reaped expired node", extra={"dead_node": node})

    async def _sync_node(self, *, withdraw: bool = False) -> None:
        """Make this node's registered connections exactly its own (none if
        ``withdraw``), user by user; then announce them."""
        self._needs_sync = False
        try:
            await self._sync_entries(withdraw)
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._needs_sync = True
            raise
        log.info("presence registered", extra={"connections": len(self._local)})

    async def _sync_entries(self, withdraw: bool) -> None:
        if not withdraw:
            await self._read_nodes(beat=True)
        node_set = self.keys.node(self.node_id)
        registered = {text(m) for m in await self.cluster.smembers(node_set)}
        wanted = {
            f"{user}\t{conn}": (user, conn, login) for conn, (user, login) in self._local.items()
        }
        stale = [m.split("\t", 1) for m in registered if m not in wanted]
        calls: list[tuple[str, str, tuple[str, ...]]] = [
            ("disconnect", user, (conn,)) for user, conn in stale
        ]
        calls += [
            ("connect", user, (self.node_id, conn, login)) for user, conn, login in wanted.values()
        ]
        for start in range(0, len(calls), SYNC_CONCURRENCY):
            chunk = calls[start : start + SYNC_CONCURRENCY]
            await asyncio.gather(
                *(self._user_script(name, user, *args) for name, user, args in chunk)
            )
        for user, conn in stale:
            await self._announce("-", user, conn)
        # Every one, not only the new: the node set may have outlived a restart of the
        # shard holding ``{prefix}:nodes``, and route snapshots taken before this node
        # was back in it left its connections out.
        for user, conn, _ in wanted.values():
            await self._announce("+", user, conn)
        if withdraw:
            await self.cluster.zrem(self.keys.nodes, self.node_id)
            await self.cluster.spublish(self.keys.routes, f"x\t{self.node_id}")
