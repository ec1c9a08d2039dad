"""``deploy/nginx.conf`` in front of test nodes, over TLS: the proxy as a server the
test helpers can talk to, and an HTTP session that trusts its throwaway certificate."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp

from harness import ServerProcess

from .services import NginxServer

DEPLOY_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"


class Proxy(ServerProcess):
    """Looks like a node to the test helpers, but is nginx's HTTPS address."""

    def __init__(self, nginx: NginxServer) -> None:
        self.port = nginx.port
        self.http_port = nginx.http_port
        self.ca_file = nginx.ca_file

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/ws"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@contextmanager
def nginx_in_front(root: Path, nodes: list[ServerProcess]) -> Iterator[Proxy]:
    nginx = NginxServer(root, DEPLOY_CONFIG, [n.port for n in nodes]).start()
    try:
        yield Proxy(nginx)
    finally:
        nginx.stop()


@asynccontextmanager
async def trusting_session(proxy: Proxy) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that verifies the proxy's certificate (it names 127.0.0.1)."""
    connector = aiohttp.TCPConnector(ssl=proxy.tls_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session
