"""What the single-Redis and the Redis Cluster backends share: error handling,
task cancellation and the replicated route table (see ``pigeon.broker.redis``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisClusterUnreachableError, RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from pigeon.backoff import Backoff, ReconnectPolicy
from pigeon.core.ids import now_ms
from pigeon.metrics import BackendErrorKind

log = logging.getLogger(__name__)

# The cluster client's own errors (no node reachable, a slot not covered) are not
# RedisErrors; they mean the same to callers.
REDIS_ERRORS = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)


def connect_redis(url: str) -> Redis:
    """A client that fails fast: callers decide how to retry (no hidden retry loops)."""
    return Redis.from_url(
        url,
        socket_timeout=3.0,
        socket_connect_timeout=2.0,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisMode(StrEnum):
    SINGLE = "single"  # one Redis (or a Sentinel-managed primary)
    CLUSTER = "cluster"  # Redis Cluster (or Valkey in cluster mode)


class RedisModeError(RuntimeError):
    """The server at ``redis_url`` is not what the ``redis_cluster`` setting says."""


async def require_mode(url: str, expected: RedisMode) -> None:
    """Fail at startup when the server's cluster mode contradicts the setting. An
    unreachable server cannot tell; the backends then start anyway and retry."""
    client = connect_redis(url)
    try:
        info = await client.info("cluster")
    except REDIS_ERRORS as exc:
        log.warning("redis unreachable; cluster mode not checked", extra={"error": repr(exc)})
        return
    finally:
        await client.aclose()
    actual = RedisMode.CLUSTER if int(info.get("cluster_enabled", 0)) else RedisMode.SINGLE
    if actual is expected:
        return
    if actual is RedisMode.CLUSTER:
        raise RedisModeError("redis_url points at a Redis Cluster node; set redis_cluster = true")
    raise RedisModeError(
        "redis_cluster = true but redis_url is not a cluster node (cluster_enabled:0)"
    )


ErrorObserver = Callable[[BackendErrorKind], None]


def ignore_error(_: BackendErrorKind) -> None:
    return None


def classify_redis_error(exc: BaseException) -> BackendErrorKind:
    if isinstance(exc, (RedisTimeout, asyncio.TimeoutError)):
        return BackendErrorKind.TIMEOUT
    if isinstance(exc, (RedisConnectionError, RedisClusterUnreachableError, OSError)):
        return BackendErrorKind.CONNECTION
    return BackendErrorKind.OTHER


# Between attempts to reach Redis again: short first, never long (users wait on it).
RETRY = ReconnectPolicy(initial_delay=0.1, max_delay=3.0)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended. A cancellation that arrives while
    redis-py finishes a command can be absorbed by the client (seen with redis-py 8
    when a node closes right after starting), leaving the task running; so cancel
    again until it ends."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RouteTable:
    """Which nodes hold each online user's connections (user -> node -> conns)."""

    def __init__(self) -> None:
        self._users: dict[str, dict[str, set[str]]] = {}

    def add(self, user: str, node: str, conn: str) -> None:
        self._users.setdefault(user, {}).setdefault(node, set()).add(conn)

    def remove(self, user: str, node: str, conn: str) -> None:
        nodes = self._users.get(user)
        if nodes is None or node not in nodes:
            return
        nodes[node].discard(conn)
        if not nodes[node]:
            del nodes[node]
        if not nodes:
            del self._users[user]

    def drop_node(self, node: str) -> None:
        for user in [u for u, nodes in self._users.items() if node in nodes]:
            del self._users[user][node]
            if not self._users[user]:
                del self._users[user]

    def clear(self) -> None:
        self._users.clear()

    def split(self, users: Iterable[str], skip_node: str) -> dict[str, list[str]]:
        """Recipients grouped by the (other) node holding them; offline users vanish."""
        by_node: dict[str, list[str]] = {}
        for user in users:
            for node in self._users.get(user, ()):
                if node != skip_node:
                    by_node.setdefault(node, []).append(user)
        return by_node

    def apply(self, event: str) -> None:
        """One route event from the presence scripts."""
        parts = event.split("\t")
        if parts[0] == "+" and len(parts) == 4:
            self.add(parts[1], parts[2], parts[3])
        elif parts[0] == "-" and len(parts) == 4:
            self.remove(parts[1], parts[2], parts[3])
        elif parts[0] == "x" and len(parts) == 2:
            self.drop_node(parts[1])

    def __len__(self) -> int:
        return len(self._users)


Lookup = dict[str, tuple[list[str], int | None]]  # user -> (live logins, last seen ms)


class PresenceCore(ABC):
    """What both Redis presences do whatever their key layout: the answers built on
    one lookup of users, and the heartbeat loop around a backend's ``_beat_once``
    (a failed beat marks the node for re-registration and retries with backoff)."""

    def __init__(self, node_id: str, ttl_s: float, on_error: ErrorObserver | None) -> None:
        self.node_id = node_id
        self._on_error = on_error or ignore_error
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self._local: dict[str, tuple[str, str]] = {}  # conn -> (user, login)
        self._needs_sync = True
        self._wake = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}

    @abstractmethod
    async def _lookup(self, user_ids: Sequence[str]) -> Lookup:
        """Each user's live logins and when they were last seen."""

    @abstractmethod
    async def _beat_once(self) -> None:
        """Refresh this node; re-register its connections and reap dead nodes as needed."""

    async def online_users(self, user_ids: Iterable[str]) -> set[str]:
        found = await self._lookup(list(dict.fromkeys(user_ids)))
        return {user for user, (logins, _) in found.items() if logins}

    async def online_logins(self, user_id: str) -> set[str]:
        found = await self._lookup([user_id])
        return set(found[user_id][0])

    async def last_seen(self, user_ids: Iterable[str]) -> dict[str, int | None]:
        found = await self._lookup(list(dict.fromkeys(user_ids)))
        now = now_ms()
        return {user: now if logins else seen for user, (logins, seen) in found.items()}

    async def _beat(self) -> None:
        interval = self.ttl_ms / 3000
        backoff = Backoff(
            ReconnectPolicy(initial_delay=min(0.1, interval), max_delay=min(3.0, interval))
        )
        while True:
            try:
                await self._beat_once()
                backoff.reset()
                delay = interval
            except REDIS_ERRORS as exc:
                self._on_error(classify_redis_error(exc))
                self._needs_sync = True
                log.warning("presence heartbeat failed", extra={"error": repr(exc)})
                delay = backoff.next_delay()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _resync_soon(self) -> None:
        self._needs_sync = True
        self._wake.set()
