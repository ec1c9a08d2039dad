"""Interactive API docs (Swagger UI) served from this server, never from a CDN.

The Swagger UI files come from the ``fastapi-offline`` package; the page and its
start-up script are ours, so the page runs under a same-origin-only policy with no
inline script (``pigeon.httpguard.DOCS_CSP``) and works offline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets/"


def _here() -> Path:
    return Path(str(resources.files("pigeon") / "apidocs"))


def _swagger_ui_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def docs_routes() -> list[web.AbstractRouteDef]:
    here = _here()

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(here / "index.html", headers={"Cache-Control": "no-cache"})

    async def init_script(_: web.Request) -> web.FileResponse:
        return web.FileResponse(here / "init.js", headers={"Cache-Control": "no-cache"})

    return [
        web.get(DOCS_PATH, page),
        web.get(f"{DOCS_PATH}/init.js", init_script),
        web.static(ASSETS_PATH, _swagger_ui_dir(), follow_symlinks=False),
    ]
