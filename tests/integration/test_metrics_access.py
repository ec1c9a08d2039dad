"""Who may read /metrics: local by default, a bearer token, or a separate listener."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import aiohttp
import pytest

from harness import ServerProcess

from .wsclient import WAIT_S

TOKEN = "metrics-token-" + "m" * 24
NOT_AUTHENTICATED, FORBIDDEN = 40100, 40300


@pytest.fixture
def public_address() -> str:
    """A non-loopback address of this host, the way a client elsewhere reaches it."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # a UDP connect sends no packet
        address = str(probe.getsockname()[0])
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("this host has no non-loopback address")
    return address


async def _get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, await response.text()


def _metrics_port(server: ServerProcess) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for event in server.events():
            if event.get("event") == "metrics listening":
                return int(event["port"])
        time.sleep(0.05)  # polling a log file: there is no event for it
    raise AssertionError("no 'metrics listening' in the log")


async def test_by_default_metrics_answer_loopback_only_and_not_through_a_proxy(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    public_address: str,
) -> None:
    server = server_factory(args=["--host", "0.0.0.0"])
    status, text = await _get(http, f"{server.base_url}/metrics")
    assert status == 200
    assert "pigeon_connections" in text
    # A local reverse proxy relays public clients from 127.0.0.1.
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    status, text = await _get(http, f"{server.base_url}/metrics", proxied)
    assert status == 403
    assert f'"code":{FORBIDDEN}' in text.replace(" ", "")
    status, text = await _get(http, f"http://{public_address}:{server.port}/metrics")
    assert status == 403
    assert "pigeon_connections" not in text
    status, _ = await _get(http, f"http://{public_address}:{server.port}/healthz")
    assert status == 200


async def test_a_token_opens_metrics_to_any_address_and_nothing_else(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    public_address: str,
) -> None:
    server = server_factory(args=["--host", "0.0.0.0"], env={"PIGEON_METRICS_TOKEN": TOKEN})
    url = f"http://{public_address}:{server.port}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, text = await _get(http, url, headers)
        assert status == 401, headers
        assert "pigeon_connections" not in text
    status, _ = await _get(http, f"{server.base_url}/metrics")  # loopback needs it too
    assert status == 401
    status, text = await _get(http, url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert "pigeon_connections" in text


async def test_a_metrics_port_serves_metrics_and_the_main_port_stops(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(args=["--metrics-port", "0"])
    port = _metrics_port(server)
    status, text = await _get(http, f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "pigeon_connections" in text
    status, text = await _get(http, f"{server.base_url}/metrics")
    assert status == 404
    assert "pigeon_connections" not in text
