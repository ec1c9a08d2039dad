"""Plain HTTP and WebSocket helpers for the integration tests.

They speak the public protocol directly (aiohttp, JSON text frames), the way any
third-party app would — deliberately not through the Python SDK, so these tests
pin the wire contract rather than the SDK's view of it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from harness import WAIT_S, ServerProcess, unique_name

Frame = dict[str, Any]
FramePredicate = Callable[[Frame], bool]

PASSWORD = "correct-horse-battery"
MAX_FRAMES = 100_000  # most frames one wait reads before giving up


class Closed(Exception):
    """The server closed the WebSocket; ``code`` is its close code."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"websocket closed with {code}")
        self.code = code


# --- REST


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    text: str
    headers: CIMultiDictProxy[str]

    @property
    def data(self) -> Any:
        """The envelope's data, after checking it is a success envelope."""
        assert isinstance(self.body, dict), self.text
        assert self.body.get("code") == 0, self.text
        assert self.body.get("message") == "ok", self.text
        return self.body["data"]

    @property
    def code(self) -> int:
        assert isinstance(self.body, dict), self.text
        return int(self.body["code"])


class Rest:
    """Calls to one server's REST API, returning the raw reply for assertions."""

    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess) -> None:
        self.http = http
        self.server = server

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        url = self.server.base_url + ("" if path.startswith("/") else "/api/v1/") + path
        async with self.http.request(
            method, url, data=data, headers=sent, params=params
        ) as response:
            text = await response.text()
            try:
                body = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                body = None
            assert "Traceback" not in text, text
            return Reply(response.status, body, text, response.headers)

    async def ok(self, method: str, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        """Call and demand success with ``status``; returns the envelope's data."""
        reply = await self.call(method, path, **kwargs)
        assert reply.status == status, reply.text
        return reply.data

    async def fails(self, method: str, path: str, status: int, code: int, **kwargs: Any) -> Reply:
        """Call and demand the error envelope with ``status`` and ``code``."""
        reply = await self.call(method, path, **kwargs)
        assert_error(reply, status, code)
        return reply


def assert_error(reply: Reply, status: int, code: int) -> None:
    assert reply.status == status, reply.text
    assert isinstance(reply.body, dict), reply.text
    assert set(reply.body) == {"code", "message", "data"}, reply.text
    assert reply.body["code"] == code, reply.text
    assert isinstance(reply.body["message"], str), reply.text
    assert reply.body["message"], reply.text
    assert reply.body["code"] // 100 == status, reply.text


@dataclass
class Account:
    id: str
    username: str
    password: str
    access: str
    refresh: str
    session: str
    device: str


def account_from(grant: Mapping[str, Any], password: str) -> Account:
    return Account(
        id=grant["user"]["id"],
        username=grant["user"]["username"],
        password=password,
        access=grant["access_token"],
        refresh=grant["refresh_token"],
        session=grant["session"],
        device=grant["device"],
    )


async def register(rest: Rest, prefix: str = "u", device: str | None = None) -> Account:
    body: dict[str, Any] = {"username": unique_name(prefix), "password": PASSWORD}
    if device is not None:
        body["device"] = device
    grant = await rest.ok("POST", "auth/register", status=201, json=body)
    return account_from(grant, PASSWORD)


async def login(rest: Rest, account: Account, device: str | None = None) -> Account:
    body: dict[str, Any] = {"username": account.username, "password": account.password}
    if device is not None:
        body["device"] = device
    return account_from(await rest.ok("POST", "auth/login", json=body), account.password)


async def direct(rest: Rest, me: Account, peer: Account) -> str:
    conv = await rest.ok("POST", "conversations/direct", token=me.access, json={"user_id": peer.id})
    return str(conv["id"])


async def send_rest(rest: Rest, sender: Account, conv: str, text: str, cid: str) -> Any:
    body = {"cid": cid, "kind": "text", "body": {"text": text}}
    return await rest.ok("POST", f"conversations/{conv}/messages", token=sender.access, json=body)


async def history(rest: Rest, account: Account, conv: str, **params: int) -> Any:
    return await rest.ok(
        "GET", f"conversations/{conv}/messages", token=account.access, params=params
    )


async def all_history(rest: Rest, account: Account, conv: str, page: int = 100) -> list[Frame]:
    """Every message of ``conv`` visible to ``account``, paging forward by seq."""
    items: list[Frame] = []
    for _ in range(10_000):
        after = items[-1]["seq"] if items else 0
        got = await history(rest, account, conv, after=after, limit=page)
        items.extend(got["items"])
        if not got["more"]:
            return items
    raise AssertionError("history did not end")


# --- WebSocket


class WsClient:
    """One WebSocket; frames not yet asked for wait in ``backlog``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.backlog: list[Frame] = []
        self._rids = itertools.count(1)

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, server: ServerProcess) -> WsClient:
        ws = await http.ws_connect(server.ws_url, autoping=True, max_msg_size=0)
        return cls(ws)

    async def send(self, frame: Frame) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def _read(self, timeout: float) -> Frame:
        msg = await self.ws.receive(timeout=max(timeout, 0.01))
        if msg.type is aiohttp.WSMsgType.TEXT:
            frame = orjson.loads(msg.data)
            assert isinstance(frame, dict), msg.data
            return frame
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
            code = msg.data if isinstance(msg.data, int) else self.ws.close_code
            raise Closed(code)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise Closed(self.ws.close_code)  # ERROR: the connection broke (server killed)
        raise AssertionError(f"unexpected websocket message {msg!r}")

    async def expect(
        self,
        t: str,
        predicate: FramePredicate | None = None,
        timeout: float = WAIT_S,
        **fields: Any,
    ) -> Frame:
        """The first frame of type ``t`` with ``fields`` (and ``predicate``), in order."""

        def matches(frame: Frame) -> bool:
            if frame.get("t") != t or any(frame.get(k) != v for k, v in fields.items()):
                return False
            return predicate is None or predicate(frame)

        return await self._first(matches, f"no {t!r} frame with {fields}", timeout)

    async def _first(self, matches: FramePredicate, failure: str, timeout: float) -> Frame:
        """The first frame (backlog, then socket) that ``matches``; others are kept."""
        for index, frame in enumerate(self.backlog):
            if matches(frame):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        for _ in range(MAX_FRAMES):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                frame = await self._read(left)
            except TimeoutError:
                continue
            if matches(frame):
                return frame
            self.backlog.append(frame)
        raise TimeoutError(f"{failure}; backlog {self.backlog}")

    async def request(
        self, frame: Frame, reply: str | None = None, timeout: float = WAIT_S
    ) -> Frame:
        """Send ``frame`` with a fresh rid; return the reply (or error) echoing it."""
        rid = f"r{next(self._rids)}"
        await self.send({**frame, "rid": rid})
        answer = await self.expect_rid(rid, timeout)
        if reply is not None:
            assert answer["t"] == reply, answer
        return answer

    async def expect_rid(self, rid: str | int, timeout: float = WAIT_S) -> Frame:
        return await self._first(
            lambda frame: frame.get("rid") == rid, f"no reply to rid {rid!r}", timeout
        )

    async def answers(self, count: int, timeout: float = WAIT_S) -> list[Frame]:
        """The next ``count`` frames that answer a request (carry a rid), in the order
        they arrived; pushes meanwhile stay in the backlog."""
        return [
            await self._first(lambda frame: "rid" in frame, f"answer {n} of {count}", timeout)
            for n in range(count)
        ]

    async def barrier(self) -> None:
        """Ping and wait for the pong: every earlier frame has been handled."""
        await self.request({"t": "ping"}, reply="pong")

    async def closed(self, timeout: float = WAIT_S) -> int | None:
        """Read (keeping frames in the backlog) until the server closes; its close code."""
        try:
            await self._first(lambda _: False, "server did not close the socket", timeout)
        except Closed as closed:
            return closed.code
        raise AssertionError("unreachable")

    def taken(self, t: str) -> list[Frame]:
        """Remove and return the backlog frames of type ``t``."""
        found = [f for f in self.backlog if f.get("t") == t]
        self.backlog = [f for f in self.backlog if f.get("t") != t]
        return found

    async def close(self) -> None:
        await self.ws.close()

    # --- protocol shortcuts

    async def send_text(self, conv: str, text: str, cid: str | None = None) -> Frame:
        """Send a text message and return its ack (an error frame fails the test)."""
        cid = cid or unique_name("c")
        answer = await self.request(
            {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": text}}
        )
        assert answer["t"] == "ack", answer
        return answer

    async def sync(self, cursor: str | None = None) -> Frame:
        frame: Frame = {"t": "sync"}
        if cursor is not None:
            frame["cursor"] = cursor
        return await self.request(frame, reply="sync")

    async def pull(self, conv: str, **params: int) -> Frame:
        return await self.request({"t": "pull", "conv": conv, **params}, reply="messages")


async def connect(
    http: aiohttp.ClientSession, server: ServerProcess, account: Account, device: str | None = None
) -> tuple[WsClient, Frame]:
    """An authenticated WebSocket and its ``ready`` frame."""
    client = await WsClient.open(http, server)
    auth: Frame = {"t": "auth", "token": account.access}
    if device is not None:
        auth["device"] = device
    ready = await client.request(auth, reply="ready")
    return client, ready


async def pull_everything(client: WsClient, conv: str, after: int = 0) -> list[Frame]:
    """Pull forward from ``after`` until the server says there is no more."""
    items: list[Frame] = []
    for _ in range(10_000):
        page = await client.pull(conv, after=items[-1]["seq"] if items else after, limit=100)
        items.extend(page["items"])
        if not page["more"]:
            return items
    raise AssertionError("pull did not end")


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = WAIT_S, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds, with a deadline (no blind sleeping)."""
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if await check():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


class RawSocket:
    """A minimal WebSocket over a plain TCP socket with a tiny receive buffer.

    It reads only when told to, so the server's writes back up quickly — the way a
    client on a stalled network looks to the server.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, server: ServerProcess, receive_buffer: int = 4096) -> RawSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=receive_buffer)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, frame: Frame) -> None:
        payload = orjson.dumps(frame)
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def read(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def read_frame(self) -> Frame:
        opcode, payload = await asyncio.wait_for(self.read(), WAIT_S)
        assert opcode == 0x1, (opcode, payload[:200])
        frame = orjson.loads(payload)
        assert isinstance(frame, dict)
        return frame

    async def drain_until_close(self, limit: int = 1_000_000) -> tuple[list[Frame], int | None]:
        """Read every frame up to the server's close frame; (text frames, close code)."""
        frames: list[Frame] = []
        for _ in range(limit):
            try:
                opcode, payload = await asyncio.wait_for(self.read(), WAIT_S)
            except asyncio.IncompleteReadError:
                return frames, None  # the connection ended without a close frame
            if opcode == 0x8:
                return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            if opcode == 0x1:
                frames.append(orjson.loads(payload))
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.writer.close()
