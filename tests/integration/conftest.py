"""Fixtures of the integration tests: a REST helper bound to the module's shared server."""

from __future__ import annotations

import aiohttp
import pytest

from harness import ServerProcess

from .wsclient import Rest


@pytest.fixture
def rest(http: aiohttp.ClientSession, shared_server: ServerProcess) -> Rest:
    return Rest(http, shared_server)
