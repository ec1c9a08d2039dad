"""Tracing on: a node exports OTLP/HTTP to a receiver run here, spans go from the REST
request or WebSocket command through commit and publish, and logs carry the trace id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from harness import ServerProcess

from .wsclient import WAIT_S, Rest, connect, direct, register, send_rest

pytest.importorskip(
    "opentelemetry.proto", reason="needs the tracing extra (pip install -e '.[dev]')"
)

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    links: tuple[str, ...]  # span ids


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Span]]]:
    """A minimal OTLP/HTTP trace receiver on 127.0.0.1: its URL and what it received."""
    spans: list[Span] = []

    async def export(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource in message.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    spans.append(
                        Span(
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            tuple(link.span_id.hex() for link in span.links),
                        )
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/v1/traces", spans
    await runner.cleanup()


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_S}s"
        await asyncio.sleep(0.1)


def _chain(spans: list[Span], root: Span) -> dict[str, Span]:
    """The spans of ``root``'s trace that descend from it, by name."""
    by_id = {s.span_id: s for s in spans}
    found = {}
    for span in spans:
        node = span
        for _ in range(50):
            if node.parent_id == root.span_id:
                found[span.name] = span
                break
            parent = by_id.get(node.parent_id)
            if parent is None:
                break
            node = parent
    return found


async def test_a_send_is_traced_from_request_through_commit_and_publish(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    receiver: tuple[str, list[Span]],
) -> None:
    url, spans = receiver
    server = server_factory(env={"PIGEON_TRACING_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100"})
    rest = Rest(http, server)
    alice, bob = await register(rest, "tr"), await register(rest, "tr")
    conv = await direct(rest, alice, bob)
    await send_rest(rest, alice, conv, "over rest", "cid-traced-rest")
    client, _ = await connect(http, server, alice)
    try:
        await client.send_text(conv, "over the socket")
    finally:
        await client.close()

    def traced_send(name: str) -> Span | None:
        """A root span of that name with a commit.wait and a publish under it."""
        for span in spans:
            if span.name == name and {"commit.wait", "publish"} <= set(_chain(spans, span)):
                return span
        return None

    for name in ("http POST api", "ws send"):
        await _until(lambda name=name: traced_send(name) is not None, f"a traced {name!r}")
        top = traced_send(name)
        assert top is not None
        wait = _chain(spans, top)["commit.wait"]
        await _until(
            lambda wait=wait: any(s.name == "commit" and wait.span_id in s.links for s in spans),
            f"a commit span linked to the commit.wait of {name!r}",
        )

    rest_root = traced_send("http POST api")
    assert rest_root is not None
    logged = [
        e
        for e in server.events()
        if e.get("event") == "request" and e.get("trace_id") == rest_root.trace_id
    ]
    assert logged, "the request's log line names its trace"
    assert logged[0]["method"] == "POST"
