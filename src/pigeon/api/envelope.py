"""The one response envelope: ``{"code": 0, "message": "ok", "data": ...}``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from pigeon.protocol.errors import PigeonError

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    code: int = 0
    message: str = "ok"
    data: T | None = None


class ErrorEnvelope(BaseModel):
    code: int
    message: str
    data: dict[str, Any] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    cursor: str | None = None
    more: bool = False


def ok(data: Any = None) -> dict[str, Any]:
    return {"code": 0, "message": "ok", "data": data}


def error_response(error: PigeonError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"code": int(error.code), "message": error.message, "data": error.details}
    return JSONResponse(body, status_code=error.code.http_status, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope} for status in (400, 401, 403, 404, 409, 410, 413, 429)
}
