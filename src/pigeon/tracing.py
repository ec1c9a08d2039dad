"""OpenTelemetry tracing, off unless ``tracing_endpoint`` is set.

The rest of the package sees only ``Tracer``: ``span()`` around a unit of work,
``link()`` to remember the current span for work done later in another task (the
group commit), ``ids()`` for the log lines. ``NoTracer`` makes all of them free, and
the OpenTelemetry packages (the ``tracing`` extra) are imported only when tracing is
on, so a node that does not trace neither needs nor loads them.

What one send looks like with tracing on (docs/operations.md, Tracing):

* ``http <METHOD> <area>`` — a REST request (server middleware), or
  ``ws <command>`` — one WebSocket/TCP command (the gateway runner);
* ``commit.wait`` — its child, from handing the message to the group committer
  until the batch holding it is committed;
* ``commit`` — the batch's own span, in the committer's task, *linked* to the
  ``commit.wait`` span of every message in the batch (one commit serves many
  traces, so it cannot be a child of each);
* ``publish`` — the child that hands the stored message to the broker.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from pigeon.broker.base import Broker, Event, Handler

log = logging.getLogger(__name__)

Attributes = Mapping[str, str | int | float | bool]


class TracingUnavailable(RuntimeError):
    """Tracing was asked for but the OpenTelemetry packages are not installed."""


class Tracer(Protocol):
    def span(
        self, name: str, attributes: Attributes | None = None, links: Sequence[object] = ()
    ) -> contextlib.AbstractContextManager[None]:
        """A span around the ``with`` block, child of the current one (if any)."""
        ...

    def link(self) -> object | None:
        """A handle on the current span for ``span(links=...)``; None when not tracing."""
        ...

    def ids(self) -> tuple[str, str] | None:
        """(trace id, span id) in hex of the current span, None outside any span."""
        ...

    def shutdown(self) -> None:
        """Export what is buffered, then stop (blocking; call at exit)."""
        ...


class NoTracer:
    """Tracing off: nothing is recorded and nothing is imported."""

    def span(
        self, name: str, attributes: Attributes | None = None, links: Sequence[object] = ()
    ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def link(self) -> object | None:
        return None

    def ids(self) -> tuple[str, str] | None:
        return None

    def shutdown(self) -> None:
        return None


class OtelTracer:
    """Spans through the OpenTelemetry SDK, exported in batches over OTLP/HTTP.

    The provider is this object's own, not the process-global one, so two nodes in a
    process (tests) or a library that sets the global provider do not mix spans.
    """

    def __init__(self, endpoint: str, service_name: str, node_id: str, ratio: float) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
            from opentelemetry.trace import Link, SpanContext, get_current_span
        except ImportError as exc:
            raise TracingUnavailable(
                "tracing_endpoint is set but OpenTelemetry is not installed: "
                "pip install 'pigeon-im[tracing]'"
            ) from exc
        resource = Resource.create({"service.name": service_name, "service.instance.id": node_id})
        self._provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(ratio))
        )
        # Batches leave from the processor's own thread: exporting never blocks the loop.
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self._tracer = self._provider.get_tracer("pigeon")
        self._link, self._context_type, self._current = Link, SpanContext, get_current_span

    @contextlib.contextmanager
    def span(
        self, name: str, attributes: Attributes | None = None, links: Sequence[object] = ()
    ) -> Iterator[None]:
        span_links = [self._link(c) for c in links if isinstance(c, self._context_type)]
        with self._tracer.start_as_current_span(
            name, attributes=dict(attributes or {}), links=span_links
        ):
            yield

    def link(self) -> object | None:
        context = self._current().get_span_context()
        return context if context.is_valid else None

    def ids(self) -> tuple[str, str] | None:
        context = self._current().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"

    def shutdown(self) -> None:
        self._provider.shutdown()


def build_tracer(
    endpoint: str | None, node_id: str, ratio: float, service_name: str = "pigeon"
) -> Tracer:
    """``NoTracer`` without an endpoint; raises ``TracingUnavailable`` if one is set but
    the packages are missing (a configuration mistake, reported at start)."""
    if not endpoint:
        return NoTracer()
    tracer = OtelTracer(endpoint, service_name, node_id, ratio)
    log.info("tracing on", extra={"endpoint": endpoint, "sample_ratio": ratio})
    return tracer


class TracedBroker:
    """A ``Broker`` whose ``publish`` is a span (the hand-off to other nodes and to this
    node's sockets); everything else passes straight through."""

    def __init__(self, inner: Broker, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    def subscribe(self, handler: Handler) -> None:
        self._inner.subscribe(handler)

    async def publish(self, event: Event) -> None:
        with self._tracer.span("publish", {"pigeon.event": type(event).__name__.lower()}):
            await self._inner.publish(event)
