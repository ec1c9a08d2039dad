"""Profiles, user search and the caller's devices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from pigeon.api.deps import PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import DeviceOut, MeOut, ProfileIn, UserOut
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.store.records import UserRecord

router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)


def _me(user: UserRecord) -> dict[str, Any]:
    return {**user.public(), "dm_policy": user.dm_policy}


@router.get("/me", response_model=Envelope[MeOut])
async def get_me(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok(_me(await services.accounts.user(principal.user_id)))


@router.patch("/me", response_model=Envelope[MeOut])
async def patch_me(
    body: ProfileIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return ok(_me(await services.accounts.update_profile(principal.user_id, changes)))


@router.get("/me/devices", response_model=Envelope[Page[DeviceOut]])
async def list_devices(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    items = await services.accounts.devices(principal.user_id, services.presence)
    return ok({"items": items, "more": False})


@router.delete("/me/devices/{device}", response_model=Envelope[None])
async def revoke_device(
    device: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.accounts.revoke_device(principal.user_id, device)
    return ok()


@router.get("", response_model=Envelope[Page[UserOut]])
async def search_users(
    principal: PrincipalDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Users whose username or display name starts with ``q``. A query shorter than
    ``user_search_min_chars`` is refused (no listing everyone a letter at a time), and
    at most ``user_search_max_results`` come back whatever ``limit`` asks."""
    settings = services.settings
    if len(q.strip()) < settings.user_search_min_chars:
        raise CoreError(
            ErrorCode.QUERY_TOO_SHORT,
            f"q must be at least {settings.user_search_min_chars} characters",
            {"min_chars": settings.user_search_min_chars},
        )
    limit = min(limit, settings.user_search_max_results)
    found = await services.accounts.search(q, limit + 1)
    return ok({"items": [u.public() for u in found[:limit]], "more": len(found) > limit})


@router.get("/{user_id}", response_model=Envelope[UserOut])
async def get_user(user_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok((await services.accounts.user(user_id)).public())
