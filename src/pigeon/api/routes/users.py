"""Profiles, user search, the caller's devices, and deleting or exporting one's account."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pigeon.api.deps import ClientIpDep, PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, Page, ok
from pigeon.api.schemas import AccountDeleteIn, DeviceOut, PasswordChangeIn, ProfileIn, UrlText
from pigeon.core.errors import CoreError
from pigeon.core.export import remove_quietly
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.text import TextKind, schema_pattern
from pigeon.protocol.views import MeView, UserView
from pigeon.store.records import UserRecord

router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)


def _me(user: UserRecord) -> dict[str, Any]:
    return {**user.public(), "dm_policy": user.dm_policy, "admin": user.admin}


@router.get("/me", response_model=Envelope[MeView])
async def get_me(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return ok(_me(await services.accounts.user(principal.user_id)))


@router.patch("/me", response_model=Envelope[MeView])
async def patch_me(
    body: ProfileIn, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return ok(_me(await services.accounts.update_profile(principal.user_id, changes)))


@router.put("/me/password", response_model=Envelope[None])
async def change_password(
    body: PasswordChangeIn, principal: PrincipalDep, services: ServicesDep, ip: ClientIpDep
) -> dict[str, Any]:
    """Needs the current password; every other login of the caller is signed out (their
    sockets close with 4003), this one stays. Wrong guesses count like failed sign-ins."""
    services.auth_by_ip.check(ip)
    services.login_guard.check(principal.user_id, ip)
    try:
        await services.accounts.change_password(principal, body.current_password, body.new_password)
    except PigeonError as exc:
        if exc.code == ErrorCode.BAD_CREDENTIALS:
            services.login_guard.failed(principal.user_id, ip)
        raise
    services.login_guard.succeeded(principal.user_id, ip)
    return ok()


@router.delete("/me", response_model=Envelope[None])
async def delete_me(
    body: AccountDeleteIn, principal: PrincipalDep, services: ServicesDep, ip: ClientIpDep
) -> dict[str, Any]:
    """Delete the caller's account, confirmed with its password (wrong guesses count like
    failed sign-ins). Every login ends and its sockets close with 4003; what becomes of
    the messages is the server's ``account_deletion`` policy (docs/operations.md). A bot
    is refused (40340)."""
    services.auth_by_ip.check(ip)
    services.login_guard.check(principal.user_id, ip)
    try:
        await services.deletion.delete_self(principal.user_id, body.password)
    except PigeonError as exc:
        if exc.code == ErrorCode.BAD_CREDENTIALS:
            services.login_guard.failed(principal.user_id, ip)
        raise
    return ok()


@router.post(
    "/me/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the zip archive"}},
)
async def export_me(principal: PrincipalDep, services: ServicesDep) -> Response:
    """The caller's data as a zip archive (layout in its README.txt). Once per
    ``export_interval_s`` (42920 with ``retry_after``); at most ``export_max_bytes``
    before compression (40090)."""
    path = await services.export.export(principal.user_id)
    try:
        # Sent whole: its size is bounded, and a streamed body through the ASGI bridge
        # would wait for a disconnect event the bridge never sends.
        archive = await asyncio.to_thread(path.read_bytes)
    finally:
        remove_quietly(path)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="pigeon-export.zip"'},
    )


@router.get("/me/devices", response_model=Envelope[Page[DeviceOut]])
async def list_devices(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    items = await services.accounts.devices(principal.user_id, services.online)
    return ok({"items": items, "more": False})


@router.delete("/me/devices/{device}", response_model=Envelope[None])
async def revoke_device(
    device: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.accounts.revoke_device(principal.user_id, device)
    return ok()


def declare_search_minimum(operation: dict[str, Any], min_chars: int) -> None:
    """State ``user_search_min_chars`` in the search operation's OpenAPI entry.

    It is a setting, unknown when the route is declared: ``q`` becomes required and
    its pattern asks for that many characters once trimmed.
    """
    if min_chars <= 0:
        return
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "q":
            parameter["required"] = True
            parameter["schema"].pop("default", None)
            parameter["schema"]["pattern"] = schema_pattern(TextKind.LINE, min_chars)
            parameter["schema"]["minLength"] = min_chars


@router.get("", response_model=Envelope[Page[UserView]])
async def search_users(
    principal: PrincipalDep,
    services: ServicesDep,
    q: Annotated[UrlText, Query(max_length=64)] = "",
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


@router.get("/{user_id}", response_model=Envelope[UserView])
async def get_user(
    user_id: UrlText, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return ok((await services.accounts.user(user_id)).public())
