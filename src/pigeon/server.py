"""The HTTP server: one aiohttp application on one port.

aiohttp serves the WebSocket gateway, health, metrics and the web client
natively; every other path goes to the FastAPI app through an ASGI bridge, so
REST gets FastAPI's validation and OpenAPI while the WebSocket hot path runs on
the leaner stack (docs/architecture.md has the measurements).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_asgi import ASGIResource
from fastapi import FastAPI

from pigeon.files.http import STREAMED_BODY_PATHS
from pigeon.metrics import Metrics
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.store.engine import Database, StoreError

log = logging.getLogger("pigeon.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _envelope_error(code: ErrorCode, message: str | None = None) -> web.Response:
    error = PigeonError(code, message)
    return web.json_response(
        {"code": int(code), "message": error.message, "data": None}, status=code.http_status
    )


def request_middleware(metrics: Metrics, max_request_bytes: int) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
        started = time.perf_counter()
        if (
            request.method in _BODY_METHODS
            and request.path.startswith("/api/")
            and not request.path.startswith(STREAMED_BODY_PATHS)  # limited while streamed
        ):
            rejected = _check_body_size(request, max_request_bytes)
            if rejected is not None:
                rejected.headers["X-Request-Id"] = request_id
                return rejected
        status = 500
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers["X-Request-Id"] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.http_requests.labels(request.method, str(status)).inc()
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "remote": request.remote,
                },
            )

    return middleware


def _check_body_size(request: web.Request, limit: int) -> web.Response | None:
    if request.content_length is None:
        if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _envelope_error(ErrorCode.BAD_REQUEST, "Content-Length is required")
        return None
    if request.content_length > limit:
        return _envelope_error(ErrorCode.TOO_LARGE, f"request body is larger than {limit} bytes")
    return None


def _web_root() -> Path:
    return Path(str(resources.files("pigeon") / "web"))


def build_http_app(
    *,
    api: FastAPI,
    websocket: Handler,
    database: Database,
    metrics: Metrics,
    max_request_bytes: int,
    file_routes: Sequence[web.RouteDef] = (),
    metrics_endpoint: Handler | None = None,
) -> web.Application:
    """``metrics_endpoint`` None: /metrics is not served on this port (pigeon.metrics_http)."""
    app = web.Application(middlewares=[request_middleware(metrics, max_request_bytes)])

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"code": 0, "message": "ok", "data": {"status": "alive"}})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await database.ping()
        except StoreError as exc:
            return _envelope_error(ErrorCode.UNAVAILABLE, exc.message)
        return web.json_response({"code": 0, "message": "ok", "data": {"status": "ready"}})

    web_root = _web_root()

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(web_root / "index.html")

    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics_endpoint is not None:
        app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/", index)
    app.router.add_static("/static/", web_root, follow_symlinks=False)
    app.router.add_routes(file_routes)
    # Everything else (REST under /api/v1, /docs, /openapi.json) is FastAPI's.
    app.router.register_resource(ASGIResource(api, root_path="/"))
    return app
