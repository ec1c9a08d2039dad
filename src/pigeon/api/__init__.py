"""REST API (FastAPI): routers, auth dependency, the response envelope, OpenAPI."""

from __future__ import annotations
