"""``pigeon serve --workers 2``: two worker processes share one port, each a node.

Connections land on either worker (SO_REUSEPORT); /healthz names the node that
answered, and each worker logs the connections it authenticates.
Users on different workers chat as users on different nodes do; SIGTERM drains
every worker and the supervisor exits 0; a worker killed with SIGKILL is started
again while the other keeps the port serving, and workers whose supervisor was
killed stop by themselves; SQLite is refused at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import START_TIMEOUT_S, TEST_ENV, WAIT_S, ServerProcess, bench_output, run_bench
from integration.wsclient import (
    Account,
    Rest,
    WsClient,
    connect,
    direct,
    eventually,
    history,
    register,
)

from .conftest import NodeFactory
from .services import RedisServer
from .traffic import wait_until

WORKERS = ["w-w0", "w-w1"]  # node ids of the workers of node "w"
MAX_TRIES = 200  # connections opened to find one on the other worker (each is 1 in 2)


def connected_nodes(server: ServerProcess, user_id: str) -> list[str]:
    """The node of each connection the user authenticated, in order (from the logs)."""
    return [
        str(e["node"])
        for e in server.events()
        if e.get("event") == "connected" and e.get("user") == user_id
    ]


async def connect_landed(
    http: aiohttp.ClientSession, server: ServerProcess, account: Account
) -> tuple[WsClient, str]:
    """An authenticated WebSocket and the worker it landed on."""
    before = len(connected_nodes(server, account.id))
    client, _ = await connect(http, server, account)
    await wait_until(
        lambda: len(connected_nodes(server, account.id)) > before, WAIT_S, "connection logged"
    )
    return client, connected_nodes(server, account.id)[before]


@contextlib.asynccontextmanager
async def on_two_workers(
    server: ServerProcess, alice: Account, bob: Account
) -> AsyncIterator[tuple[WsClient, WsClient]]:
    """Alice's WebSocket, and Bob's after as many tries as it takes to land on the
    other worker. Every socket is a new TCP connection (nothing kept alive)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        on_a, node_a = await connect_landed(http, server, alice)
        try:
            for _ in range(MAX_TRIES):
                on_b, node_b = await connect_landed(http, server, bob)
                if node_b != node_a:
                    assert {node_a, node_b} == set(WORKERS)
                    try:
                        yield on_a, on_b
                    finally:
                        await on_b.close()
                    return
                await on_b.close()
            raise AssertionError(f"no connection reached a second worker in {MAX_TRIES} tries")
        finally:
            await on_a.close()


def listening_nodes(server: ServerProcess) -> list[str]:
    return [str(e["node_id"]) for e in server.events() if e.get("event") == "listening"]


def worker_pids(server: ServerProcess) -> dict[int, int]:
    """Worker index -> pid of its latest start."""
    pids: dict[int, int] = {}
    for event in server.events():
        if event.get("event") == "worker started":
            pids[int(event["worker"])] = int(event["pid"])
    return pids


async def start_workers(node_factory: NodeFactory) -> ServerProcess:
    server = node_factory("w", args=["--workers", "2"])
    await wait_until(
        lambda: sorted(set(listening_nodes(server))) == WORKERS, START_TIMEOUT_S, "both listen"
    )
    return server


async def healthz_node(http: aiohttp.ClientSession, server: ServerProcess) -> str | None:
    """The node answering /healthz on a fresh connection; None if none answered."""
    try:
        async with http.get(
            server.base_url + "/healthz", headers={"Connection": "close"}
        ) as response:
            body: dict[str, Any] = await response.json()
    except aiohttp.ClientError:
        return None  # the connection reached the killed worker's queue
    return str(body["data"]["node"])


async def test_users_on_two_workers_chat_and_sigterm_drains_all(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_workers(node_factory)
    rest = Rest(http, server)
    alice, bob = await register(rest, "wa"), await register(rest, "wb")
    conv = await direct(rest, alice, bob)
    async with on_two_workers(server, alice, bob) as (on_a, on_b):
        there = await on_a.send_text(conv, "from one worker")
        got = await on_b.expect("msg", conv=conv, seq=there["seq"])
        assert (got["from"], got["body"]) == (alice.id, {"text": "from one worker"})
        await on_b.send({"t": "read", "conv": conv, "seq": there["seq"]})
        await on_a.expect("receipt", conv=conv, user=bob.id, read=there["seq"])
        back = await on_b.send_text(conv, "and from the other")
        got = await on_a.expect("msg", conv=conv, seq=back["seq"])
        assert (got["from"], got["body"]) == (bob.id, {"text": "and from the other"})
    for account in (alice, bob):
        items = (await history(rest, account, conv))["items"]
        texts = [(m["seq"], m["body"]["text"]) for m in items if m["kind"] == "text"]
        assert texts == [
            (there["seq"], "from one worker"),
            (back["seq"], "and from the other"),
        ]

    pids = worker_pids(server)
    assert sorted(pids) == [0, 1]
    assert server.terminate() == 0
    exits = {int(e["worker"]): e["code"] for e in server.events() if e["event"] == "worker exited"}
    assert exits == {0: 0, 1: 0}
    stopped = [e["node"] for e in server.events() if e.get("event") == "stopped"]
    assert sorted(n for n in stopped if n in WORKERS) == WORKERS
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_killed_worker_comes_back_and_the_port_keeps_serving(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    server = await start_workers(node_factory)
    victim = worker_pids(server)[1]
    os.kill(victim, 9)
    # The other worker serves the port all along.
    answered: set[str] = set()

    async def answers_from_w0() -> bool:
        node = await healthz_node(http, server)
        answered.add(node or "")
        return node == WORKERS[0]

    await eventually(answers_from_w0, WAIT_S, "the surviving worker answers")
    await wait_until(
        lambda: worker_pids(server).get(1) not in (None, victim), WAIT_S, "worker 1 restarted"
    )
    died = [e for e in server.events() if e.get("event") == "worker died; restarting"]
    # The kill is seen for what it was. On a saturated machine a worker may also have
    # failed its start (a backend answering too slowly) and been restarted before.
    assert (1, victim, -9) in [(e["worker"], e["pid"], e["code"]) for e in died]
    assert [e["pid"] for e in died][-1] == victim
    await wait_until(
        lambda: listening_nodes(server).count(WORKERS[1]) == 2, START_TIMEOUT_S, "w1 listens"
    )

    async def both_answer() -> bool:
        answered.add(await healthz_node(http, server) or "")
        return set(WORKERS) <= answered

    answered.clear()
    await eventually(both_answer, WAIT_S, "both workers answer again")

    # Without their supervisor, workers drain and exit on their own.
    server.kill()
    await wait_until(
        lambda: (
            sorted(e["node"] for e in server.events() if e.get("event") == "stopped") == WORKERS
        ),
        WAIT_S,
        "orphaned workers stopped",
    )


@pytest.mark.parametrize(
    ("args", "needs"),
    [
        ([], "needs PostgreSQL"),  # SQLite in the data dir
        (["--workers", "auto"], "needs PostgreSQL"),  # whatever the number of cores
        (["--database-url", "sqlite:///x.db", "--redis-url", "redis://127.0.0.1:1"], "PostgreSQL"),
        (["--database-url", "postgresql://postgres@127.0.0.1:1/x"], "needs Redis"),
    ],
)
def test_workers_refuse_backends_of_one_process(
    tmp_path: Path, args: list[str], needs: str
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pigeon",
            "serve",
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path),
            *args,
        ],
        env={**os.environ, **TEST_ENV},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: --workers / PIGEON_WORKERS above 1 (or auto)")
    assert needs in lines[0]
    assert not (tmp_path / "pigeon.db").exists()  # refused before touching anything


def test_bench_targets_a_server_with_workers(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    """`pigeon bench --server-workers 2` measures a `--workers 2` server: every post
    reaches every member, and the report says what was measured."""
    out = tmp_path / "bench"
    run = run_bench(
        *("fanout", "--out", str(out), "--server-workers", "2"),
        *("--database-url", database_url, "--redis-url", redis_server.url),
    )
    assert run.returncode == 0, bench_output(run)
    data = json.loads((out / "results.json").read_text())
    [fan] = data["fanout"]
    assert fan["completeness"] == 1.0
    assert "`pigeon serve --workers 2` on PostgreSQL + Redis" in data["conditions"]


def test_bench_server_workers_need_postgresql_and_redis(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pigeon", "bench", "fanout", "--quick", "--server-workers", "2"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run
    assert "--server-workers needs --database-url and --redis-url" in run.stderr
