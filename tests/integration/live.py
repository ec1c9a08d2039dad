"""Helpers for the live-state tests: receipts, typing, presence, devices, amendments.

Built on the plain aiohttp helpers of ``wsclient`` (the public wire protocol), not on
the Python SDK. Everything that waits does so for an expected frame or condition with
a deadline; nothing here sleeps in the hope that something has happened meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from harness import WAIT_S, ServerProcess, unique_name

from .wsclient import Account, Frame, Rest, WsClient, connect

# Error codes of the public contract (src/pigeon/protocol/errors.py).
BAD_REQUEST = 40000
INVALID_BODY = 40003
NUMBER_OUT_OF_RANGE = 40009
FORBIDDEN = 40300
NOT_ADMIN = 40305
CONVERSATION_NOT_FOUND = 40402
MESSAGE_NOT_FOUND = 40403
CONFLICT = 40900
TOKEN_REVOKED = 40104

CLOSE_REVOKED = 4003
CLOSE_HEARTBEAT = 4010


def run_server(data_dir: Path, env: Mapping[str, str]) -> Iterator[ServerProcess]:
    """Body of a module-scoped fixture: one server with ``env``, stopped afterwards."""
    server = ServerProcess(data_dir, dict(env))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Devices:
    """Sockets one test opened, each an app on some device; all closed at teardown."""

    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess) -> None:
        self.http = http
        self.server = server
        self.opened: list[WsClient] = []

    async def open(self, account: Account, device: str | None = None) -> WsClient:
        client, _ = await connect(self.http, self.server, account, device)
        self.opened.append(client)
        return client

    async def close_all(self) -> None:
        for client in self.opened:
            await client.close()


@contextlib.asynccontextmanager
async def devices_of(http: aiohttp.ClientSession, server: ServerProcess) -> AsyncIterator[Devices]:
    pool = Devices(http, server)
    try:
        yield pool
    finally:
        await pool.close_all()


# --- frames


def text_frame(conv: str, text: str, cid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "t": "send",
        "cid": cid or unique_name("c"),
        "conv": conv,
        "kind": "text",
        "body": {"text": text},
        **extra,
    }


async def send_ok(client: WsClient, frame: Frame) -> Frame:
    """Send ``frame`` (a ``send``) and demand its ack."""
    answer = await client.request(frame)
    assert answer["t"] == "ack", answer
    return answer


async def send_refused(client: WsClient, frame: Frame, code: int) -> Frame:
    """Send ``frame`` and demand an error frame with ``code`` that echoes the cid."""
    answer = await client.request(frame)
    assert answer["t"] == "error", answer
    assert answer["code"] == code, answer
    assert answer.get("cid") == frame.get("cid"), answer
    return answer


async def amend(
    client: WsClient, conv: str, kind: str, body: Frame, cid: str | None = None
) -> Frame:
    """The reply to a ``recall``/``edit`` entry (ack or error)."""
    frame = {"t": "send", "cid": cid or unique_name("a"), "conv": conv, "kind": kind, "body": body}
    return await client.request(frame)


async def server_time(client: WsClient) -> int:
    """The server's clock (ms), read from a pong."""
    pong = await client.request({"t": "ping"}, reply="pong")
    return int(pong["ts"])


async def wait_server_time_past(client: WsClient, moment_ms: int, timeout: float = WAIT_S) -> None:
    """Poll the server's clock until it is past ``moment_ms`` (a bounded wait)."""
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if await server_time(client) > moment_ms:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    raise AssertionError(f"the server clock did not pass {moment_ms} within {timeout}s")


@contextlib.asynccontextmanager
async def keep_alive(client: WsClient, every_s: float) -> AsyncIterator[None]:
    """Ping in the background, as an app does, while the test waits on other frames.

    The pongs (no rid) land in the client's backlog; callers ignore them.
    """

    async def pinger() -> None:
        for _ in range(10_000):
            await asyncio.sleep(every_s)
            await client.send({"t": "ping"})

    task = asyncio.create_task(pinger())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await task


async def device_online(rest: Rest, account: Account, device: str) -> bool:
    listed = await rest.ok("GET", "users/me/devices", token=account.access)
    found = [d for d in listed["items"] if d["device"] == device]
    assert len(found) == 1, listed
    return bool(found[0]["online"])


async def presence_of(rest: Rest, viewer: Account, *users: Account) -> dict[str, Frame]:
    page = await rest.ok(
        "GET", "presence", token=viewer.access, params={"users": ",".join(u.id for u in users)}
    )
    assert page["more"] is False, page
    return {item["user"]: item for item in page["items"]}


def now_ms() -> int:
    return int(time.time() * 1000)


async def in_touch(rest: Rest, watcher: Account, target: Account) -> str:
    """A direct conversation in which ``target`` has written to ``watcher``: what lets the
    watcher see the target's presence in full (friends aside). Returns its id."""
    conv = await rest.ok(
        "POST", "conversations/direct", token=watcher.access, json={"user_id": target.id}
    )
    body = {"cid": unique_name("c"), "kind": "text", "body": {"text": "hi"}}
    await rest.ok("POST", f"conversations/{conv['id']}/messages", token=target.access, json=body)
    return str(conv["id"])
