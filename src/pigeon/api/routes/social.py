"""Friends, friend requests and blocks."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import Identifier, Prose, UrlText
from pigeon.core.social import MAX_NOTE_CHARS
from pigeon.protocol.views import UserView

router = APIRouter(tags=["friends"], responses=ERROR_RESPONSES)


class FriendRequestIn(BaseModel):
    user_id: Identifier
    note: Prose | None = Field(None, max_length=MAX_NOTE_CHARS)


class FriendRequestOut(BaseModel):
    id: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    note: str | None
    status: Literal["pending", "accepted", "declined"]
    direction: Literal["in", "out"]
    created_at: int


@router.get("/friends", response_model=Envelope[Page[UserView]])
async def friends(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    users = await services.social.friends(principal.user_id)
    return ok({"items": [u.public() for u in users], "more": False})


@router.delete("/friends/{user_id}", response_model=Envelope[None])
async def unfriend(
    user_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.social.unfriend(principal.user_id, user_id)
    return ok()


@router.get("/friends/requests", response_model=Envelope[Page[FriendRequestOut]])
async def requests(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok({"items": await services.social.requests(principal.user_id), "more": False})


@router.post(
    "/friends/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[FriendRequestOut],
)
async def request_friend(
    body: FriendRequestIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Ask ``user_id`` to be friends (accepts their request if they asked first).
    ``user_id`` must not be the caller: 400 / 40011 ``SELF_TARGET``."""
    return ok(await services.social.request_friend(principal.user_id, body.user_id, body.note))


@router.post("/friends/requests/{request_id}/accept", response_model=Envelope[FriendRequestOut])
async def accept(
    request_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return ok(await services.social.answer(principal.user_id, request_id, accept=True))


@router.post("/friends/requests/{request_id}/decline", response_model=Envelope[FriendRequestOut])
async def decline(
    request_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return ok(await services.social.answer(principal.user_id, request_id, accept=False))


@router.get("/blocks", response_model=Envelope[Page[UserView]])
async def blocks(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    users = await services.social.blocked(principal.user_id)
    return ok({"items": [u.public() for u in users], "more": False})


@router.put("/blocks/{user_id}", response_model=Envelope[None])
async def block(user_id: UrlText, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """Block ``user_id``. It must not be the caller: 400 / 40011 ``SELF_TARGET``."""
    await services.social.block(principal.user_id, user_id)
    return ok()


@router.delete("/blocks/{user_id}", response_model=Envelope[None])
async def unblock(
    user_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.social.unblock(principal.user_id, user_id)
    return ok()
