"""Fixtures of the integration tests: REST and WebSocket helpers bound to the module's
shared server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess

from .live import Devices, devices_of
from .wsclient import Account, Rest, WsClient, connect


@pytest.fixture
def rest(http: aiohttp.ClientSession, shared_server: ServerProcess) -> Rest:
    return Rest(http, shared_server)


@pytest.fixture
async def devices(
    http: aiohttp.ClientSession, shared_server: ServerProcess
) -> AsyncIterator[Devices]:
    """Sockets opened by a test, each a device of some account; all closed after it."""
    async with devices_of(http, shared_server) as pool:
        yield pool


@pytest.fixture
async def sockets() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
def online(
    http: aiohttp.ClientSession, shared_server: ServerProcess, sockets: list[WsClient]
) -> Callable[[Account], Any]:
    """Open an authenticated WebSocket for an account (closed after the test)."""

    async def make(account: Account) -> WsClient:
        client, _ = await connect(http, shared_server, account)
        sockets.append(client)
        return client

    return make
