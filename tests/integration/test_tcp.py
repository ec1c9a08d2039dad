"""The raw TCP transport against a real server: auth first and in time, heartbeat,
rate limits, a client too slow to read, the per-address caps it shares with HTTP,
and the `close` frame that carries every close code (TCP has none of its own)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from harness import WAIT_S, ServerProcess
from pigeon.protocol import framing, protobuf
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode

from .wireclient import TcpChannel, Wire, WireClient
from .wsclient import Rest, direct, register


@pytest.fixture
async def tcp_clients() -> AsyncIterator[list[WireClient]]:
    opened: list[WireClient] = []
    yield opened
    for client in opened:
        await client.close()


async def open_tcp(
    server: ServerProcess, http: aiohttp.ClientSession, opened: list[WireClient]
) -> WireClient:
    client = await WireClient.open(Wire.TCP_PROTO, http, server, server.tcp_port)
    opened.append(client)
    return client


async def test_auth_first_in_time_and_a_bad_token_closes_4001(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    tcp_clients: list[WireClient],
) -> None:
    server = server_factory("auth", env={"PIGEON_AUTH_TIMEOUT_S": "2"})
    silent = await open_tcp(server, http, tcp_clients)
    assert await silent.closed() == CloseCode.AUTH_TIMEOUT

    client = await open_tcp(server, http, tcp_clients)
    early = await client.request({"t": "sync"})
    assert early["code"] == ErrorCode.NOT_AUTHENTICATED
    refused = await client.request({"t": "auth", "token": "not-a-token"})
    assert refused["code"] == ErrorCode.TOKEN_INVALID
    assert await client.closed() == CloseCode.BAD_TOKEN
    channel = client.channel
    assert isinstance(channel, TcpChannel)
    assert channel.close_frame is not None
    assert channel.close_frame["reason"]  # the close frame says why


async def test_a_silent_connection_is_closed_4010_and_pings_keep_one_open(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    tcp_clients: list[WireClient],
) -> None:
    server = server_factory("heartbeat", env={"PIGEON_HEARTBEAT_S": "1"})
    account = await register(Rest(http, server))
    pinging = await open_tcp(server, http, tcp_clients)
    ready = await pinging.auth(account.access)
    assert ready["heartbeat"] == 1
    silent = await open_tcp(server, http, tcp_clients)
    await silent.auth(account.access)

    closing = asyncio.create_task(silent.closed())
    while not closing.done():  # bounded by closed()'s own deadline
        await pinging.request({"t": "ping"}, reply="pong")
        await asyncio.wait({closing}, timeout=0.3)
    assert closing.result() == CloseCode.HEARTBEAT_TIMEOUT
    assert (await pinging.request({"t": "ping"}))["t"] == "pong"


async def test_rate_limits_answer_42900_then_close_4008(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    tcp_clients: list[WireClient],
) -> None:
    server = server_factory(
        "rate",
        env={
            "PIGEON_SEND_RATE_PER_S": "0.01",
            "PIGEON_SEND_BURST": "1",
            "PIGEON_RATE_VIOLATIONS_BEFORE_CLOSE": "3",
        },
    )
    rest = Rest(http, server)
    alice, bob = await register(rest), await register(rest)
    conv = await direct(rest, alice, bob)
    client = await open_tcp(server, http, tcp_clients)
    await client.auth(alice.access)
    send = {"t": "send", "conv": conv, "kind": "text", "body": {"text": "hi"}}
    assert (await client.request({**send, "cid": "one"}))["t"] == "ack"
    for n in range(2):
        refused = await client.request({**send, "cid": f"fast{n}"})
        assert (refused["code"], refused["cid"]) == (ErrorCode.RATE_LIMITED, f"fast{n}")
    await client.send({**send, "cid": "last"})
    assert await client.closed() == CloseCode.POLICY


async def test_a_client_that_stops_reading_is_closed_4009(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(
        "slow",
        env={
            "PIGEON_SEND_QUEUE_BYTES": "200000",
            "PIGEON_MAX_TEXT_CHARS": "60000",
            "PIGEON_MAX_BODY_BYTES": "61000",
        },
    )
    rest = Rest(http, server)
    alice, bob = await register(rest), await register(rest)
    conv = await direct(rest, alice, bob)
    # Bob's socket has a small receive buffer and reads nothing after `ready`.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.tcp_port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    slow = WireClient(TcpChannel(reader, writer))
    try:
        await slow.auth(bob.access)
        body = {"text": "z" * 50_000}
        for n in range(2000):  # bounded; the server gives up long before
            await rest.ok(
                "POST",
                f"conversations/{conv}/messages",
                token=alice.access,
                json={"cid": f"big{n}", "kind": "text", "body": body},
            )
            if await _pushes_dropped(rest) > 0:
                break
        assert await _pushes_dropped(rest) > 0
        assert await slow.closed() == CloseCode.TOO_SLOW
    finally:
        await slow.close()


async def _pushes_dropped(rest: Rest) -> float:
    reply = await rest.call("GET", "/metrics")
    for line in reply.text.splitlines():
        if line.startswith("pigeon_pushes_dropped_total "):
            return float(line.split()[1])
    return 0.0


async def test_tcp_and_http_share_the_per_address_pending_cap(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
    tcp_clients: list[WireClient],
) -> None:
    server = server_factory("caps", env={"PIGEON_MAX_PENDING_PER_IP": "2"})
    rest = Rest(http, server)
    account = await register(rest)  # before the cap fills up
    first = await open_tcp(server, http, tcp_clients)
    second = await open_tcp(server, http, tcp_clients)
    await second.request({"t": "ping"})  # both are admitted and pending (not signed in)

    refused = await open_tcp(server, http, tcp_clients)
    error = await refused.expect("error")
    assert error["code"] == ErrorCode.TOO_MANY_CONNECTIONS
    assert await refused.closed() == CloseCode.TRY_AGAIN_LATER
    # One count for both ports: an HTTP request from the same address is refused too.
    reply = await rest.call("GET", "/healthz")
    assert (reply.status, reply.code) == (429, ErrorCode.TOO_MANY_CONNECTIONS)

    await first.auth(account.access)  # signed in: no longer pending
    third = await open_tcp(server, http, tcp_clients)
    assert (await third.auth(account.access))["t"] == "ready"


async def test_a_header_over_the_limit_closes_1009_before_the_payload(
    http: aiohttp.ClientSession, shared_server: ServerProcess, tcp_clients: list[WireClient]
) -> None:
    client = await open_tcp(shared_server, http, tcp_clients)
    channel = client.channel
    assert isinstance(channel, TcpChannel)
    # A ping, then a header announcing 1 GiB, in one write: the ping is answered, then
    # the connection closes without the server waiting for the payload.
    ping = framing.encode(protobuf.encode_command({"t": "ping", "rid": "p"}))
    await channel.send_bytes(ping + framing.HEADER.pack(1 << 30))
    answer = await client.reply_to("p")
    assert answer["code"] == ErrorCode.NOT_AUTHENTICATED
    async with asyncio.timeout(WAIT_S):
        assert await client.closed() == CloseCode.MESSAGE_TOO_BIG
