"""FastAPI dependencies: the wired services, the caller, the client's address."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pigeon.core.accounts import Principal
from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode
from pigeon.services import Services

_bearer = HTTPBearer(auto_error=False, description="access_token from /auth/login")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise CoreError(ErrorCode.NOT_AUTHENTICATED)
    return await services.accounts.authenticate(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def client_ip(request: Request, services: ServicesDep) -> str:
    """The caller's address; ``X-Forwarded-For`` counts only from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    networks = services.settings.trusted_proxy_networks
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or not networks:
        return peer
    try:
        if not any(ipaddress.ip_address(peer) in net for net in networks):
            return peer
    except ValueError:
        return peer
    # Walk from the nearest hop back past every trusted proxy.
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if not any(address in net for net in networks):
            return hop
    return peer


ClientIpDep = Annotated[str, Depends(client_ip)]
