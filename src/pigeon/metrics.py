"""Prometheus metrics, on a registry owned by one app instance (no globals).

docs/operations.md lists every series; deploy/prometheus/alerts.yml and
deploy/grafana/pigeon.json are written against these names, and a test evaluates
each of their expressions against a real Prometheus scraping a real node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import StrEnum

from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


_LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Backend(StrEnum):
    """The external systems whose failures are counted."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    REDIS = "redis"


class BackendErrorKind(StrEnum):
    """What kind of failure: a small fixed set, so every series exists from the start
    (at 0) and dashboards and alerts see a rate, not an absent series."""

    CONNECTION = "connection"  # unreachable, connection lost or refused
    TIMEOUT = "timeout"
    CONSTRAINT = "constraint"  # the database refused a row (expected: duplicate keys)
    OTHER = "other"


class HttpArea(StrEnum):
    """Which part of the HTTP surface a request hit: a bounded label, unlike the path."""

    API = "api"
    FILES = "files"
    WEBSOCKET = "websocket"
    OPS = "ops"  # health, readiness, metrics, profiling
    WEB = "web"  # the web client and the REST reference

    @classmethod
    def of(cls, path: str) -> HttpArea:
        if path.startswith(("/api/v1/files", "/api/v1/uploads", "/api/v1/avatars")):
            return cls.FILES
        if path.startswith("/api/"):
            return cls.API
        if path == "/ws":
            return cls.WEBSOCKET
        if path in ("/healthz", "/readyz", "/metrics") or path.startswith("/debug/"):
            return cls.OPS
        return cls.WEB


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # CPU seconds, resident memory, open and maximum file descriptors of this process
        # (read from /proc; absent where there is none), and the Python version.
        ProcessCollector(registry=r)
        r.register(PLATFORM_COLLECTOR)
        self.connections = Gauge(
            "pigeon_connections", "Authenticated WebSocket connections", registry=r
        )
        self.frames_in = Counter(
            "pigeon_frames_in_total", "Client frames received", ["type"], registry=r
        )
        self.frames_out = Counter(
            "pigeon_frames_out_total", "Frames sent to clients", ["type"], registry=r
        )
        self.messages_stored = Counter(
            "pigeon_messages_stored_total", "Messages committed", registry=r
        )
        self.pushes_delivered = Counter(
            "pigeon_pushes_delivered_total", "Pushes queued to a live connection", registry=r
        )
        self.pushes_dropped = Counter(
            "pigeon_pushes_dropped_total",
            "Pushes dropped because a connection fell behind",
            registry=r,
        )
        self.errors = Counter(
            "pigeon_errors_total", "Errors returned to clients", ["code"], registry=r
        )
        self.send_to_ack = Histogram(
            "pigeon_send_to_ack_seconds",
            "From a send frame to its ack",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_commit = Histogram(
            "pigeon_store_commit_seconds",
            "Duration of one group commit",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_batch = Histogram(
            "pigeon_commit_batch_size",
            "Messages per group commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.http_requests = Counter(
            "pigeon_http_requests_total", "HTTP requests", ["method", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "pigeon_http_request_seconds",
            "From an HTTP request's headers to its response (a WebSocket: its whole life "
            "is not counted, only the upgrade)",
            ["method", "area"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.command_seconds = Histogram(
            "pigeon_command_seconds",
            "Handling of one authenticated WebSocket or TCP command, by command",
            ["command"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "pigeon_event_loop_lag_seconds",
            "How late the event loop ran a timer: time the loop was busy with other work",
            buckets=_LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.backend_errors = Counter(
            "pigeon_backend_errors_total",
            "Errors raised by the database or Redis, by backend and kind",
            ["backend", "kind"],
            registry=r,
        )

    def observe_commit(self, batch_size: int, seconds: float) -> None:
        self.commit_batch.observe(batch_size)
        self.store_commit.observe(seconds)

    def declare_backend(self, backend: Backend) -> None:
        """Create ``backend``'s error series at 0, so they exist before the first error."""
        for kind in BackendErrorKind:
            self.backend_errors.labels(backend.value, kind.value)

    def backend_error(self, backend: Backend, kind: BackendErrorKind) -> None:
        self.backend_errors.labels(backend.value, kind.value).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LoopLagProbe:
    """One task per process that sleeps ``interval_s`` and records how much later than
    asked it woke up. A loop blocked by CPU work or a synchronous call shows here
    before it shows anywhere else; the probe itself costs one timer per interval."""

    def __init__(self, histogram: Histogram, interval_s: float = 0.5) -> None:
        self._histogram = histogram
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="loop-lag-probe")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self._histogram.observe(max(0.0, loop.time() - asked))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
