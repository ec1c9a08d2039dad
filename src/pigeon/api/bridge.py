"""The HTTP edge shared by every route: the ASGI bridge and the URL text check.

aiohttp-asgi builds the ASGI scope from ``request.query_string``, which yarl has
already percent-decoded; Starlette then reads those bytes as latin-1 (as the ASGI
spec says query strings are), so ``?q=北京`` arrived as mojibake. The resource
below hands FastAPI the query string as it came on the wire, percent-encoded.

``finite_json`` refuses ``NaN``/``Infinity`` (and numbers that overflow to
infinity) in REST JSON bodies: Python's JSON reader accepts them, nothing
downstream can store or echo them.

``url_text_middleware`` applies the ``protocol.text`` rule for one-line text to
every path and query parameter before any handler (REST or file routes) runs, so
no id from a URL can carry a NUL or a line break into the store.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp_asgi import ASGIResource
from aiohttp_asgi.resource import ASGIContext, ScopeDict
from fastapi import Request
from starlette.routing import BaseRoute, Match

from pigeon.core.audit import REQUEST_ID
from pigeon.httpguard import REQUEST_ID_KEY
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.text import TextKind, check

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Everything a query string may carry literally; other characters (a client that
# sent raw UTF-8) are percent-encoded as UTF-8, and existing escapes are kept.
_QUERY_SAFE = "!$&'()*+,-./:;=?@_~%"


def wire_query_string(request: web.Request) -> bytes:
    """The request's query string, percent-encoded ASCII as the ASGI scope expects."""
    return quote(request.rel_url.raw_query_string, safe=_QUERY_SAFE).encode("ascii")


class _WireQueryContext(ASGIContext):
    @property
    def scope(self) -> ScopeDict:
        scope = super().scope
        scope["query_string"] = wire_query_string(self.request)
        # The id the request middleware gave this request (server.py), for the audit log.
        scope[REQUEST_ID_KEY] = self.request.get(REQUEST_ID_KEY)  # type: ignore[literal-required]
        return scope


def _scope(path: str, method: str) -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": "", "method": method}


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> list[str]:
    """Every method some route serves at ``path``, for a 405's ``Allow``.

    Starlette's own 405 names only the first route whose path matched, while one
    path often has several (``GET`` and ``PATCH /users/me``); each method is asked
    of the routes (included routers nest, so they are not walked by hand).
    """
    return [
        method
        for method in _METHODS
        if any(route.matches(_scope(path, method))[0] is Match.FULL for route in routes)
    ]


class FastAPIResource(ASGIResource):
    """``ASGIResource`` that passes the query string through undecoded and claims only
    the paths one of FastAPI's ``routes`` serves.

    A catch-all resource would answer ``POST /healthz`` with FastAPI's 404, hiding
    that the path exists with other methods; declining unknown paths lets aiohttp's
    router answer 404, or 405 with the ``Allow`` header its own routes imply.
    """

    def __init__(self, app: Any, routes: Sequence[BaseRoute], root_path: str = "/") -> None:
        super().__init__(app, root_path=root_path)
        self._routes = tuple(routes)

    def _serves(self, request: web.Request) -> bool:
        scope = _scope(request.path, request.method)
        return any(route.matches(scope)[0] is not Match.NONE for route in self._routes)

    async def resolve(self, request: web.Request) -> tuple[Any, set[str]]:
        if not self._serves(request):
            return None, set()
        return await super().resolve(request)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        return await _WireQueryContext(self._asgi_app, request, self._root_path).get_response()


def _url_violation(request: web.Request) -> PigeonError | None:
    texts = [("path", request.path)]
    texts.extend(("query", text) for pair in request.query.items() for text in pair)
    for where, text in texts:
        violation = check(TextKind.LINE, text)
        if violation is not None:
            return PigeonError(violation.code, f"{where} {violation.reason}")
    return None


@web.middleware
async def url_text_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    error = _url_violation(request)
    if error is not None:
        body = {"code": int(error.code), "message": error.message, "data": None}
        return web.json_response(body, status=error.code.http_status)
    return await handler(request)


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NonFinite(text)
    return value


async def finite_json(request: Request) -> None:
    """A FastAPI dependency: 40009 for a JSON body holding a non-finite number.

    FastAPI has parsed the body already (leniently); malformed JSON is left to its
    own error, only the non-standard constants are looked for here.
    """
    content_type = request.headers.get("content-type", "")
    if request.method not in ("POST", "PUT", "PATCH") or "json" not in content_type:
        return
    body = await request.body()
    try:
        json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise PigeonError(
            ErrorCode.NUMBER_OUT_OF_RANGE, f"JSON numbers must be finite, not {exc}"
        ) from None
    except ValueError:  # malformed: FastAPI's own validation error answers it
        return


async def bind_request_id(request: Request) -> None:
    """A FastAPI dependency: audit entries made while serving this request carry its
    id (core/audit.py). The variable lives in the request's own context."""
    request_id = request.scope.get(REQUEST_ID_KEY)
    REQUEST_ID.set(request_id if isinstance(request_id, str) else None)
