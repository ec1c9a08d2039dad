"""The same bad input over every transport gets the same answer: WebSocket + JSON,
WebSocket + Protobuf and TCP + Protobuf are given the same malformed commands —
bytes that do not decode, an empty frame, a type the client may not send, missing
and wrong fields, an oversized frame — and must answer each with the same error code
(or close code), keeping the connection open where the contract says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from harness import ServerProcess
from pigeon.protocol import protobuf
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Frame

from .wireclient import Wire, WireClient
from .wsclient import Rest, direct, register

WIRES = list(Wire)
GARBAGE = b"\xff\xfe\x00not a frame{"


@pytest.fixture(params=WIRES, ids=[w.value for w in WIRES])
def wire(request: pytest.FixtureRequest) -> Wire:
    return Wire(request.param)


Opener = Callable[[], Awaitable[WireClient]]


@pytest.fixture
async def opener(
    wire: Wire, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> AsyncIterator[Opener]:
    opened: list[WireClient] = []

    async def open_one() -> WireClient:
        client = await WireClient.open(wire, http, shared_server, shared_server.tcp_port)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        await client.close()


def _type_the_client_may_not_send(wire: Wire) -> bytes:
    """A ``pong`` sent to the server: a server frame, not a command, in the wire's codec."""
    frame = {"t": "pong", "ts": 1}
    return b'{"t": "pong", "ts": 1}' if wire is Wire.WS_JSON else protobuf.encode_frame(frame)


def _empty_frame(wire: Wire) -> bytes:
    """A frame that names no type: ``{}`` in JSON, an empty Envelope in Protobuf."""
    return b"{}" if wire is Wire.WS_JSON else b""


async def _error_code(client: WireClient, raw: bytes) -> int:
    await client.channel.send_raw(raw)
    return int((await client.expect("error"))["code"])


async def test_bad_frames_get_the_same_codes_on_every_wire(
    wire: Wire, opener: Opener, rest: Rest
) -> None:
    alice, bob = await register(rest), await register(rest)
    conv = await direct(rest, alice, bob)
    client = await opener()

    # Before auth: anything but auth is refused, and the connection stays open.
    answer = await client.request({"t": "ping"})
    assert (answer["t"], answer["code"]) == ("error", ErrorCode.NOT_AUTHENTICATED)
    assert await _error_code(client, GARBAGE) == ErrorCode.MALFORMED_FRAME
    await client.auth(alice.access)

    assert await _error_code(client, GARBAGE) == ErrorCode.MALFORMED_FRAME
    assert await _error_code(client, _empty_frame(wire)) == ErrorCode.MALFORMED_FRAME
    assert await _error_code(client, _type_the_client_may_not_send(wire)) == (
        ErrorCode.UNKNOWN_TYPE
    )
    send: Frame = {"t": "send", "cid": "ok", "conv": conv, "kind": "text", "body": {"text": "x"}}
    faulty: list[Frame] = [
        {k: v for k, v in send.items() if k != "cid"},  # missing cid
        {k: v for k, v in send.items() if k != "conv"},  # missing conv
        {**send, "cid": "c" * 65},  # too long
        {"t": "pull"},  # missing conv
        {"t": "pull", "conv": conv, "limit": 0},
        {"t": "read", "conv": conv},  # missing seq
        {"t": "recv", "seq": 1},  # missing conv
        {"t": "typing", "conv": conv},  # missing on
        {"t": "sync", "cursor": ""},
    ]
    for frame in faulty:
        answer = await client.request(frame)
        assert (answer["t"], answer["code"]) == ("error", ErrorCode.BAD_REQUEST), frame
    answer = await client.request({**send, "kind": "text", "body": {"text": 5}})
    assert (answer["code"], answer["cid"]) == (ErrorCode.INVALID_BODY, "ok")
    answer = await client.request({"t": "auth", "token": alice.access})
    assert answer["code"] == ErrorCode.ALREADY_AUTHENTICATED

    # After all that the connection still works.
    ack = await client.request(send, reply="ack")
    assert ack["seq"] == 1


async def test_an_oversized_frame_closes_with_1009_on_every_wire(
    opener: Opener, rest: Rest
) -> None:
    limit = (await rest.ok("GET", "config"))["limits"]["max_frame_bytes"]
    client = await opener()
    await client.auth((await register(rest)).access)
    await client.channel.send_raw(b"x" * (limit + 1))
    assert await client.closed() == CloseCode.MESSAGE_TOO_BIG
