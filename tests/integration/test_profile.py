"""/debug/profile: a CPU profile of a running node, behind the metrics access rule."""

from __future__ import annotations

import asyncio
import marshal
from collections.abc import Callable

import aiohttp

from harness import ServerProcess

from .wsclient import Rest, connect, direct, register

TOKEN = "profile-token-" + "p" * 24


async def _get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, await response.read()


async def test_a_profile_covers_the_traffic_while_it_runs(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    rest = Rest(http, server)
    alice, bob = await register(rest, "prof"), await register(rest, "prof")
    conv = await direct(rest, alice, bob)
    client, _ = await connect(http, server, alice)
    profile = asyncio.create_task(_get(http, f"{server.base_url}/debug/profile?seconds=2"))
    try:
        for i in range(20):  # bounded: some of these land inside the profile
            await client.send_text(conv, f"profiled {i}")
            if profile.done():
                break
        status, body = await profile
    finally:
        await client.close()
    assert status == 200, body
    text = body.decode()
    assert "function calls" in text
    assert "cumulative" in text


async def test_one_profile_at_a_time_and_bad_durations_are_refused(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    base = f"{server.base_url}/debug/profile"
    first = asyncio.create_task(_get(http, f"{base}?seconds=3&format=pstats"))
    # Wait until the first one is running: its start is logged.
    for _ in range(10_000):
        if any(e.get("event") == "cpu profile started" for e in server.events()):
            break
        await asyncio.sleep(0.05)
    status, body = await _get(http, f"{base}?seconds=1")
    assert status == 409, body
    assert b"40900" in body
    status, body = await first
    assert status == 200
    stats = marshal.loads(body)
    assert isinstance(stats, dict)
    assert stats
    for query, code in (
        ("seconds=0", b"40009"),
        ("seconds=61", b"40009"),
        ("seconds=nan", b"40009"),
        ("seconds=soon", b"40000"),
        ("format=svg", b"40000"),
    ):
        status, body = await _get(http, f"{base}?{query}")
        assert status == 400, (query, body)
        assert code in body, (query, body)


async def test_profile_follows_the_metrics_access_rule(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env={"PIGEON_METRICS_TOKEN": TOKEN})
    url = f"{server.base_url}/debug/profile?seconds=0.2"
    status, body = await _get(http, url)
    assert status == 401
    assert b"40100" in body
    status, _ = await _get(http, url, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    local = server_factory("local")
    status, body = await _get(
        http, f"{local.base_url}/debug/profile?seconds=0.2", {"X-Forwarded-For": "203.0.113.9"}
    )
    assert status == 403
    assert b"40300" in body
