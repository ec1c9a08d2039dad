"""Server discovery: where the WebSocket is, the limits, the features."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from pigeon import __version__
from pigeon.api.deps import ServicesDep
from pigeon.api.envelope import Envelope, ok
from pigeon.api.schemas import ConfigOut

router = APIRouter(tags=["meta"])

FEATURES = [
    "direct",
    "groups",
    "channels",
    "rooms",
    "friends",
    "blocks",
    "receipts",
    "typing",
    "sync",
    "refresh-rotation",
    "devices",
    "presence",
    "files",
    "uploads",
    "recall",
    "edit",
    "reactions",
    "pins",
    "search",
    "mentions",
    "replies",
    "friend-request-push",
    "offline-push",
    "forward",
    "retention",
    "account-deletion",
    "data-export",
]


def websocket_url(request: Request, public_url: str | None) -> str:
    if public_url:
        base = public_url.rstrip("/")
    else:
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        base = f"{request.url.scheme}://{host}"
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/ws"


@router.get("/config", response_model=Envelope[ConfigOut])
async def config(request: Request, services: ServicesDep) -> dict[str, Any]:
    settings = services.settings
    return ok(
        {
            "ws_url": websocket_url(request, settings.public_url),
            "version": __version__,
            "limits": settings.public_limits(),
            "features": FEATURES,
            "push": {"vapid_public_key": services.push.public_key()},
        }
    )
