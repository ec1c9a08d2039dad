"""The SDK's transport seam: URL parsing, the close-code rules it derives, and the TCP
channel against a real socket on loopback (a tiny server in the test speaks the framing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from harness import WAIT_S
from pigeon.client.channel import (
    ABNORMAL_CLOSE,
    ChannelClosed,
    ChannelUnsupported,
    Endpoint,
    StreamChannel,
    Transport,
)
from pigeon.client.link import FINAL_CLOSE_CODES, TOKEN_CLOSE_CODES
from pigeon.protocol import framing, protobuf
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.frames import Command, Frame, Ping
from pigeon.protocol.wire import Codec


def test_close_code_rules_come_from_the_protocol() -> None:
    assert {CloseCode(c) for c in TOKEN_CLOSE_CODES} == {c for c in CloseCode if c.needs_new_token}
    assert {4001, 4002, 4003} == TOKEN_CLOSE_CODES
    assert {int(CloseCode.TOO_MANY_SOCKETS)} == FINAL_CLOSE_CODES


@pytest.mark.parametrize(
    ("url", "transport", "secure", "host", "port"),
    [
        ("ws://127.0.0.1:8080/ws", Transport.WEBSOCKET, False, "127.0.0.1", 8080),
        ("wss://chat.example/ws", Transport.WEBSOCKET, True, "chat.example", 443),
        ("tcp://127.0.0.1:9000", Transport.TCP, False, "127.0.0.1", 9000),
        ("TLS://[::1]:9443", Transport.TCP, True, "::1", 9443),
    ],
)
def test_endpoints(url: str, transport: Transport, secure: bool, host: str, port: int) -> None:
    endpoint = Endpoint.parse(url)
    assert (endpoint.transport, endpoint.secure, endpoint.host, endpoint.port) == (
        transport,
        secure,
        host,
        port,
    )


@pytest.mark.parametrize("url", ["http://host/ws", "tcp://host", "tls://host:99999", "host:1"])
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(ChannelUnsupported):
        Endpoint.parse(url)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def tcp_peer() -> AsyncIterator[Callable[[Script], Awaitable[StreamChannel]]]:
    """A loopback server that runs ``script`` on the one connection a channel opens."""
    servers: list[asyncio.Server] = []
    channels: list[StreamChannel] = []

    async def open_with(script: Script) -> StreamChannel:
        server = await asyncio.start_server(script, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        channel = StreamChannel(reader, writer)
        channels.append(channel)
        return channel

    yield open_with
    for channel in channels:
        await channel.close()
    for server in servers:
        server.close()
        await server.wait_closed()


def _framed(frame: Frame) -> bytes:
    return framing.encode(protobuf.encode_frame(frame))


async def test_frames_both_ways_and_the_close_frame_carries_the_code(
    tcp_peer: Callable[[Script], Awaitable[StreamChannel]],
) -> None:
    received: list[Command] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = framing.FrameDecoder(1 << 16)
        while not received:
            for payload in decoder.feed(await reader.read(4096)):
                received.append(protobuf.decode_command(payload))
        # Two frames in one write, a payload that is not an Envelope between them, and
        # the close frame; then the stream ends.
        writer.write(
            _framed({"t": "pong", "ts": 7, "rid": 1})
            + framing.encode(b"\xff\xff")
            + _framed({"t": "close", "code": 4010, "reason": "heartbeat timeout"})
        )
        await writer.drain()
        writer.close()

    channel = await tcp_peer(script)
    assert channel.codec is Codec.PROTO
    await channel.send({"t": "ping", "rid": 1})
    async with asyncio.timeout(WAIT_S):
        assert await channel.receive() == {"t": "pong", "ts": 7, "rid": 1}
        with pytest.raises(ChannelClosed) as closed:
            await channel.receive()
    assert (closed.value.code, closed.value.reason) == (4010, "heartbeat timeout")
    assert received == [Ping(rid=1)]
    with pytest.raises(ChannelClosed):
        await channel.send({"t": "ping"})  # the channel stays ended


async def test_a_stream_that_ends_without_a_close_frame_is_1006(
    tcp_peer: Callable[[Script], Awaitable[StreamChannel]],
) -> None:
    async def script(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(framing.HEADER.pack(10) + b"part")  # a frame cut short
        await writer.drain()
        writer.close()

    channel = await tcp_peer(script)
    async with asyncio.timeout(WAIT_S):
        with pytest.raises(ChannelClosed) as closed:
            await channel.receive()
    assert closed.value.code == ABNORMAL_CLOSE
