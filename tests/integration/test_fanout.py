"""Fan-out at size: one post reaches every connected member exactly once.

Many plain WebSocket connections live in this test process (aiohttp, JSON frames),
against one server subprocess. Nothing here measures or asserts time; the tests
count deliveries. They are marked slow.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .people import create_group, query_db, register_many
from .wsclient import Account, Rest, WsClient, connect

pytestmark = pytest.mark.slow

# Sockets sit idle while the rest of the audience connects: a long heartbeat keeps
# the server from closing them as silent in the meantime.
FANOUT_ENV = {
    "PIGEON_HEARTBEAT_S": "600",
    # Every socket comes from this process's one address.
    "PIGEON_MAX_CONNECTIONS_PER_IP": "100000",
    "PIGEON_MAX_PENDING_PER_IP": "100000",
}
CONNECT_PARALLEL = 50
CHANNEL_SUBSCRIBERS = 10_000
CONNECTED_SUBSCRIBERS = 1_000  # sockets held by this process; the rest stay offline
# Memory-backed storage where the system has it: these tests count deliveries, and
# thousands of sign-ups each waiting for a disk flush would only make them slow.
RAM_DISK = Path("/dev/shm")


@pytest.fixture
def fanout_server(tmp_path: Path) -> Iterator[ServerProcess]:
    base = Path(tempfile.mkdtemp(dir=RAM_DISK)) if RAM_DISK.is_dir() else tmp_path
    server = ServerProcess(base / "fanout", FANOUT_ENV)
    try:
        yield server.start()
    finally:
        server.stop()
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def wide_http() -> AsyncIterator[aiohttp.ClientSession]:
    """A session without the connector's default cap of 100 open connections."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def _connect_all(
    http: aiohttp.ClientSession, server: ServerProcess, accounts: Sequence[Account]
) -> list[WsClient]:
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one(account: Account) -> WsClient:
        async with gate:
            client, ready = await connect(http, server, account)
            assert ready["user"] == account.id
            return client

    return list(await asyncio.gather(*(one(a) for a in accounts)))


async def _close_all(clients: Sequence[WsClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def _copies_received(client: WsClient, conv: str, seq: int) -> int:
    """How many copies of message ``seq`` this socket got: wait for the first, then
    ping — a second copy would have been queued before the pong."""
    await client.expect("msg", conv=conv, seq=seq)
    await client.barrier()
    again = [f for f in client.taken("msg") if f["conv"] == conv and f["seq"] == seq]
    return 1 + len(again)


async def _post_and_count(
    poster: WsClient, audience: Sequence[WsClient], conv: str, text: str
) -> list[int]:
    ack = await poster.send_text(conv, text)
    counts = await asyncio.gather(*(_copies_received(c, conv, ack["seq"]) for c in audience))
    await poster.barrier()
    assert poster.taken("msg") == []  # the sending socket gets the ack instead
    return list(counts)


async def test_a_post_reaches_each_of_1000_online_group_members_once(
    fanout_server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    """A 1,000-member group (owner + 999), every member connected with one socket.

    Measured: for one text message sent by the owner, the number of ``msg`` copies
    each of the 999 other sockets receives (expected: exactly 1 each), and that the
    sender's socket gets its ``ack`` and no ``msg``.
    """
    rest = Rest(wide_http, fanout_server)
    owner, *members = await register_many(rest, 1000, "g")
    group = await create_group(rest, owner, members)
    assert group["member_count"] == 1000
    conv = group["id"]

    audience = await _connect_all(wide_http, fanout_server, members)
    poster, _ = await connect(wide_http, fanout_server, owner)
    try:
        counts = await _post_and_count(poster, audience, conv, "hello, everyone")
        assert len(counts) == 999
        assert set(counts) == {1}
    finally:
        await _close_all([*audience, poster])


async def test_a_channel_post_reaches_each_connected_subscriber_of_10000_once(
    fanout_server: ServerProcess, wide_http: aiohttp.ClientSession
) -> None:
    """A channel with 10,000 subscribers (plus its owner), 1,000 of them connected.

    Measured: for one post by the owner, the number of ``msg`` copies each of the
    1,000 connected subscribers' sockets receives (expected: exactly 1 each), that
    the channel holds 10,001 active members in the server's database, and that a
    subscriber who was offline finds the post in history. The other 9,000
    subscribers are recipients too; with no socket they simply get nothing pushed.
    Signing up 10,000 accounts dominates the run, so only 1,000 sockets are held.
    """
    rest = Rest(wide_http, fanout_server)
    owner, *subscribers = await register_many(rest, CHANNEL_SUBSCRIBERS + 1, "s", parallel=24)
    channel = await create_group(rest, owner, subscribers, kind="channel")
    conv = channel["id"]
    assert channel["member_count"] == CHANNEL_SUBSCRIBERS + 1
    stored = query_db(
        fanout_server,
        "SELECT COUNT(*) FROM members WHERE conv_id = ? AND state = 'active'",
        (conv,),
    )
    assert stored == [(CHANNEL_SUBSCRIBERS + 1,)]

    audience = await _connect_all(wide_http, fanout_server, subscribers[:CONNECTED_SUBSCRIBERS])
    poster, _ = await connect(wide_http, fanout_server, owner)
    try:
        headline = unique_name("headline")
        counts = await _post_and_count(poster, audience, conv, headline)
        assert len(counts) == CONNECTED_SUBSCRIBERS
        assert set(counts) == {1}
    finally:
        await _close_all([*audience, poster])

    offline = subscribers[-1]
    page = await rest.ok("GET", f"conversations/{conv}/messages", token=offline.access)
    assert [m["body"]["text"] for m in page["items"] if m["kind"] == "text"] == [headline]
