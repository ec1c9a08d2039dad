"""Sign-up, sign-in, token rotation and sign-out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response, status

from pigeon.api.deps import ClientIpDep, PrincipalDep, ServicesDep
from pigeon.api.envelope import ERROR_RESPONSES, Envelope, ok
from pigeon.api.schemas import GrantOut, LoginIn, RefreshIn, RegisterIn
from pigeon.core.accounts import Grant
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.services import Services


def no_store(response: Response) -> None:
    """Responses carrying tokens must not be cached anywhere (RFC 6749 section 5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


router = APIRouter(
    prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES, dependencies=[Depends(no_store)]
)


def _limit(services: Services, ip: str, username: str) -> None:
    """Per-IP and per-(username, IP) budgets, and the username's failure budget
    (core/ratelimit.py ``LoginGuard``): no host guesses freely, no botnet either."""
    services.auth_by_ip.check(ip)
    services.login_guard.check(username, ip)


def grant_data(grant: Grant) -> dict[str, Any]:
    return ok(
        {
            "user": grant.user.public(),
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token,
            "expires_in": grant.expires_in,
            "token_type": "Bearer",
            "session": grant.login_id,
            "device": grant.device,
        }
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=Envelope[GrantOut])
async def register(body: RegisterIn, services: ServicesDep, ip: ClientIpDep) -> dict[str, Any]:
    _limit(services, ip, body.username)
    grant = await services.accounts.register(
        body.username, body.password, body.display_name, body.device
    )
    services.login_guard.succeeded(body.username, ip)
    return grant_data(grant)


@router.post("/login", response_model=Envelope[GrantOut])
async def login(body: LoginIn, services: ServicesDep, ip: ClientIpDep) -> dict[str, Any]:
    _limit(services, ip, body.username)
    try:
        grant = await services.accounts.login(body.username, body.password, body.device)
    except PigeonError as exc:
        if exc.code == ErrorCode.BAD_CREDENTIALS:
            services.login_guard.failed(body.username, ip)
        raise
    services.login_guard.succeeded(body.username, ip)
    return grant_data(grant)


@router.post("/refresh", response_model=Envelope[GrantOut])
async def refresh(body: RefreshIn, services: ServicesDep) -> dict[str, Any]:
    return grant_data(await services.accounts.refresh(body.refresh_token))


@router.post("/logout", response_model=Envelope[None])
async def logout(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    await services.accounts.logout(principal)
    return ok()
