"""Presence of a set of users, as the caller may see it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import UrlText
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode

router = APIRouter(tags=["presence"], responses=ERROR_RESPONSES)

MAX_USERS = 200


class PresenceOut(BaseModel):
    user: str
    online: bool
    last_seen: int | None


@router.get("/presence", response_model=Envelope[Page[PresenceOut]])
async def presence(
    principal: PrincipalDep,
    services: ServicesDep,
    users: Annotated[UrlText, Query(max_length=MAX_USERS * 40)] = "",
) -> dict[str, Any]:
    wanted = [u.strip() for u in users.split(",") if u.strip()]
    if len(wanted) > MAX_USERS:
        raise CoreError(ErrorCode.BAD_REQUEST, f"ask for at most {MAX_USERS} users at once")
    items = await services.presence.snapshot(principal.user_id, wanted)
    return ok({"items": items, "more": False})
