"""``deploy/nginx.conf`` as shipped, in front of two nodes over TLS: REST and WSS
balanced without sticky sessions, upgrades passed through, plain HTTP redirected to
HTTPS, HSTS on every answer, TLS 1.2 and 1.3 both accepted, /metrics refused, and the
client address forwarded."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from harness import ServerProcess
from integration.wsclient import PASSWORD, Rest, account_from, connect, direct, login

from .conftest import NodeFactory
from .proxy import Proxy, nginx_in_front, trusting_session

HSTS = "max-age=63072000"


@pytest.fixture
def balanced(
    node_factory: NodeFactory, tmp_path: Path
) -> Iterator[tuple[Proxy, list[ServerProcess]]]:
    env = {"PIGEON_TRUSTED_PROXIES": "127.0.0.1", "PIGEON_AUTH_RATE_PER_MIN": "4"}
    nodes = [node_factory("a", env=env), node_factory("b", env=env)]
    with nginx_in_front(tmp_path / "nginx", nodes) as proxy:
        yield proxy, nodes


@pytest.fixture
async def https(
    balanced: tuple[Proxy, list[ServerProcess]],
) -> AsyncIterator[aiohttp.ClientSession]:
    async with trusting_session(balanced[0]) as session:
        yield session


def connections_on(node: ServerProcess) -> int:
    return sum(1 for e in node.events() if e.get("event") == "connected")


async def test_https_rest_login_and_wss_through_nginx_reach_every_node(
    balanced: tuple[Proxy, list[ServerProcess]], https: aiohttp.ClientSession
) -> None:
    proxy, nodes = balanced
    rest = Rest(https, proxy)
    accounts = []
    for index in range(2):  # each from its own client address, as nginx forwards it
        grant = await rest.ok(
            "POST",
            "auth/register",
            status=201,
            json={"username": "ng" + secrets.token_hex(4), "password": PASSWORD},
            headers={"X-Forwarded-For": f"203.0.113.{index + 1}"},
        )
        accounts.append(await login(rest, account_from(grant, PASSWORD)))
    alice, bob = accounts
    conv = await direct(rest, alice, bob)
    ws_a, _ = await connect(https, proxy, alice)
    ws_b, _ = await connect(https, proxy, bob)
    # least_conn spreads the two long-lived sockets over both nodes: alice and bob are on
    # different nodes, so the message below crosses the cluster
    assert [connections_on(n) for n in nodes] == [1, 1]
    ack = await ws_a.send_text(conv, "through the proxy, over TLS")
    got = await ws_b.expect("msg", conv=conv, seq=ack["seq"])
    assert got["body"]["text"] == "through the proxy, over TLS"
    await ws_a.close()
    await ws_b.close()
    await check_tls_front(proxy, https)


async def check_tls_front(proxy: Proxy, https: aiohttp.ClientSession) -> None:
    """Plain HTTP only redirects; HTTPS answers carry HSTS; TLS 1.2 and 1.3 both work."""
    async with aiohttp.ClientSession() as plain:
        url = f"http://127.0.0.1:{proxy.http_port}/api/v1/config?x=1"
        async with plain.get(url, allow_redirects=False) as reply:
            assert reply.status == 301
            # $host drops the port: a real deployment listens on 443
            assert reply.headers["Location"] == "https://127.0.0.1/api/v1/config?x=1"
            assert "Strict-Transport-Security" not in reply.headers
    for path, status in (("/api/v1/config", 200), ("/metrics", 404), ("/no-such-page", 404)):
        async with https.get(proxy.base_url + path) as reply:
            assert reply.status == status, path
            assert reply.headers["Strict-Transport-Security"] == HSTS, path
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert await negotiated(proxy, version) == version.name.replace("_", ".")


async def negotiated(proxy: Proxy, version: ssl.TLSVersion) -> str:
    """The protocol of a handshake whose client offers only ``version``."""
    context = proxy.tls_context()
    context.minimum_version = context.maximum_version = version
    _, writer = await asyncio.open_connection("127.0.0.1", proxy.port, ssl=context)
    try:
        return str(writer.get_extra_info("ssl_object").version())
    finally:
        writer.close()
        await writer.wait_closed()


async def test_nginx_forwards_the_client_address(
    balanced: tuple[Proxy, list[ServerProcess]], https: aiohttp.ClientSession
) -> None:
    proxy, _ = balanced
    rest = Rest(https, proxy)

    async def attempt(address: str) -> int:
        reply = await rest.call(
            "POST",
            "auth/login",
            json={"username": "nobody" + secrets.token_hex(4), "password": "wrong-password"},
            headers={"X-Forwarded-For": address},
        )
        return reply.status

    # Each node allows 4 attempts a minute per address: one address runs out...
    statuses = [await attempt("198.51.100.7") for _ in range(12)]
    assert 429 in statuses
    # ...while another address, through the same proxy, is still served.
    assert await attempt("198.51.100.8") != 429
