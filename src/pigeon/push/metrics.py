"""Prometheus series of offline push, on the app's registry (docs/push.md, "Operating")."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from pigeon.push.base import Result
from pigeon.push.store import Job


class PushMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.planned = Counter(
            "pigeon_notifications_planned_total",
            "Notification rows created or collapsed into by planning",
            registry=registry,
        )
        self.attempts = Counter(
            "pigeon_notification_attempts_total",
            "Delivery attempts by provider and outcome",
            ["provider", "outcome"],
            registry=registry,
        )

    def attempted(self, provider: str, job: Job, result: Result) -> None:
        del job  # the signature of the dispatcher's observer
        self.attempts.labels(provider, result.outcome.value).inc()
