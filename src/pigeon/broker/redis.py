"""Cluster broker and presence on Redis (redis-py asyncio).

Routing. Every node keeps a replicated map of which node holds which online
user's connections (``RouteTable``), built from a snapshot read at (re)subscribe
and kept current by route events that the presence scripts publish atomically
with each change. A ``Push`` is written to this node's own subscribers
in-process, and to Redis only on the channels of the other nodes holding some
recipient, each carrying just that node's recipients: O(recipients + nodes)
per message, never O(all users). ``Kick``, ``ConvPush`` and ``Membership`` go to
one broadcast channel that every node reads: O(nodes) per event, because which
connections a conversation concerns is known only to the nodes holding them.

Delivery is at most once (Redis pub/sub): an event published while Redis or a
subscriber is away is dropped, never retried late out of order. ``publish``
never blocks or raises: events wait in a bounded queue drained by one writer
task (which also keeps per-publisher order), and are dropped while Redis is
unreachable. The store stays the truth; clients converge by sync. That queue,
its writer and the events' wire form are the Redis Cluster backend's too
(``pigeon.broker.redis_relay``).

Presence. A connection is a field of the user's hash naming its node; a node is
alive while its entry in the node set has not expired (refreshed every third of
the TTL by a heartbeat). Scripts decide "first"/"last" connection atomically,
counting only connections on live nodes, so a crashed node's users go offline
within one TTL; any live node then reaps the dead node's entries. After a Redis
restart or an outage the heartbeat notices and re-registers this node's
connections, so state rebuilds itself.

Keys assume one Redis (or a Sentinel-managed primary): the scripts touch keys
they are not handed. On a Redis Cluster, ``pigeon.broker.redis_cluster`` keeps
the same model with every script inside one slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pigeon.backoff import Backoff
from pigeon.broker.redis_common import (
    REDIS_ERRORS,
    RETRY,
    ErrorObserver,
    Lookup,
    PresenceCore,
    cancel_and_wait,
    classify_redis_error,
    connect_redis,
    text,
)
from pigeon.broker.redis_lua import (
    CONNECT,
    DISCONNECT,
    HEARTBEAT,
    LOOKUP,
    REAP,
    SYNC_NODE,
    Keys,
)
from pigeon.broker.redis_relay import RedisRelay

log = logging.getLogger(__name__)


class RedisBroker(RedisRelay[Keys]):
    """The broker on one Redis: per-node inbox channels, a broadcast channel, and the
    route events of the presence scripts (see the module docstring)."""

    label = "redis"

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = "pigeon",
        queue_limit: int = 10_000,
        on_error: ErrorObserver | None = None,
    ) -> None:
        super().__init__(node_id, Keys(prefix), queue_limit=queue_limit, on_error=on_error)
        self._url = url
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        assert self._redis is not None, "broker not started"
        return self._redis

    def _connect(self) -> None:
        self._redis = connect_redis(self._url)

    async def _disconnect(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _publish_batch(self, batch: Sequence[tuple[str, bytes]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for channel, data in batch:
            pipe.publish(channel, data)
        await pipe.execute()

    async def _probe(self) -> None:
        await self.redis.ping()

    # --- the subscriber: resubscribe and rebuild the route table after any loss

    async def _subscriber(self) -> None:
        backoff = Backoff(RETRY)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await self._listen(pubsub, backoff)
            except REDIS_ERRORS as exc:
                self._on_error(classify_redis_error(exc))
                log.warning("redis subscription lost", extra={"error": repr(exc)})
            finally:
                self._subscribed.clear()
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()
            await asyncio.sleep(backoff.next_delay())

    async def _listen(self, pubsub: PubSub, backoff: Backoff) -> None:
        keys = self.keys
        channels = (keys.inbox(self.node_id), keys.broadcast, keys.routes)
        await pubsub.subscribe(*channels)
        early = await self._await_confirmations(pubsub, len(channels))
        await self._load_routes()
        self._subscribed_now(backoff)
        for message in early:
            self._on_message(message)
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if message is not None:
                self._on_message(message)

    async def _await_confirmations(self, pubsub: PubSub, count: int) -> list[dict[str, Any]]:
        """Wait until Redis confirms every subscription; keep messages that came first."""
        early: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10.0
        while count > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("redis did not confirm the subscriptions")
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            if message["type"] == "subscribe":
                count -= 1
            else:
                early.append(message)
        return early

    async def _load_routes(self) -> None:
        """Snapshot every live node's connections. Events that arrive meanwhile wait
        in the subscription and are applied after, so none is lost or reordered."""
        now_ms = await self._redis_now_ms()
        keys = self.keys
        nodes = [text(n) for n in await self.redis.zrangebyscore(keys.nodes, now_ms, "+inf")]
        pipe = self.redis.pipeline(transaction=False)
        for node in nodes:
            pipe.smembers(keys.node(node))
        members = await pipe.execute()
        self.routes.clear()
        for node, entries in zip(nodes, members, strict=True):
            for entry in entries:
                user, _, conn = text(entry).partition("\t")
                self.routes.add(user, node, conn)

    async def _redis_now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "message":
            self._on_channel_data(text(message["channel"]), message["data"])


class RedisPresence(PresenceCore):
    """Cluster-wide presence; see the module docstring for the model.

    While Redis is unreachable, answers come from this node's own connections and
    the node re-registers all of them once Redis is back.
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
        self.keys = Keys(prefix)
        self._url = url
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        assert self._redis is not None, "presence not started"
        return self._redis

    async def start(self) -> None:
        self._redis = connect_redis(self._url)
        for name, source in (
            ("connect", CONNECT),
            ("disconnect", DISCONNECT),
            ("heartbeat", HEARTBEAT),
            ("sync", SYNC_NODE),
            ("reap", REAP),
            ("lookup", LOOKUP),
        ):
            self._scripts[name] = self.redis.register_script(source)
        # A previous run under the same node id may have left connections behind.
        with contextlib.suppress(*REDIS_ERRORS):
            await self._sync_node()
        self._heartbeat = asyncio.create_task(self._beat(), name="presence-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            await cancel_and_wait(self._heartbeat)
        self._local.clear()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._run("sync", self.node_id, 0)
        if self._redis is not None:
            await self._redis.aclose()

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](args=[self.keys.prefix, *args])

    async def connect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        local_first = all(user != user_id for user, _ in self._local.values())
        self._local[connection_id] = (user_id, login_id)
        try:
            was_offline, node_unknown = await self._run(
                "connect", self.node_id, self.ttl_ms, user_id, connection_id, login_id
            )
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._resync_soon()
            return local_first
        if node_unknown and len(self._local) > 1:
            self._resync_soon()  # Redis lost us (restart, or reaped after a stall)
        return bool(was_offline)

    async def disconnect(self, user_id: str, login_id: str, connection_id: str) -> bool:
        if self._local.pop(connection_id, None) is None:
            return False
        local_last = all(user != user_id for user, _ in self._local.values())
        try:
            return bool(await self._run("disconnect", self.node_id, user_id, connection_id))
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._resync_soon()
            return local_last

    async def _lookup(self, user_ids: Sequence[str]) -> Lookup:
        """user -> (live logins, stored last_seen); this node's view if Redis is away."""
        if not user_ids:
            return {}
        try:
            rows = await self._run("lookup", self.ttl_ms, *user_ids)
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            return {
                user: ([login for u, login in self._local.values() if u == user], None)
                for user in user_ids
            }
        out: dict[str, tuple[list[str], int | None]] = {}
        for user, (logins, seen, count) in zip(user_ids, rows, strict=True):
            live = text(logins).split("\t") if int(count) else []
            out[user] = (live, int(seen) or None)
        return out

    # --- heartbeat: refresh this node, re-register after loss, reap dead nodes

    async def _beat_once(self) -> None:
        if self._needs_sync:
            await self._sync_node()
        node_unknown, dead = await self._run("heartbeat", self.node_id, self.ttl_ms)
        if node_unknown:
            await self._sync_node()
        for node in dead:
            if await self._run("reap", text(node), self.ttl_ms):
                log.info("reaped expired node", extra={"dead_node": text(node)})

    async def _sync_node(self) -> None:
        self._needs_sync = False
        entries = [f"{user}\t{conn}\t{login}" for conn, (user, login) in self._local.items()]
        try:
            await self._run("sync", self.node_id, self.ttl_ms, *entries)
        except REDIS_ERRORS as exc:
            self._on_error(classify_redis_error(exc))
            self._needs_sync = True
            raise
        log.info("presence registered", extra={"connections": len(entries)})
