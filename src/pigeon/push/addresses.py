"""Which addresses outgoing push requests may reach.

The webhook URL comes from the operator, but Web Push endpoints come from users'
browsers, so both go through one rule: an address that is not globally routable
(private, loopback, link-local, unique-local, reserved, ...) is refused unless it
lies in ``push_allow_private``. The check runs on the addresses a name resolves
to at connection time (a resolver wrapped around aiohttp's), so a name that
resolves to a public address when checked and a private one when connecting
cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from pigeon.push.base import Outcome, Result

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForbiddenAddress(Exception):
    """A push request would reach an address outside the allowed ones."""


def allowed(address: str, allow: Sequence[IPNetwork]) -> bool:
    """Whether ``address`` (an IP literal) may be reached."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global or any(ip in net for net in allow)


def literal_ip(host: str) -> str | None:
    """``host`` when it is an IP literal (aiohttp connects to those without resolving)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to a forbidden address."""

    def __init__(self, allow: Sequence[IPNetwork]) -> None:
        self._allow = tuple(allow)
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        bad = [r["host"] for r in found if not allowed(r["host"], self._allow)]
        if bad:
            raise ForbiddenAddress(f"{host} resolves to {bad[0]}, which push may not reach")
        return found

    async def close(self) -> None:
        await self._inner.close()


def check_url_host(host: str | None, allow: Sequence[IPNetwork]) -> None:
    """Raise ``ForbiddenAddress`` for an IP-literal host outside the allowed ones
    (names are checked by ``GuardedResolver`` when connecting)."""
    if not host:
        raise ForbiddenAddress("URL has no host")
    ip = literal_ip(host)
    if ip is not None and not allowed(ip, allow):
        raise ForbiddenAddress(f"{host} is an address push may not reach")


#: What a provider's request may raise on the way to the receiver (not an HTTP answer).
TRANSPORT_ERRORS = (ForbiddenAddress, aiohttp.ClientError, TimeoutError)


def transport_failure(exc: BaseException) -> Result:
    """The outcome of one of ``TRANSPORT_ERRORS``: a forbidden address is refused for
    good (also when the guarded resolver raised it under a connector error), anything
    else is worth retrying."""
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, ForbiddenAddress):
        return Result(Outcome.REFUSED, str(cause))
    return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
