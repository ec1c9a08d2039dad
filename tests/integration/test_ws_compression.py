"""permessage-deflate on ``/ws`` against a real server (``ws_compression`` on).

Two kinds of client: ``DeflateSocket`` below, a WebSocket over a plain socket that
shows the RSV1 bit of every server frame and sends deflate data of the test's choice
(broken streams, bombs), and the ``websockets`` library with its own deflate, as an
unrelated client would compress. Server frames are inflated with a fresh inflater
each, which only works because the server never takes its context over.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from harness import WAIT_S, ServerProcess, unique_name
from pigeon.client import ConnectionOptions, MessageEvent, PigeonClient
from pigeon.client.channel import WebSocketChannel, open_channel
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.wire import Codec

from .codecclient import JSON, PROTO, CodecSocket
from .live import run_server
from .people import create_group
from .wsclient import Account, Frame, Rest, direct, register

OFFER = "permessage-deflate; client_max_window_bits"
MAX_FRAME_BYTES = 64 * 1024  # the server's default max_frame_bytes
MIN_BYTES = 64  # the server's default ws_compression_min_bytes
TAIL = b"\x00\x00\xff\xff"
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


@pytest.fixture(scope="module")
def deflating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with ``ws_compression`` on; the module's ``shared_server`` has it off."""
    yield from run_server(tmp_path_factory.mktemp("deflate"), {"PIGEON_WS_COMPRESSION": "true"})


@pytest.fixture
def rest_on(http: aiohttp.ClientSession, deflating: ServerProcess) -> Rest:
    return Rest(http, deflating)


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """One message compressed the RFC 7692 way: raw deflate, sync flush, tail removed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[: -len(TAIL)]


class DeflateSocket:
    """A WebSocket over a plain socket, offering permessage-deflate itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.headers: dict[str, str] = {}
        self.wbits = 15
        self._compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # context taken over

    @classmethod
    async def open(cls, server: ServerProcess, offer: str | None = OFFER) -> DeflateSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        extension = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else ""
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert head.startswith(b"HTTP/1.1 101"), head
        socket = cls(reader, writer)
        for line in head.decode().split("\r\n")[1:]:
            name, _, value = line.partition(":")
            socket.headers[name.strip().lower()] = value.strip()
        for param in socket.extension.split(";"):
            if param.strip().startswith("server_max_window_bits="):
                socket.wbits = int(param.split("=")[1])
        return socket

    @property
    def extension(self) -> str:
        return self.headers.get("sec-websocket-extensions", "")

    async def send_raw(self, opcode: int, payload: bytes, *, rsv1: bool) -> None:
        mask = os.urandom(4)
        first = 0x80 | (0x40 if rsv1 else 0) | opcode
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", first, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def send(self, frame: Frame, *, compress: bool = True) -> None:
        data = orjson.dumps(frame)
        if compress:  # keeps its context between messages, as RFC 7692 allows a client
            out = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
            data = out[: -len(TAIL)]
        await self.send_raw(TEXT, data, rsv1=compress)

    async def read(self) -> tuple[int, bool, bytes]:
        """The next frame: (opcode, RSV1, payload as it came)."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), WAIT_S)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, bool(first & 0x40), await self.reader.readexactly(length)

    async def next_frame(self) -> tuple[bool, bytes]:
        """The next data message, inflated with a fresh inflater: (was compressed, bytes)."""
        opcode, rsv1, payload = await self.read()
        assert opcode in (TEXT, BINARY), (opcode, payload[:100])
        if rsv1:
            payload = zlib.decompressobj(-self.wbits).decompress(payload + TAIL)
        return rsv1, payload

    async def expect(self, t: str) -> tuple[bool, bytes]:
        for _ in range(100):
            rsv1, data = await self.next_frame()
            if orjson.loads(data)["t"] == t:
                return rsv1, data
        raise AssertionError(f"no {t}")

    async def close_code(self) -> int | None:
        for _ in range(1000):
            try:
                opcode, _, payload = await self.read()
            except asyncio.IncompleteReadError:
                return None
            if opcode == CLOSE:
                return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else None
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[list[DeflateSocket]]:
    opened: list[DeflateSocket] = []
    yield opened
    for socket in opened:
        socket.close()


async def signed_in(
    server: ServerProcess, account: Account, raw: list[DeflateSocket], offer: str | None = OFFER
) -> DeflateSocket:
    socket = await DeflateSocket.open(server, offer)
    raw.append(socket)
    await socket.send({"t": "auth", "token": account.access}, compress=bool(socket.extension))
    await socket.expect("ready")
    return socket


async def test_negotiated_only_when_offered_and_enabled(
    deflating: ServerProcess, shared_server: ServerProcess, raw: list[DeflateSocket]
) -> None:
    for server, offer, agreed in (
        (deflating, OFFER, "permessage-deflate"),
        (deflating, None, ""),
        (shared_server, OFFER, ""),  # setting off: the offer is ignored
        (deflating, "permessage-deflate; server_max_window_bits=10", "server_max_window_bits=10"),
        (deflating, "permessage-deflate; server_max_window_bits=8", ""),  # zlib cannot do 8
        (deflating, "x-webkit-deflate-frame", ""),
    ):
        socket = await DeflateSocket.open(server, offer)
        raw.append(socket)
        assert (agreed in socket.extension) if agreed else not socket.extension, (
            offer,
            socket.headers,
        )


async def test_large_messages_compressed_small_ones_not(
    rest_on: Rest, deflating: ServerProcess, raw: list[DeflateSocket]
) -> None:
    alice, bob = await register(rest_on, "za"), await register(rest_on, "zb")
    conv = await direct(rest_on, alice, bob)
    sender = await signed_in(deflating, alice, raw)
    plain = await signed_in(deflating, bob, raw, offer=None)
    narrow = await signed_in(deflating, bob, raw, "permessage-deflate; server_max_window_bits=9")
    await sender.send({"t": "ping", "rid": 1})
    compressed, pong = await sender.expect("pong")
    assert len(pong) < MIN_BYTES
    assert not compressed
    text = "pigeon " * 400
    await sender.send(
        {"t": "send", "cid": "big-1", "conv": conv, "kind": "text", "body": {"text": text}}
    )
    plain_rsv1, plain_bytes = await plain.expect("msg")
    narrow_rsv1, narrow_bytes = await narrow.expect("msg")
    assert not plain_rsv1
    assert narrow_rsv1
    assert narrow_bytes == plain_bytes
    assert orjson.loads(plain_bytes)["body"]["text"] == text


async def test_fanout_shares_compressed_bytes_and_decodes_like_plain(
    rest_on: Rest, deflating: ServerProcess, raw: list[DeflateSocket]
) -> None:
    owner = await register(rest_on, "zo")
    members = [await register(rest_on, "zm") for _ in range(6)]
    conv = (await create_group(rest_on, owner, members))["id"]
    squeezed = [await signed_in(deflating, m, raw) for m in members[:3]]
    plain = await signed_in(deflating, members[3], raw, offer=None)
    codec_sockets = []
    for member, offer in ((members[4], PROTO), (members[5], JSON)):
        socket = await CodecSocket.open(deflating, offer, deflate=True)
        codec_sockets.append(socket)
        await socket.auth(member.access)
    try:
        poster = await CodecSocket.open(deflating, PROTO, deflate=True)
        codec_sockets.append(poster)
        await poster.auth(owner.access)
        body = {"text": "fan-out " * 100}
        await poster.request(
            {"t": "send", "cid": "fan-1", "conv": conv, "kind": "text", "body": body}, "ack"
        )
        wire = [await s.read() for s in squeezed]  # the first frame after ready: the push
        assert all(opcode == TEXT and rsv1 for opcode, rsv1, _ in wire)
        assert len({payload for _, _, payload in wire}) == 1  # one encoding for all three
        inflated = zlib.decompressobj(-15).decompress(wire[0][2] + TAIL)
        _, plain_bytes = await plain.expect("msg")
        assert inflated == plain_bytes
        expected = orjson.loads(plain_bytes)
        assert expected["body"] == body
        for socket in codec_sockets[:2]:
            assert await socket.expect("msg", conv=conv) == expected
    finally:
        for socket in codec_sockets:
            await socket.close()


@pytest.mark.parametrize("offer", [PROTO, JSON], ids=["proto", "json"])
async def test_compressing_client_chats_in_both_codecs(
    rest_on: Rest, deflating: ServerProcess, offer: list[str]
) -> None:
    alice, bob = await register(rest_on, "zc"), await register(rest_on, "zd")
    conv = await direct(rest_on, alice, bob)
    a = await CodecSocket.open(deflating, offer, deflate=True)
    b = await CodecSocket.open(deflating, offer, deflate=True)
    try:
        assert "permessage-deflate" in a.ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert a.codec is Codec.for_subprotocol(offer[0])
        await a.auth(alice.access)
        await b.auth(bob.access)
        for n in range(3):  # the client keeps its context: later messages refer back
            text = f"message {n}: " + "compressible " * 50
            cid = f"c{n}"
            ack = await a.request(
                {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": text}},
                "ack",
            )
            assert ack["seq"] == n + 1
            assert (await b.expect("msg", cid=cid))["body"]["text"] == text
    finally:
        await a.close()
        await b.close()


async def test_inflated_size_limit_is_inclusive(
    rest_on: Rest, deflating: ServerProcess, raw: list[DeflateSocket]
) -> None:
    account = await register(rest_on, "ze")
    socket = await signed_in(deflating, account, raw)
    shell = orjson.dumps({"t": "ping", "rid": 7, "pad": ""})
    exact = orjson.dumps({"t": "ping", "rid": 7, "pad": "x" * (MAX_FRAME_BYTES - len(shell))})
    assert len(exact) == MAX_FRAME_BYTES
    await socket.send_raw(TEXT, deflate(exact), rsv1=True)
    assert orjson.loads((await socket.expect("pong"))[1])["rid"] == 7
    over = orjson.dumps({"t": "ping", "rid": 8, "pad": "x" * (MAX_FRAME_BYTES + 1 - len(shell))})
    await socket.send_raw(TEXT, deflate(over), rsv1=True)
    assert await socket.close_code() == CloseCode.MESSAGE_TOO_BIG


def _peak_rss_kib(server: ServerProcess) -> int:
    """The server process's peak resident memory so far (VmHWM), in KiB."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


async def test_decompression_bomb_closes_1009_and_others_carry_on(
    rest_on: Rest, deflating: ServerProcess, raw: list[DeflateSocket]
) -> None:
    bomber, bystander = await register(rest_on, "zf"), await register(rest_on, "zg")
    inflated = 60_000_000
    bomb = deflate(b"\x00" * inflated)
    assert len(bomb) < MAX_FRAME_BYTES  # under the limit on the wire, 900 times it inflated
    attacker = await signed_in(deflating, bomber, raw)
    other = await signed_in(deflating, bystander, raw)
    peak_before = _peak_rss_kib(deflating)
    await attacker.send_raw(TEXT, bomb, rsv1=True)
    assert await attacker.close_code() == CloseCode.MESSAGE_TOO_BIG
    # The server stopped inflating at the limit: its peak memory never held the bomb.
    grown_kib = _peak_rss_kib(deflating) - peak_before
    assert grown_kib < inflated // 1024 // 4, f"peak RSS grew {grown_kib} KiB"
    await other.send({"t": "ping", "rid": 9})
    await other.expect("pong")
    again = await signed_in(deflating, bomber, raw)  # the server took new sockets too
    await again.send({"t": "ping", "rid": 10})
    await again.expect("pong")


async def test_corrupt_deflate_closes_1007(
    rest_on: Rest, deflating: ServerProcess, raw: list[DeflateSocket]
) -> None:
    socket = await signed_in(deflating, await register(rest_on, "zh"), raw)
    await socket.send_raw(TEXT, b"\xff\xff\xff\xff", rsv1=True)  # block type 3 is reserved
    assert await socket.close_code() == CloseCode.INVALID_PAYLOAD


@pytest.mark.parametrize("where", ["off", "not offered"])
async def test_rsv1_without_the_extension_closes_1002(
    rest_on: Rest,
    deflating: ServerProcess,
    shared_server: ServerProcess,
    raw: list[DeflateSocket],
    where: str,
) -> None:
    server = shared_server if where == "off" else deflating
    socket = await DeflateSocket.open(server, OFFER if where == "off" else None)
    raw.append(socket)
    assert not socket.extension
    await socket.send_raw(TEXT, deflate(b'{"t": "ping"}'), rsv1=True)
    assert await socket.close_code() == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("codec", [Codec.JSON, Codec.PROTO], ids=["json", "proto"])
async def test_sdk_offers_compression_when_asked(
    deflating: ServerProcess, shared_server: ServerProcess, codec: Codec
) -> None:
    async with aiohttp.ClientSession() as session:
        for server, compress, agreed in (
            (deflating, True, True),
            (deflating, False, False),
            (shared_server, True, False),
        ):
            channel = await open_channel(session, server.ws_url, codec, compress=compress)
            assert isinstance(channel, WebSocketChannel)
            assert channel.compressed is agreed
            await channel.close()
    alice, bob = PigeonClient(deflating.base_url), PigeonClient(deflating.base_url)
    try:
        for client in (alice, bob):
            await client.register(unique_name("zs"), "correct-horse-battery")
        conv = (await alice.open_direct(str((await bob.call("GET", "/users/me"))["id"])))["id"]
        options = ConnectionOptions(codec=codec, compress=True, connect_timeout=WAIT_S)
        conn_a = await alice.connect(options=options)
        conn_b = await bob.connect(options=options)
        events = conn_b.events()
        text = "squeezed " * 300
        await conn_a.send(conv, body=text)
        async with asyncio.timeout(WAIT_S):
            async for event in events:
                if isinstance(event, MessageEvent):
                    assert event.message.body == {"text": text}
                    break
        await conn_a.close()
        await conn_b.close()
    finally:
        await alice.close()
        await bob.close()


def test_server_log_has_no_tracebacks(deflating: ServerProcess) -> None:
    assert "Traceback" not in deflating.log(), deflating.log()[-3000:]
