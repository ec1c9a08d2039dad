"""Who may read ``/metrics``: it names users' activity levels and the node's internals,
so it is not public by default.

* ``metrics_port`` set: /metrics is served only by a second listener on
  ``metrics_host:metrics_port`` (default host 127.0.0.1), never on the main port;
* ``metrics_token`` set: /metrics requires ``Authorization: Bearer <token>``,
  from any address (on whichever port serves it);
* neither: the main port answers /metrics only to a loopback peer that is not
  relaying someone else (no forwarding header), so a public bind or a local
  reverse proxy does not expose it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

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


def metrics_handler(metrics: Metrics, *, token: str | None, local_only: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if token is not None:
            if not _bearer_matches(request, token):
                return _refusal(ErrorCode.NOT_AUTHENTICATED, "metrics need the bearer token")
        elif local_only and not is_local_unproxied(request):
            return _refusal(ErrorCode.FORBIDDEN, DEFAULT_MESSAGES[ErrorCode.FORBIDDEN])
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = metrics.content_type
        return response

    return handler


class MetricsListener:
    """The separate /metrics listener (when ``metrics_port`` is set)."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", handler)
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
