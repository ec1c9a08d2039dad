"""What both Redis brokers (one Redis, a Redis Cluster) do the same way: the events'
wire form, delivery to this node's subscribers, and the outgoing queue with its one
writer task.

``RedisRelay`` keeps the Broker guarantees that do not depend on how Redis is
reached (src/pigeon/broker/base.py): ``publish`` hands the event to this node's
subscribers first and never blocks or raises; events for other nodes wait in a
bounded queue that one task drains in order (per-publisher order); what cannot be
handed to Redis is dropped and counted, never sent late. A backend supplies how a
batch is published, how reachability is probed, and its subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import orjson

from pigeon.backoff import Backoff
from pigeon.broker.base import ConvPush, Event, Handler, Kick, Membership, Push, Resubscribed
from pigeon.broker.redis_common import (
    REDIS_ERRORS,
    RETRY,
    ErrorObserver,
    RouteTable,
    cancel_and_wait,
    classify_redis_error,
    ignore_error,
    text,
)

log = logging.getLogger(__name__)

_BATCH = 256  # events per pipeline at most


def encode_event(origin: str, event: Event, users: Sequence[str] | None = None) -> bytes:
    if isinstance(event, Push):
        recipients = list(event.users if users is None else users)
        return orjson.dumps(
            {"o": origin, "p": recipients, "f": event.frame, "s": event.skip_connection}
        )
    if isinstance(event, ConvPush):
        return orjson.dumps(
            {
                "o": origin,
                "c": event.conv_id,
                "f": event.frame,
                "s": event.skip_connection,
                "su": event.skip_user,
            }
        )
    if isinstance(event, Membership):
        return orjson.dumps(
            {"o": origin, "m": event.conv_id, "u": event.user_id, "j": event.joined}
        )
    assert isinstance(event, Kick), "a Resubscribed event never leaves its node"
    return orjson.dumps(
        {"o": origin, "k": event.code, "l": list(event.login_ids), "u": event.user_id}
    )


def decode_event(data: bytes) -> tuple[str, Event]:
    raw = orjson.loads(data)
    if "p" in raw:
        return raw["o"], Push(tuple(raw["p"]), raw["f"], raw["s"])
    if "c" in raw:
        return raw["o"], ConvPush(raw["c"], raw["f"], raw["s"], raw["su"])
    if "m" in raw:
        return raw["o"], Membership(raw["u"], raw["m"], bool(raw["j"]))
    return raw["o"], Kick(int(raw["k"]), tuple(raw["l"]), raw["u"])


class RelayKeys(Protocol):
    """The channels a relay needs, whatever the backend's key layout."""

    @property
    def routes(self) -> str: ...

    @property
    def broadcast(self) -> str: ...

    def inbox(self, node_id: str) -> str: ...


KeysT = TypeVar("KeysT", bound=RelayKeys)


class RedisRelay(ABC, Generic[KeysT]):
    """The backend-independent half of a Redis broker (see the module docstring)."""

    #: Names this backend in task names and log lines.
    label = "redis"

    def __init__(
        self,
        node_id: str,
        keys: KeysT,
        *,
        queue_limit: int = 10_000,
        on_error: ErrorObserver | None = None,
    ) -> None:
        self.node_id = node_id
        self.keys = keys
        self._on_error = on_error or ignore_error
        self.routes = RouteTable()
        self.dropped = 0  # events not handed to Redis (queue full or Redis away)
        self._handlers: list[Handler] = []
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(queue_limit)
        self._healthy = False
        self._subscribed = asyncio.Event()
        self._lost_subscription = False
        self._tasks: list[asyncio.Task[None]] = []

    # --- what a backend supplies

    @abstractmethod
    def _connect(self) -> None:
        """Create the client (no I/O yet)."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Close the client, if created."""

    @abstractmethod
    async def _publish_batch(self, batch: Sequence[tuple[str, bytes]]) -> None:
        """Publish ``(channel, data)`` pairs in order; raise a Redis error on failure."""

    @abstractmethod
    async def _probe(self) -> None:
        """Raise a Redis error unless publishing would work now."""

    @abstractmethod
    async def _subscriber(self) -> None:
        """Subscribe, call ``_subscribed_now`` once subscribed and the routes loaded,
        then feed ``_on_event_data``/``routes`` forever, resubscribing after a loss."""

    # --- the Broker port

    async def start(self, ready_timeout: float = 10.0) -> None:
        """Connect and subscribe; waits (bounded) for the first route snapshot."""
        self._connect()
        self._healthy = True
        self._tasks = [
            asyncio.create_task(self._subscriber(), name=f"{self.label}-subscriber"),
            asyncio.create_task(self._writer(), name=f"{self.label}-writer"),
        ]
        try:
            await asyncio.wait_for(self._subscribed.wait(), ready_timeout)
        except TimeoutError:
            log.warning(
                "broker not subscribed yet; continuing and retrying", extra={"backend": self.label}
            )

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):  # let queued events out, briefly
            await asyncio.wait_for(self._outbox.join(), 1.0)
        for task in self._tasks:
            await cancel_and_wait(task)
        self._handlers.clear()
        await self._disconnect()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    @property
    def connected(self) -> bool:
        return self._healthy and self._subscribed.is_set()

    async def publish(self, event: Event) -> None:
        self._deliver(event)  # this node's own connections need no round trip
        if isinstance(event, Resubscribed):
            return  # about this node only
        if isinstance(event, Push):
            for node, users in self.routes.split(event.users, self.node_id).items():
                self._enqueue(self.keys.inbox(node), encode_event(self.node_id, event, users))
        else:  # every other event is for every node
            self._enqueue(self.keys.broadcast, encode_event(self.node_id, event))

    # --- delivery on this node

    def _deliver(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:  # one bad subscriber must not starve the others
                log.exception("broker subscriber failed")

    def _subscribed_now(self, backoff: Backoff) -> None:
        """Subscribed and the routes loaded: publishing may count on them again."""
        self._subscribed.set()
        if self._lost_subscription:  # membership events may have been lost meanwhile
            self._deliver(Resubscribed())
        self._lost_subscription = True  # from now on, subscribing again means a loss
        backoff.reset()
        log.info("broker subscribed", extra={"backend": self.label, "routes": len(self.routes)})

    def _on_channel_data(self, channel: str, data: bytes) -> None:
        """One message read from a subscribed channel."""
        if channel == self.keys.routes:
            self.routes.apply(text(data))
            return
        if not data:
            return  # a reachability probe
        try:
            origin, event = decode_event(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("undecodable broker event", extra={"channel": channel})
            return
        if origin != self.node_id:  # our own were delivered in-process
            self._deliver(event)

    # --- the writer: one task, one pipeline per batch, order kept

    def _enqueue(self, channel: str, data: bytes) -> None:
        if not self._healthy:
            self._drop(1)
            return
        try:
            self._outbox.put_nowait((channel, data))
        except asyncio.QueueFull:
            self._drop(1)

    def _drop(self, count: int) -> None:
        self.dropped += count
        if self.dropped % 1000 < count:  # roughly once per thousand drops
            log.warning(
                "broker dropping events", extra={"backend": self.label, "dropped": self.dropped}
            )

    async def _writer(self) -> None:
        backoff = Backoff(RETRY)
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < _BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self._publish_batch(batch)
                backoff.reset()
            except REDIS_ERRORS as exc:
                self._on_error(classify_redis_error(exc))
                self._drop(len(batch))
                await self._recover(backoff, exc)
            finally:
                for _ in batch:
                    self._outbox.task_done()

    async def _recover(self, backoff: Backoff, exc: BaseException) -> None:
        """Drop what waits, then probe until Redis answers; publish drops meanwhile."""
        self._healthy = False
        log.warning("unreachable for publishing", extra={"backend": self.label, "error": repr(exc)})
        while not self._outbox.empty():
            self._outbox.get_nowait()
            self._outbox.task_done()
            self._drop(1)
        for _ in range(1_000_000):
            await asyncio.sleep(backoff.next_delay())
            try:
                await self._probe()
                break
            except REDIS_ERRORS as exc:
                self._on_error(classify_redis_error(exc))
        self._healthy = True
        log.info("reachable again for publishing", extra={"backend": self.label})
