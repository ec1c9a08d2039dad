"""TLS on the listeners (`--tls-cert`, `--tls-key`) with a throwaway self-signed
certificate: the Python SDK over https, wss and tls:// (the TCP port) trusting it by its
CA file, a client that does not trust it refused, and plain text refused on both ports."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from harness import WAIT_S, ServerProcess, self_signed_cert, unique_name
from pigeon.client import Codec, ConnectionOptions, MessageEvent, PigeonClient, TlsOptions
from pigeon.protocol import framing, protobuf

PASSWORD = "correct-horse-battery"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path / "tls")


@pytest.fixture
def tls_server(
    server_factory: Callable[..., ServerProcess], tls_files: tuple[Path, Path]
) -> ServerProcess:
    cert, key = tls_files
    return server_factory("tls", args=["--tls-cert", str(cert), "--tls-key", str(key)])


@pytest.fixture
async def trusting(
    tls_server: ServerProcess, tls_files: tuple[Path, Path]
) -> AsyncIterator[Callable[[], PigeonClient]]:
    """Clients of the TLS server that trust its certificate (closed after the test)."""
    made: list[PigeonClient] = []

    def make() -> PigeonClient:
        client = PigeonClient(
            f"https://127.0.0.1:{tls_server.port}", tls=TlsOptions(ca_file=tls_files[0])
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.mark.parametrize("wire", ["wss+json", "wss+proto", "tls"])
async def test_the_sdk_talks_https_and_wss_or_tls_to_a_tls_server(
    tls_server: ServerProcess, trusting: Callable[[], PigeonClient], wire: str
) -> None:
    alice, bob = trusting(), trusting()
    await alice.register(unique_name(), PASSWORD)
    await bob.register(unique_name(), PASSWORD)
    assert alice.user is not None
    assert bob.user is not None
    config = await alice.config()
    assert config["ws_url"] == f"wss://127.0.0.1:{tls_server.port}/ws"
    conv = str((await alice.open_direct(str(bob.user["id"])))["id"])

    options = ConnectionOptions(
        codec=Codec.JSON if wire == "wss+json" else Codec.PROTO,
        url=f"tls://127.0.0.1:{tls_server.tcp_port}" if wire == "tls" else None,
        connect_timeout=WAIT_S,
        request_timeout=WAIT_S,
    )
    conn_a = await alice.connect(options=options)
    conn_b = await bob.connect(options=options)
    ack = await conn_a.send(conv, body="over tls")
    async with asyncio.timeout(WAIT_S):
        async for event in conn_b.events():
            if isinstance(event, MessageEvent):
                assert (event.seq, event.message.body) == (ack.seq, {"text": "over tls"})
                break


async def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls_server: ServerProcess,
) -> None:
    async with PigeonClient(f"https://127.0.0.1:{tls_server.port}") as stranger:
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as refused:
            await stranger.config()
    assert isinstance(refused.value.certificate_error, ssl.SSLCertVerificationError)


@pytest.mark.parametrize("port", ["http", "tcp"])
async def test_plain_text_on_a_tls_port_gets_no_answer(
    tls_server: ServerProcess, port: str
) -> None:
    if port == "http":
        target, request = tls_server.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    else:
        ping = protobuf.encode_command({"t": "ping", "rid": 1})
        target, request = tls_server.tcp_port, framing.encode(ping)
    reader, writer = await asyncio.open_connection("127.0.0.1", target)
    writer.write(request)
    await writer.drain()
    async with asyncio.timeout(WAIT_S):
        reply = await reader.read()  # until the server drops the connection
    writer.close()
    # At most a TLS alert: no HTTP response, no framed Envelope.
    assert b"HTTP/1.1" not in reply
    assert not reply.startswith(b"\x00\x00")
