"""Connection-level defences against a real server over real sockets: header timeout,
per-address and global socket caps (with a lowered fd limit), per-user socket cap,
WebSocket frame size edge, masking, control-frame pings, logged close codes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import resource
import socket
import struct
import time
from collections.abc import Callable, Iterator

import aiohttp
import orjson

from harness import ServerProcess

from .wsclient import WAIT_S, RawSocket, Rest, connect, register

TOO_MANY_CONNECTIONS, HEAD_TIMEOUT = 42901, 40020
PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "


# --- raw sockets


def _open_from(server: ServerProcess, source: str) -> socket.socket:
    """A blocking TCP socket to the server from a given loopback source address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(WAIT_S)
    sock.connect(("127.0.0.1", server.port))
    return sock


def _reply_of(sock: socket.socket, timeout: float = WAIT_S) -> bytes:
    """Everything the server sends until it closes the socket (b"" on a reset)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _envelope_code(reply: bytes) -> int:
    _, _, body = reply.partition(b"\r\n\r\n")
    return int(orjson.loads(body)["code"])


def _healthz_from(server: ServerProcess, source: str = "127.0.0.1") -> bytes:
    with _open_from(server, source) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        return _reply_of(sock)


def _ws_frame(opcode: int, payload: bytes, *, masked: bool = True) -> bytes:
    length = len(payload)
    flag = 0x80 if masked else 0
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, flag | length)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, flag | 126, length)
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def _authed_raw(server: ServerProcess, token: str) -> RawSocket:
    raw = await RawSocket.open(server, receive_buffer=1 << 20)
    await raw.send({"t": "auth", "token": token})
    assert (await raw.read_frame())["t"] == "ready"
    return raw


@contextlib.contextmanager
def _lowered_fd_limit(soft: int) -> Iterator[None]:
    """Children started inside inherit a soft RLIMIT_NOFILE of ``soft``."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


# --- slowloris and caps


def test_slowloris_over_the_fd_limit_leaves_healthz_answering(
    server_factory: Callable[..., ServerProcess],
) -> None:
    # 300 half-sent heads from six addresses (50 each, under the per-address cap) on
    # a server allowed 256 file descriptors: without a global cap it runs out of fds.
    with _lowered_fd_limit(256):
        server = server_factory(env={"PIGEON_HEADER_TIMEOUT_S": "3"})
    sockets: list[socket.socket] = []
    try:
        for n in range(300):
            sock = _open_from(server, f"127.0.0.{2 + n % 6}")
            sock.sendall(PARTIAL_HEAD)
            sockets.append(sock)
        for _ in range(3):
            assert b"alive" in _healthz_from(server)
        # Every half-open socket ends: the newest at the header timeout (40020), older
        # ones earlier, dropped to make room (503).
        replies = [_reply_of(sock) for sock in sockets]
        codes = [_envelope_code(r) for r in replies if r]
        assert HEAD_TIMEOUT in codes
        assert set(codes) <= {HEAD_TIMEOUT, 50300}
    finally:
        for sock in sockets:
            sock.close()
    assert b"alive" in _healthz_from(server)


def test_a_partial_head_is_closed_after_the_header_timeout_also_on_keep_alive(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(env={"PIGEON_HEADER_TIMEOUT_S": "1"})
    with _open_from(server, "127.0.0.1") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head
        sock.sendall(PARTIAL_HEAD)  # the next request on the kept-alive connection
        reply = _reply_of(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply
    assert _envelope_code(reply) == HEAD_TIMEOUT


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(env={"PIGEON_KEEPALIVE_TIMEOUT_S": "1"})
    with _open_from(server, "127.0.0.1") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = _reply_of(sock)  # the response, then the close once idle
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert reply.count(b"HTTP/1.1") == 1


def test_per_address_pending_cap_refuses_with_42901_and_spares_others(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(
        env={"PIGEON_MAX_PENDING_PER_IP": "3", "PIGEON_TRUSTED_PROXIES": "127.0.0.30"}
    )
    held: list[socket.socket] = []
    try:
        for _ in range(3):
            held.append(_open_from(server, "127.0.0.20"))
            held[-1].sendall(PARTIAL_HEAD)
        with _open_from(server, "127.0.0.20") as fourth:
            reply = _reply_of(fourth)
        assert reply.startswith(b"HTTP/1.1 429"), reply
        assert _envelope_code(reply) == TOO_MANY_CONNECTIONS
        # Another address, and a trusted proxy (it speaks for many), are not limited.
        assert b"alive" in _healthz_from(server, "127.0.0.21")
        for _ in range(4):
            held.append(_open_from(server, "127.0.0.30"))
            held[-1].sendall(PARTIAL_HEAD)
        assert b"alive" in _healthz_from(server, "127.0.0.30")
    finally:
        for sock in held:
            sock.close()


def test_per_address_total_cap_counts_kept_alive_connections(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(env={"PIGEON_MAX_CONNECTIONS_PER_IP": "2"})
    held = [_open_from(server, "127.0.0.22") for _ in range(2)]
    try:
        for sock in held:  # complete requests: idle, not pending, still open
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        with _open_from(server, "127.0.0.22") as third:
            assert _envelope_code(_reply_of(third)) == TOO_MANY_CONNECTIONS
    finally:
        for sock in held:
            sock.close()


async def test_authenticated_sockets_leave_the_pending_count(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env={"PIGEON_MAX_PENDING_PER_IP": "2"})
    account = await register(Rest(http, server))
    # Sockets from 127.0.0.1: two authenticated WebSockets, then two more requests.
    first, _ = await connect(http, server, account)
    second, _ = await connect(http, server, account)
    try:
        await first.barrier()
        await second.barrier()
        with _open_from(server, "127.0.0.1") as a, _open_from(server, "127.0.0.1") as b:
            a.sendall(PARTIAL_HEAD)
            b.sendall(PARTIAL_HEAD)
            with _open_from(server, "127.0.0.1") as third:
                assert _envelope_code(_reply_of(third)) == TOO_MANY_CONNECTIONS
    finally:
        await first.close()
        await second.close()


async def test_a_user_over_the_socket_cap_loses_the_oldest_with_4011(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env={"PIGEON_MAX_SOCKETS_PER_USER": "2"})
    account = await register(Rest(http, server))
    oldest, _ = await connect(http, server, account, "a")
    middle, _ = await connect(http, server, account, "b")
    newest, _ = await connect(http, server, account, "c")
    try:
        assert await oldest.closed() == 4011
        await middle.barrier()
        await newest.barrier()
    finally:
        for client in (oldest, middle, newest):
            await client.close()


# --- WebSocket frames


async def test_a_frame_of_exactly_the_limit_is_accepted_and_one_more_closes_1009(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    rest = Rest(http, server)
    limit = (await rest.ok("GET", "config"))["limits"]["max_frame_bytes"]
    account = await register(rest)

    def ping_of(size: int) -> str:
        empty = orjson.dumps({"t": "ping", "rid": "edge", "pad": ""})
        return orjson.dumps({"t": "ping", "rid": "edge", "pad": "x" * (size - len(empty))}).decode()

    client, _ = await connect(http, server, account)
    try:
        frame = ping_of(limit)
        assert len(frame.encode()) == limit
        await client.send_raw(frame)
        assert (await client.expect_rid("edge"))["t"] == "pong"
    finally:
        await client.close()
    client, _ = await connect(http, server, account)
    try:
        await client.send_raw(ping_of(limit + 1))
        assert await client.closed() == 1009
    finally:
        await client.close()


async def test_an_unmasked_client_frame_closes_with_1002_unanswered(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    account = await register(Rest(http, server))
    raw = await _authed_raw(server, account.access)
    try:
        raw.writer.write(_ws_frame(0x1, b'{"t":"ping","rid":"bare"}', masked=False))
        await raw.writer.drain()
        frames, code = await raw.drain_until_close()
        assert code == 1002
        assert not [f for f in frames if f.get("rid") == "bare"]
    finally:
        raw.close()


async def test_control_pings_spend_the_frame_budget_and_close_with_4008(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env={"PIGEON_RATE_VIOLATIONS_BEFORE_CLOSE": "3"})
    account = await register(Rest(http, server))
    raw = await _authed_raw(server, account.access)
    try:
        # Far more than the frame burst (at least 100) in one write.
        raw.writer.write(_ws_frame(0x9, b"hi") * 2000)
        await raw.writer.drain()
        pongs = 0
        for _ in range(2100):
            opcode, payload = await asyncio.wait_for(raw.read(), WAIT_S)
            if opcode == 0xA:
                pongs += 1
            if opcode == 0x8:
                assert struct.unpack("!H", payload[:2])[0] == 4008
                break
        else:
            raise AssertionError("no close frame")
        assert 0 < pongs < 2000
    finally:
        raw.close()


async def test_an_upgrade_pipelined_behind_another_request_is_refused_1002(
    server: ServerProcess,
) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            + (
                f"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        data = frames = b""
        while len(frames) < 4:  # the 101, then the first frame's first four bytes
            chunk = await asyncio.wait_for(reader.read(65536), WAIT_S)
            assert chunk, data
            data += chunk
            _, _, upgraded = data.partition(b"HTTP/1.1 101")
            _, _, frames = upgraded.partition(b"\r\n\r\n")
        assert frames[:1] == b"\x88", data  # the first frame closes, with 1002
        assert struct.unpack("!H", frames[2:4])[0] == 1002
    finally:
        writer.close()


# --- close codes in the log


def _logged_close_codes(server: ServerProcess) -> list[int]:
    return [
        int(e["close_code"])
        for e in server.events()
        if e.get("event") == "disconnected" and e.get("close_code") is not None
    ]


def _wait_logged(server: ServerProcess, code: int) -> list[int]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        codes = _logged_close_codes(server)
        if code in codes:
            return codes
        time.sleep(0.05)  # polling a log file: there is no event for it
    raise AssertionError(f"no 'disconnected' with {code} in {_logged_close_codes(server)}")


async def test_the_log_names_the_close_code_the_server_sent(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    fast = server_factory("fast", env={"PIGEON_HEARTBEAT_S": "1"})
    client, _ = await connect(http, fast, await register(Rest(http, fast)))
    try:
        assert await client.closed() == 4010
    finally:
        await client.close()
    assert 1000 not in _wait_logged(fast, 4010)

    node = server_factory("node")
    client, _ = await connect(http, node, await register(Rest(http, node)))
    try:
        node.terminate()
        assert await client.closed() == 1012
    finally:
        await client.close()
    assert _logged_close_codes(node) == [1012]
