"""The HTTP server: one aiohttp application on one port.

aiohttp serves the WebSocket gateway, health, metrics and the web client
natively; every other path goes to the FastAPI app through an ASGI bridge, so
REST gets FastAPI's validation and OpenAPI while the WebSocket hot path runs on
the leaner stack (docs/architecture.md has the measurements).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from fastapi import FastAPI

from pigeon.api.bridge import FastAPIResource, url_text_middleware
from pigeon.apidocs import docs_routes
from pigeon.bots.paths import loggable_path
from pigeon.files.http import STREAMED_BODY_PATHS
from pigeon.httpguard import (
    REQUEST_ID_KEY,
    WEB_CLIENT_CSP,
    BodyLimit,
    check_declared_length,
    check_transfer_coding,
    envelope_error,
    http_error_envelope,
    request_id_for,
    security_headers,
)
from pigeon.metrics import HttpArea, Metrics
from pigeon.protocol.errors import ErrorCode
from pigeon.store.engine import Database, StoreError
from pigeon.tracing import NoTracer, Tracer

log = logging.getLogger("pigeon.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_middleware(
    metrics: Metrics, max_request_bytes: int, tracer: Tracer | None = None
) -> Middleware:
    """Request id, early refusals, the request's span, its metrics and its log line."""
    trace = tracer or NoTracer()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[REQUEST_ID_KEY] = request_id = request_id_for(request)
        area = HttpArea.of(request.path)
        path = loggable_path(request.path)  # no secret of a URL in logs or traces
        started = time.perf_counter()
        status = 500
        # The log line is written inside the span, so it carries the trace id.
        with trace.span(
            f"http {request.method} {area.value}",
            {"http.method": request.method, "http.target": path},
        ):
            try:
                rejected = _reject_early(request, max_request_bytes)
                if rejected is not None:
                    status = rejected.status
                    return rejected
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                elapsed = time.perf_counter() - started
                metrics.http_requests.labels(request.method, str(status)).inc()
                if area is not HttpArea.WEBSOCKET:  # a socket's lifetime is not a latency
                    metrics.http_seconds.labels(request.method, area.value).observe(elapsed)
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": request.method,
                        "path": path,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "remote": request.remote,
                    },
                )

    return middleware


def _reject_early(request: web.Request, max_request_bytes: int) -> web.Response | None:
    """Refusals decided from the headers alone, before any handler reads the body."""
    rejected = check_transfer_coding(request)
    if (
        rejected is None
        and request.path.startswith("/api/")
        and not request.path.startswith(STREAMED_BODY_PATHS)  # limited while streamed
    ):
        rejected = check_declared_length(request, max_request_bytes)
    return rejected


def _web_root() -> Path:
    return Path(str(resources.files("pigeon") / "web"))


def static_files(root: Path) -> Handler:
    """The web client's files under ``root``; anything else (a missing name, a path
    leading out of ``root``, a directory) is the enveloped 404, not an empty body."""
    base = root.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        path = (base / request.match_info["name"]).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    return serve


def build_http_app(
    *,
    api: FastAPI,
    websocket: Handler,
    database: Database,
    metrics: Metrics,
    max_request_bytes: int,
    node_id: str = "",
    file_routes: Sequence[web.RouteDef] = (),
    ops_routes: Sequence[web.RouteDef] = (),
    tracer: Tracer | None = None,
) -> web.Application:
    """``ops_routes`` empty: /metrics (and /debug/profile) are not served on this
    port, a separate listener serves them (pigeon.metrics_http). /healthz names
    ``node_id``: behind a balancer, or with several workers on one port, it tells
    which node answered."""
    web_root = _web_root()
    app = web.Application(
        middlewares=[
            request_middleware(metrics, max_request_bytes, tracer),
            http_error_envelope,
            url_text_middleware,
        ]
    )
    app.on_response_prepare.append(security_headers(WEB_CLIENT_CSP))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(
            {"code": 0, "message": "ok", "data": {"status": "alive", "node": node_id}}
        )

    async def readyz(_: web.Request) -> web.Response:
        try:
            await database.ping()
        except StoreError as exc:
            return envelope_error(ErrorCode.UNAVAILABLE, exc.message)
        return web.json_response({"code": 0, "message": "ok", "data": {"status": "ready"}})

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(web_root / "index.html")

    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_routes(ops_routes)

    async def service_worker(_: web.Request) -> web.FileResponse:
        # At the root, so its scope is the whole client; revalidated so updates reach users.
        return web.FileResponse(web_root / "sw.js", headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    app.router.add_get("/sw.js", service_worker)
    app.router.add_get("/static/{name:.+}", static_files(web_root))
    app.router.add_routes(file_routes)
    app.router.add_routes(docs_routes())
    # Everything else (REST under /api/v1, /openapi.json) is FastAPI's.
    app.router.register_resource(
        FastAPIResource(BodyLimit(api, max_request_bytes), api.routes, root_path="/")
    )
    return app
