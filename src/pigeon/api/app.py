"""Builds the FastAPI application for one set of wired services."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from pigeon import __version__
from pigeon.api import errors
from pigeon.api.bridge import bind_request_id, finite_json
from pigeon.api.routes import (
    admin,
    auth,
    conversations,
    groups,
    marks,
    meta,
    presence,
    push,
    search,
    social,
    users,
)
from pigeon.bots import http as bots
from pigeon.services import Services

API_PREFIX = "/api/v1"


def create_api(services: Services) -> FastAPI:
    app = FastAPI(
        title="Pigeon",
        version=__version__,
        description="Instant messaging: REST API. Live traffic uses the WebSocket at /ws "
        "(see docs/protocol.md).",
        docs_url=None,  # served by pigeon.apidocs with local assets
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    errors.install(app)
    api = APIRouter(
        prefix=API_PREFIX, dependencies=[Depends(finite_json), Depends(bind_request_id)]
    )
    # push before users: /users/me/notifications is not a /users/{user_id}
    modules = (
        auth,
        bots,
        push,
        users,
        conversations,
        marks,
        groups,
        social,
        presence,
        search,
        meta,
        admin,
    )
    for module in modules:
        api.include_router(module.router)
    app.include_router(api)
    _declare_settings(app, services)
    return app


def _declare_settings(app: FastAPI, services: Services) -> None:
    """Rules that come from settings join the OpenAPI document when it is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            user_search = schema["paths"][f"{API_PREFIX}/users"]["get"]
            users.declare_search_minimum(user_search, services.settings.user_search_min_chars)
            message_search = schema["paths"][f"{API_PREFIX}/search/messages"]["get"]
            search.declare_query_limit(message_search, services.settings.search_max_query_chars)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook
