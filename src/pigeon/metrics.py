"""Prometheus metrics, on a registry owned by one app instance (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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

    def observe_commit(self, batch_size: int, seconds: float) -> None:
        self.commit_batch.observe(batch_size)
        self.store_commit.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
