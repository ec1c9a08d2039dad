"""``deploy/nginx.conf`` in front of two nodes: REST and WebSocket balanced without
sticky sessions, upgrades passed through, and the client address forwarded."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from harness import ServerProcess
from integration.wsclient import PASSWORD, Rest, account_from, connect, direct

from .conftest import NodeFactory
from .services import NginxServer

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


class Proxy(ServerProcess):
    """Looks like a node to the test helpers, but is nginx's address."""

    def __init__(self, port: int) -> None:
        self.port = port


@pytest.fixture
def balanced(
    node_factory: NodeFactory, tmp_path: Path
) -> Iterator[tuple[Proxy, list[ServerProcess]]]:
    env = {"PIGEON_TRUSTED_PROXIES": "127.0.0.1", "PIGEON_AUTH_RATE_PER_MIN": "4"}
    nodes = [node_factory("a", env=env), node_factory("b", env=env)]
    nginx = NginxServer(tmp_path / "nginx", DEPLOY_CONFIG, [n.port for n in nodes])
    nginx.start()
    yield Proxy(nginx.port), nodes
    nginx.stop()


def connections_on(node: ServerProcess) -> int:
    return sum(1 for e in node.events() if e.get("event") == "connected")


async def test_rest_and_websocket_through_nginx_reach_every_node(
    balanced: tuple[Proxy, list[ServerProcess]], http: aiohttp.ClientSession
) -> None:
    proxy, nodes = balanced
    rest = Rest(http, proxy)
    accounts = []
    for index in range(2):  # each from its own client address, as nginx forwards it
        grant = await rest.ok(
            "POST",
            "auth/register",
            status=201,
            json={"username": "ng" + secrets.token_hex(4), "password": PASSWORD},
            headers={"X-Forwarded-For": f"203.0.113.{index + 1}"},
        )
        accounts.append(account_from(grant, PASSWORD))
    alice, bob = accounts
    conv = await direct(rest, alice, bob)
    ws_a, _ = await connect(http, proxy, alice)
    ws_b, _ = await connect(http, proxy, bob)
    # least_conn spreads the two long-lived sockets over both nodes
    assert [connections_on(n) for n in nodes] == [1, 1]
    ack = await ws_a.send_text(conv, "through the proxy")
    await ws_b.expect("msg", conv=conv, seq=ack["seq"])
    await ws_a.close()
    await ws_b.close()


async def test_nginx_forwards_the_client_address(
    balanced: tuple[Proxy, list[ServerProcess]], http: aiohttp.ClientSession
) -> None:
    proxy, _ = balanced
    rest = Rest(http, proxy)

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
