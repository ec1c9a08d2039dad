"""``/metrics`` and ``/debug/profile``, and who may use them: they name users' activity
levels and the node's internals, and a profile slows the node while it runs, so neither
is public by default. Both follow the same rule:

* ``metrics_port`` set: /metrics is served only by a second listener on
  ``metrics_host:metrics_port`` (default host 127.0.0.1), never on the main port;
* ``metrics_token`` set: /metrics requires ``Authorization: Bearer <token>``,
  from any address (on whichever port serves it);
* neither: the main port answers /metrics only to a loopback peer that is not
  relaying someone else (no forwarding header), so a public bind or a local
  reverse proxy does not expose it.
"""

from __future__ import annotations

import asyncio
import cProfile
import hmac
import io
import ipaddress
import logging
import marshal
import math
import pstats
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum

from aiohttp import web

from pigeon.metrics import Metrics
from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _refusal(code: ErrorCode, message: str) -> web.Response:
    response = web.json_response(
        {"code": int(code), "message": message, "data": None}, status=code.http_status
    )
    if code is ErrorCode.NOT_AUTHENTICATED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def is_local_unproxied(request: web.Request) -> bool:
    """The TCP peer is this host and does not forward for anyone else."""
    try:
        peer = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    return peer.is_loopback and not any(h in request.headers for h in _FORWARDING_HEADERS)


def guarded(handler: Handler, *, token: str | None, local_only: bool) -> Handler:
    """``handler`` behind the access rule of this module's docstring."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if token is not None:
            if not _bearer_matches(request, token):
                return _refusal(ErrorCode.NOT_AUTHENTICATED, "metrics need the bearer token")
        elif local_only and not is_local_unproxied(request):
            return _refusal(ErrorCode.FORBIDDEN, DEFAULT_MESSAGES[ErrorCode.FORBIDDEN])
        return await handler(request)

    return checked


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = metrics.content_type
        return response

    return handler


class ProfileFormat(StrEnum):
    TEXT = "text"  # pstats' table, slowest cumulative first
    PSTATS = "pstats"  # marshalled stats: load with pstats.Stats(path) or snakeviz


class Profiler:
    """CPU profile of the event loop's thread for N seconds, one at a time.

    Everything the node does runs on that thread except commits' fsync and image
    decoding, so the profile shows where its CPU goes. cProfile slows profiled code
    severalfold while it runs: the duration is capped and a second request while one
    runs is refused (40900) rather than queued.
    """

    MAX_SECONDS = 60.0

    def __init__(self) -> None:
        self._busy = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            seconds = float(request.query.get("seconds", "10"))
            fmt = ProfileFormat(request.query.get("format", ProfileFormat.TEXT))
        except ValueError:
            return _refusal(
                ErrorCode.BAD_REQUEST, "seconds must be a number, format text or pstats"
            )
        if not (math.isfinite(seconds) and 0 < seconds <= self.MAX_SECONDS):
            return _refusal(
                ErrorCode.NUMBER_OUT_OF_RANGE,
                f"seconds must be more than 0 and at most {self.MAX_SECONDS:g}",
            )
        if self._busy:
            return _refusal(ErrorCode.CONFLICT, "a profile is already running")
        self._busy = True
        try:
            profile = await self._record(seconds)
        finally:
            self._busy = False
        return self._render(profile, fmt)

    @staticmethod
    async def _record(seconds: float) -> cProfile.Profile:
        profile = cProfile.Profile()
        log.warning("cpu profile started", extra={"seconds": seconds})
        profile.enable()  # hooks this thread: the loop and every task it runs
        try:
            await asyncio.sleep(seconds)
        finally:
            profile.disable()
        return profile

    @staticmethod
    def _render(profile: cProfile.Profile, fmt: ProfileFormat) -> web.Response:
        if fmt is ProfileFormat.PSTATS:
            profile.create_stats()
            return web.Response(
                body=marshal.dumps(profile.stats),
                content_type="application/octet-stream",
                headers={"Content-Disposition": 'attachment; filename="pigeon.pstats"'},
            )
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(80)
        return web.Response(text=out.getvalue(), content_type="text/plain")


def ops_routes(
    metrics: Metrics, profiler: Profiler, *, token: str | None, local_only: bool
) -> Sequence[web.RouteDef]:
    """/metrics and /debug/profile, both behind the same access rule."""
    return [
        web.get("/metrics", guarded(metrics_handler(metrics), token=token, local_only=local_only)),
        web.get("/debug/profile", guarded(profiler.handle, token=token, local_only=local_only)),
    ]


class MetricsListener:
    """The separate /metrics and /debug/profile listener (when ``metrics_port`` is set)."""

    def __init__(self, routes: Sequence[web.RouteDef], host: str, port: int) -> None:
        app = web.Application()
        app.router.add_routes(routes)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> int:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("metrics listening", extra={"host": self.host, "port": self.port})
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
