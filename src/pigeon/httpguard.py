"""Rules every HTTP exchange follows: transfer codings, body limits, request ids, headers.

One place defines them; ``pigeon.server`` wires them into the aiohttp application
(a middleware, a response-prepare hook) and around the FastAPI app (an ASGI
wrapper), because REST responses are prepared by the ASGI bridge and never pass
back through an aiohttp middleware unprepared.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from aiohttp import hdrs, web

from pigeon.protocol.errors import ErrorCode, PigeonError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_KEY = "pigeon.request_id"
# A client's id is echoed only when it is short and plain (it lands in logs and headers).
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

# Responses that are not pages (JSON, metrics, redirects) may run and embed nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI: its own scripts and styles only; its CSS draws icons from data: URIs.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# The web client loads only its own files: no inline script or style, no eval, no
# foreign origin ('self' covers the page's own ws:// or wss:// address too).
WEB_CLIENT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def request_id_for(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_REQUEST_ID.match(given) else secrets.token_hex(8)


def envelope_error(code: ErrorCode, message: str | None = None) -> web.Response:
    error = PigeonError(code, message)
    return web.json_response(
        {"code": int(code), "message": error.message, "data": error.details},
        status=code.http_status,
    )


def envelope_for_status(status: int, message: str | None = None) -> web.Response:
    """The envelope for an HTTP status the router or a library chose: the code is
    ``status * 100`` when the table has it, else the generic 40000 or 50000 (whose
    status then replaces the library's, so ``code // 100`` stays the status)."""
    try:
        code = ErrorCode(status * 100)
    except ValueError:
        code = ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL
    return envelope_error(code, message)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def http_error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 4xx/5xx (no route: 404, wrong method: 405 with ``Allow``, a body
    over ``client_max_size``: 413 ...) leave as the envelope, their headers kept."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's default text is "<status>: <reason>"; a handler's own text is kept.
        custom = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        response = envelope_for_status(exc.status, custom)
        for name in (hdrs.ALLOW, hdrs.RETRY_AFTER, hdrs.LOCATION):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response


def check_transfer_coding(request: web.Request) -> web.Response | None:
    """Only ``chunked`` (or none): anything else is refused before a byte is read.

    The HTTP parser frames ``gzip, chunked`` as chunked and ignores the rest, so
    an unknown coding would otherwise reach handlers as if it were plain.
    """
    codings = ",".join(request.headers.getall("Transfer-Encoding", []))
    if codings and codings.strip().lower() != "chunked":
        response = envelope_error(ErrorCode.TRANSFER_CODING_UNSUPPORTED)
        response.force_close()  # the body's framing cannot be trusted
        return response
    return None


def check_declared_length(request: web.Request, limit: int) -> web.Response | None:
    """Refuse early when Content-Length already says too much (the read is limited anyway)."""
    if request.content_length is not None and request.content_length > limit:
        return envelope_error(ErrorCode.TOO_LARGE, f"request body is larger than {limit} bytes")
    return None


def security_headers(web_csp: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """A response-prepare hook: every response gets the same headers, however it was made.

    Headers a handler set itself (file downloads have their own policy) win.
    """

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in _BASE_HEADERS.items():
            headers.setdefault(name, value)
        headers.setdefault("Content-Security-Policy", _policy_for(request.path, web_csp))
        request_id = request.get(REQUEST_ID_KEY)
        if isinstance(request_id, str):
            headers.setdefault(REQUEST_ID_HEADER, request_id)

    return on_prepare


def _policy_for(path: str, web_csp: str) -> str:
    if path == "/" or path.startswith("/static/"):
        return web_csp
    if path == "/docs" or path.startswith("/docs/"):
        return DOCS_CSP
    return API_CSP


class BodyLimit:
    """ASGI wrapper: the whole body is received, counting bytes actually read, before the
    app parses any of it; past ``limit`` the app is never called and 413 is answered.

    Counting what arrives (after any Content-Encoding is undone) rather than trusting
    Content-Length covers chunked bodies and lying or absent lengths alike.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # every method: a DELETE may carry a body too
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _send_too_large(send, self.limit)
                return
            parts.append(chunk)
            more = bool(message.get("more_body", False))
        await self.app(scope, _replay(b"".join(parts), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _send_too_large(send: Send, limit: int) -> None:
    code = ErrorCode.TOO_LARGE
    body = orjson.dumps(
        {"code": int(code), "message": f"request body is larger than {limit} bytes", "data": None}
    )
    await send(
        {
            "type": "http.response.start",
            "status": code.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
