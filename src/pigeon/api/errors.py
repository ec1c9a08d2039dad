"""Every error leaves as the envelope with a stable code — never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pigeon.api.bridge import allowed_methods
from pigeon.api.envelope import error_response
from pigeon.api.schemas import ERROR_CODE_KEY
from pigeon.bots.paths import loggable_path
from pigeon.core.ratelimit import RateLimited
from pigeon.protocol.errors import ErrorCode, PigeonError

log = logging.getLogger(__name__)

__all__ = ["RateLimited", "install"]

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    return {
        "errors": [
            {
                "loc": list(err.get("loc", ())),
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()[:20]
        ]
    }


def _first_error(exc: RequestValidationError) -> dict[str, Any]:
    """The error to report: one of our own rules (with its specific code) if any broke."""
    errors: list[dict[str, Any]] = list(exc.errors())
    ours = [err for err in errors if ERROR_CODE_KEY in (err.get("ctx") or {})]
    return (ours or errors or [{}])[0]


def install(app: FastAPI) -> None:
    @app.exception_handler(PigeonError)
    async def _pigeon(request: Request, exc: PigeonError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return error_response(exc, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = _first_error(exc)
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "request is invalid"
        code = ErrorCode((first.get("ctx") or {}).get(ERROR_CODE_KEY, ErrorCode.BAD_REQUEST))
        return error_response(PigeonError(code, message, _validation_details(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:  # every method the path takes (RFC 9110 section 15.5.6)
            headers["Allow"] = ", ".join(allowed_methods(app.routes, request.url.path))
        message = None if exc.status_code == 405 else str(exc.detail) if exc.detail else None
        response = error_response(PigeonError(code, message), headers or None)
        response.status_code = exc.status_code
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": loggable_path(request.url.path)})
        return error_response(PigeonError(ErrorCode.INTERNAL))
