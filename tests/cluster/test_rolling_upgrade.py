"""A rolling upgrade as docs/deployment.md describes it, under traffic.

Three nodes on PostgreSQL and Redis behind ``deploy/nginx.conf`` over TLS. Migrations
run first (``pigeon db upgrade``), then each node in turn is drained with SIGTERM,
waited for, started again (the "new version" is this same code) and waited for until
/readyz answers. Chatters keep sending through the proxy the whole time, reconnecting
when their node drains and resending unacknowledged cids. At the end every acknowledged
message is in each member's synced history exactly once, in order.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from harness import ServerProcess
from integration.wsclient import Frame, Rest, all_history, register

from .conftest import START_TIMEOUT_S, NodeFactory
from .proxy import Proxy, nginx_in_front, trusting_session
from .traffic import Chatter, check_recipient, check_stream, wait_until

CHATTERS = 4
MIN_EACH = 10  # every chatter sends at least this many, and on until the upgrade is over,
MAX_EACH = 3000  # but never more than this many
TRAFFIC_WINDOW_S = 300.0  # nor for longer than this
# Each chatter's pace, so that traffic outlasts the restarts however slow they are
# (about 40 messages a second in all), instead of running out of messages first.
SEND_INTERVAL_S = 0.1
STEP_PROGRESS = 4  # acknowledgements between two restarts: each drain meets live traffic


@pytest.fixture
def cluster(
    node_factory: NodeFactory, tmp_path: Path
) -> Iterator[tuple[Proxy, list[ServerProcess]]]:
    nodes = [node_factory(name) for name in ("a", "b", "c")]
    with nginx_in_front(tmp_path / "nginx", nodes) as proxy:
        yield proxy, nodes


@pytest.fixture
async def https(cluster: tuple[Proxy, list[ServerProcess]]) -> AsyncIterator[aiohttp.ClientSession]:
    async with trusting_session(cluster[0]) as session:
        yield session


def acked(chatters: list[Chatter]) -> int:
    return sum(len(c.acked) for c in chatters)


async def chat_until(chatter: Chatter, conv: str, done: asyncio.Event) -> None:
    deadline = time.monotonic() + TRAFFIC_WINDOW_S
    for index in range(MAX_EACH):
        if index >= MIN_EACH and (done.is_set() or time.monotonic() > deadline):
            return
        await chatter.send(conv, f"{chatter.account.username}-{index}", f"message {index}")
        await asyncio.sleep(SEND_INTERVAL_S)


def migrate(database_url: str) -> None:
    """Step 1 of the upgrade: the new schema, before any node runs the new code."""
    done = subprocess.run(
        [sys.executable, "-m", "pigeon", "db", "upgrade", "--database-url", database_url],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert "schema is up to date" in done.stdout


async def wait_ready(http: aiohttp.ClientSession, node: ServerProcess) -> None:
    """A restarted node takes traffic only once /readyz says so (as a load balancer does)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            async with http.get(node.base_url + "/readyz") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"node on {node.port} not ready after restart")


async def restart_one_by_one(
    http: aiohttp.ClientSession, nodes: list[ServerProcess], chatters: list[Chatter]
) -> None:
    for node in nodes:
        floor = acked(chatters) + STEP_PROGRESS
        await wait_until(lambda f=floor: acked(chatters) >= f, 60, "traffic flowing")  # type: ignore[misc]
        exit_code = await asyncio.to_thread(node.terminate, START_TIMEOUT_S)
        assert exit_code == 0, node.log()[-3000:]
        await asyncio.to_thread(node.start, START_TIMEOUT_S)
        await wait_ready(http, node)


def check_synced_history(chatter: Chatter, pulled: list[Frame], everyone: list[Chatter]) -> None:
    """Each acknowledged message once in this member's history, each sender's in the order
    it sent them."""
    cids = [(m["from"], m["cid"]) for m in pulled]
    assert len(cids) == len(set(cids)), f"{chatter.account.username} sees a message twice"
    seq_of = {(m["from"], m["cid"]): m["seq"] for m in pulled}
    for sender in everyone:
        sent = sorted(sender.acked, key=lambda cid: int(cid.rsplit("-", 1)[1]))
        seqs = [seq_of.get((sender.account.id, cid)) for cid in sent]
        assert None not in seqs, f"{chatter.account.username} misses an acknowledged message"
        assert seqs == sorted(seqs), f"{sender.account.username}'s messages out of order"


async def test_rolling_upgrade_loses_and_duplicates_nothing(
    cluster: tuple[Proxy, list[ServerProcess]],
    https: aiohttp.ClientSession,
    http: aiohttp.ClientSession,
    database_url: str,
) -> None:
    proxy, nodes = cluster
    rest = Rest(https, proxy)
    accounts = [await register(rest, "up") for _ in range(CHATTERS)]
    group = await rest.ok(
        "POST",
        "groups",
        status=201,
        token=accounts[0].access,
        json={"title": "upgrade", "members": [a.id for a in accounts[1:]]},
    )
    conv = str(group["id"])
    chatters = [Chatter(account, https, lambda: [proxy]) for account in accounts]
    for chatter in chatters:
        await chatter.open()
    done = asyncio.Event()
    traffic = asyncio.gather(*(chat_until(c, conv, done) for c in chatters))

    await asyncio.to_thread(migrate, database_url)
    await restart_one_by_one(http, nodes, chatters)
    done.set()
    await asyncio.wait_for(traffic, TRAFFIC_WINDOW_S)

    # every node drained under clients: their sockets were closed with 1012 and they moved
    assert any(1012 in c.close_codes for c in chatters), [c.close_codes for c in chatters]
    stream = await all_history(rest, accounts[0], conv)
    check_stream(stream, chatters, acked(chatters))
    for chatter in chatters:
        pulled = await chatter.catch_up(conv)
        check_recipient(chatter, pulled, stream)
        check_synced_history(chatter, pulled, chatters)
        await chatter.close()
