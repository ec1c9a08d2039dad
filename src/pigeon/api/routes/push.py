"""Offline push: notification preferences and Web Push subscriptions (docs/push.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok

router = APIRouter(tags=["push"], responses=ERROR_RESPONSES)

# The shapes the service checks (pigeon.push.service), declared so clients see them:
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"  # HH:MM, 24-hour
P256DH = r"^B[A-Za-z0-9_-]{86}=?$"  # base64url of an uncompressed P-256 point (0x04 …)
AUTH = r"^[A-Za-z0-9_-]{22}(==)?$"  # base64url of 16 bytes
ENDPOINT = r"^https?://"


class Window(BaseModel):
    start: str = Field(pattern=CLOCK, description="HH:MM, local time")
    end: str = Field(pattern=CLOCK, description="HH:MM, local time; not after start: next day")


class NotificationsOut(BaseModel):
    enabled: bool
    preview: bool
    dnd: Window | None
    time_zone: str


class NotificationsIn(BaseModel):
    enabled: bool | None = None
    preview: bool | None = Field(None, description="false: payloads never carry message text")
    dnd: Window | None = Field(None, description="daily do-not-disturb window; null clears it")
    time_zone: str | None = Field(
        None,
        max_length=64,
        description="IANA name, e.g. Europe/Paris; one the server's time-zone database "
        "does not know is 400 / 40062",
    )


class SubscriptionKeys(BaseModel):
    p256dh: str = Field(pattern=P256DH, description="the browser's ECDH public key")
    auth: str = Field(pattern=AUTH, description="the browser's authentication secret")


class SubscriptionIn(BaseModel):
    """The browser's ``PushSubscription.toJSON()``. At most 20 per user (400 / 40061)."""

    endpoint: str = Field(pattern=ENDPOINT, max_length=2048)
    keys: SubscriptionKeys


class SubscriptionOut(BaseModel):
    id: str
    endpoint: str
    created_at: int


@router.get("/users/me/notifications", response_model=Envelope[NotificationsOut])
async def notifications(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok((await services.push.preferences(principal.user_id)).public())


@router.patch("/users/me/notifications", response_model=Envelope[NotificationsOut])
async def update_notifications(
    body: NotificationsIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(include=body.model_fields_set)
    prefs = await services.push.update_preferences(principal.user_id, changes)
    return ok(prefs.public())


@router.get("/push/subscriptions", response_model=Envelope[Page[SubscriptionOut]])
async def subscriptions(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    items = await services.push.list_subscriptions(principal.user_id)
    return ok({"items": [s.public() for s in items], "more": False})


@router.post(
    "/push/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[SubscriptionOut],
)
async def subscribe(
    body: SubscriptionIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    sub = await services.push.subscribe(
        principal.user_id, body.endpoint, body.keys.p256dh, body.keys.auth
    )
    return ok(sub.public())


@router.delete("/push/subscriptions/{sub_id}", response_model=Envelope[None])
async def unsubscribe(
    sub_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.push.unsubscribe(principal.user_id, sub_id)
    return ok()
