"""REST routes of bots and integrations (docs/bots.md): the bot token exchange, a
bot's outgoing webhook, and conversations' incoming webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from pigeon.api.deps import ClientIpDep, PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.routes.auth import grant_data, no_store
from pigeon.api.schemas import DeviceName, DisplayName, GrantOut, Reference, UrlText
from pigeon.bots.paths import HOOK_PATH
from pigeon.bots.service import parse_hook_body
from pigeon.bots.store import BotEvent, IncomingHook
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.views import AckView
from pigeon.push.service import MAX_ENDPOINT_CHARS

router = APIRouter(responses=ERROR_RESPONSES)


class BotTokenIn(BaseModel):
    token: Reference = Field(min_length=1, max_length=256, description="from `pigeon bot create`")
    device: DeviceName | None = None


class WebhookIn(BaseModel):
    url: str = Field(
        max_length=MAX_ENDPOINT_CHARS,
        pattern=r"^https?://",
        description="receives a signed POST per event; private addresses only if allow-listed",
    )
    events: list[BotEvent] = Field(
        min_length=1,
        max_length=2,
        description="message: every message; mention: in groups only those mentioning the "
        "bot (direct chats always send every message)",
    )


class WebhookOut(BaseModel):
    url: str
    events: list[BotEvent]
    created_at: int
    secret: str | None = Field(None, description="the signing secret, in the PUT answer only")


class HookIn(BaseModel):
    name: DisplayName | None = None


class HookOut(BaseModel):
    id: str
    conv: str
    creator: str
    name: str
    created_at: int
    active: bool
    url: str | None = Field(None, description="the secret URL, in the POST answer only")


class HookPostIn(BaseModel):
    """What an incoming webhook accepts (declared here; the handler reads the raw
    body so that every refusal has its documented code)."""

    text: str = Field(description="the message text (prose rule, at most max_text_chars)")
    name: str | None = Field(None, description="shown as who posted it, instead of the hook's")


@router.post(
    "/auth/bot",
    tags=["auth"],
    response_model=Envelope[GrantOut],
    dependencies=[Depends(no_store)],
)
async def bot_sign_in(body: BotTokenIn, services: ServicesDep, ip: ClientIpDep) -> dict[str, Any]:
    """A bot's token for an access and refresh token pair, like a password sign-in.
    An unknown or revoked token is 401 / 40106."""
    services.auth_by_ip.check(ip)
    return grant_data(await services.bots.exchange(body.token, body.device))


@router.put("/bots/me/webhook", tags=["bots"], response_model=Envelope[WebhookOut])
async def put_webhook(
    body: WebhookIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Subscribe the calling bot (403 / 40306 for a person). Each PUT makes a new
    signing secret, returned here only."""
    return ok(await services.bots.set_webhook(principal, body.url, list(body.events)))


@router.get("/bots/me/webhook", tags=["bots"], response_model=Envelope[WebhookOut])
async def get_webhook(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok(await services.bots.webhook(principal))


@router.delete("/bots/me/webhook", tags=["bots"], response_model=Envelope[None])
async def delete_webhook(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    await services.bots.remove_webhook(principal)
    return ok()


def _hook_out(hook: IncomingHook, base: str | None = None, secret: str | None = None) -> Any:
    out = hook.public()
    if secret is not None:
        out["url"] = f"{base or ''}{HOOK_PATH}/{hook.id}/{secret}"
    return out


@router.post(
    "/conversations/{conv_id}/webhooks",
    tags=["bots"],
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[HookOut],
)
async def create_hook(
    conv_id: UrlText,
    principal: PrincipalDep,
    services: ServicesDep,
    body: HookIn | None = None,
) -> dict[str, Any]:
    """An incoming webhook for this conversation; needs the right to post there. The
    answer's ``url`` holds the secret and is shown once. At most
    ``max_hooks_per_conversation`` per conversation (400 / 40072)."""
    name = body.name if body is not None else None
    hook, secret = await services.bots.create_hook(principal.user_id, conv_id, name)
    return ok(_hook_out(hook, services.settings.public_url, secret))


@router.get(
    "/conversations/{conv_id}/webhooks",
    tags=["bots"],
    response_model=Envelope[Page[HookOut]],
)
async def list_hooks(
    conv_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    hooks = await services.bots.hooks(principal.user_id, conv_id)
    return ok({"items": [_hook_out(h) for h in hooks], "more": False})


@router.delete(
    "/conversations/{conv_id}/webhooks/{hook_id}", tags=["bots"], response_model=Envelope[None]
)
async def delete_hook(
    conv_id: UrlText, hook_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """By its creator or the group's owner or an admin (403 / 40305 otherwise)."""
    await services.bots.remove_hook(principal.user_id, conv_id, hook_id)
    return ok()


_HOOK_BODY = {
    "required": True,
    "content": {"application/json": {"schema": HookPostIn.model_json_schema()}},
}


@router.post(
    "/hooks/{hook_id}/{secret}",
    tags=["bots"],
    response_model=Envelope[AckView],
    openapi_extra={"requestBody": _HOOK_BODY},
)
async def post_hook(
    hook_id: UrlText, secret: UrlText, request: Request, services: ServicesDep
) -> dict[str, Any]:
    """Post ``text`` into the webhook's conversation. Unknown, deleted or disabled
    webhooks and wrong secrets are all 404 / 40470; over ``hook_rate_per_min`` is
    429 / 42913; a body over ``hook_max_body_bytes`` is 413 / 41300; a body that is
    not a JSON object with a text is 400 / 40071."""
    hook = await services.bots.admit_hook(hook_id, secret)
    raw = await request.body()
    if len(raw) > services.settings.hook_max_body_bytes:
        raise CoreError(
            ErrorCode.TOO_LARGE,
            f"body is larger than {services.settings.hook_max_body_bytes} bytes",
        )
    message = await services.bots.post_hook(hook, parse_hook_body(raw))
    return ok(message.ack())
