"""Runs a set of scenarios against one server (or two nodes) and writes the report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pigeon.bench import layout, scenarios
from pigeon.bench import search as search_scenario
from pigeon.bench.backends import BackendCounters
from pigeon.bench.baseline import against_bare, load_scenarios
from pigeon.bench.catalog import Scenario
from pigeon.bench.loadclient import Transport, Wire
from pigeon.bench.push import offline_push
from pigeon.bench.report import conditions, write
from pigeon.bench.target import Node, cores, load_cores, start_node


@dataclass(frozen=True)
class Plan:
    """What to run and how big; ``quick`` shrinks everything to a smoke test."""

    idle_connections: tuple[int, ...] = (1000, 10_000, 19_000)
    idle_window_s: float = 30.0  # how long idle CPU is measured at each step
    idle_sources: int | None = None  # client source addresses (None: as ports require)
    # The server's heartbeat_s; the bench's default (600) outlasts every run, since
    # load clients send no pings. A shorter one shows what the silence sweep costs.
    heartbeat_s: int | None = None
    connect_connections: int = 5000
    direct_rates: tuple[int, ...] = (1000, 5000, 10_000)
    direct_pairs: int = 500
    direct_seconds: float = 10.0
    fanout_members: tuple[int, ...] = (100, 1000, 10_000)
    fanout_messages: int = 20
    catchup: tuple[int, int] = (100, 100)
    cluster_rates: tuple[int, ...] = (250, 1000)
    cluster_nodes: int = 2  # 1 measures one node on the same PostgreSQL + Redis
    push: tuple[int, int] = (1000, 20)  # offline members, posts
    search_messages: int = 1_000_000
    body_bytes: int = 0  # filler text per direct and fanout message (compression needs some)
    workers: int = field(default_factory=lambda: max(1, min(4, len(load_cores()))))
    # The server under test as `pigeon serve --workers N` on PostgreSQL + Redis (the
    # cluster's URLs), on the first N cores; None: one node on SQLite, one core.
    server_workers: int | None = None
    # connect, direct and fanout once more against bare WebSocket servers, for multiples
    reference: bool = False

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            idle_connections=(50,),
            idle_window_s=2.0,
            connect_connections=50,
            direct_rates=(100,),
            direct_pairs=10,
            direct_seconds=2.0,
            fanout_members=(20,),
            fanout_messages=3,
            catchup=(5, 20),
            cluster_rates=(100,),
            push=(20, 3),
            search_messages=20_000,
            workers=2,
        )


def idle_layout(plan: Plan, connections: int) -> layout.Layout:
    """Load processes, server workers and source addresses for ``connections``
    (raises ``LayoutError`` when this machine's limits cannot take them)."""
    return layout.plan(connections, plan.workers, plan.server_workers, plan.idle_sources)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _server_for(wire: Wire) -> tuple[bool, dict[str, str]]:
    """What the server under test needs for ``wire``: the TCP port, compression."""
    env = {"PIGEON_WS_COMPRESSION": "true"} if wire.compress else {}
    return wire.transport is Transport.TCP, env


@contextlib.contextmanager
def _nodes(
    cluster: dict[str, str] | None,
    wire: Wire,
    count: int = 1,
    server_workers: int | None = None,
    heartbeat_s: int | None = None,
) -> Iterator[tuple[Node, Node | None]]:
    """One SQLite node (no ``cluster``); with ``server_workers``, one ``pigeon serve
    --workers N`` on the cluster's backends; else ``count`` nodes on them."""
    tcp, env = _server_for(wire)
    if heartbeat_s is not None:
        env["PIGEON_HEARTBEAT_S"] = str(heartbeat_s)
    with tempfile.TemporaryDirectory(prefix="pigeon-bench-") as tmp:
        started: list[Node] = []
        try:
            if server_workers is not None:
                assert cluster is not None, "--server-workers needs PostgreSQL and Redis"
                args = [
                    *("--database-url", cluster["database_url"]),
                    *("--redis-url", cluster["redis_url"]),
                    *("--workers", str(server_workers)),
                ]
                cpus = set(cores()[:server_workers])
                started.append(start_node(Path(tmp) / "node", args, env, tcp=tcp, cpus=cpus))
            elif cluster is None:
                started.append(start_node(Path(tmp) / "node", (), env, tcp=tcp))
            else:
                shared = ["--database-url", cluster["database_url"]]
                shared += ["--redis-url", cluster["redis_url"]]
                for name in "ab"[:count]:
                    node_args = [*shared, "--node-id", name]
                    started.append(start_node(Path(tmp) / name, node_args, env, tcp=tcp))
            yield started[0], (started[1] if len(started) > 1 else None)
        finally:
            for node in started:
                node.stop()


async def _run_single(
    names: list[Scenario], plan: Plan, wire: Wire, cluster: dict[str, str] | None = None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    nodes = _nodes(cluster, wire, server_workers=plan.server_workers, heartbeat_s=plan.heartbeat_s)
    with nodes as (node, _):
        ctx = scenarios.Context(
            node, None, plan.workers, _progress, [], wire=wire, body_bytes=plan.body_bytes
        )
        if Scenario.IDLE in names:
            results[Scenario.IDLE] = [
                await scenarios.idle(ctx, n, plan.idle_window_s, idle_layout(plan, n))
                for n in plan.idle_connections
            ]
        results.update(await load_scenarios(ctx, names, plan))
        if Scenario.CATCHUP in names:
            results[Scenario.CATCHUP] = [await scenarios.catch_up(ctx, *plan.catchup)]
    return results


async def _run_cluster(plan: Plan, cluster: dict[str, str], wire: Wire) -> list[dict[str, Any]]:
    with _nodes(cluster, wire, plan.cluster_nodes) as (node, other):
        ctx = scenarios.Context(
            node,
            other,
            plan.workers,
            _progress,
            [],
            wire=wire,
            body_bytes=plan.body_bytes,
            backends=BackendCounters(cluster["database_url"], cluster["redis_url"]),
        )
        return [
            await scenarios.direct(ctx, rate, plan.direct_seconds, plan.direct_pairs)
            for rate in plan.cluster_rates
        ]


def run(
    names: list[Scenario],
    plan: Plan,
    out: Path,
    cluster: dict[str, str] | None,
    search_database_url: str | None = None,
    wire: Wire | None = None,
) -> list[Path]:
    """Run ``names``; the load clients of idle, connect, direct, fanout and cluster
    speak ``wire`` (default: JSON over the WebSocket, no compression)."""
    wire = wire or Wire()
    # Every socket is a file: the servers started here inherit the raised limit.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    _progress(f"open-file limit {soft}/{hard}; {os.cpu_count()} cores; plan {plan}")
    _progress(f"load clients speak {wire.label}")
    served = (
        f"; server: `pigeon serve --workers {plan.server_workers}` on PostgreSQL + Redis "
        "(same host), its cores shared with the load processes"
        if plan.server_workers
        else ""
    ) + (f"; server heartbeat_s {plan.heartbeat_s}" if plan.heartbeat_s else "")
    results: dict[str, Any] = {
        "conditions": conditions(
            plan.workers,
            f"; load clients speak {wire.label}; {plan.body_bytes} bytes of filler text per "
            f"message{served}",
            cores()[: plan.server_workers] if plan.server_workers else None,
        ),
        "wire": wire.label,
    }
    # push starts its own node (push settings and a webhook receiver)
    single = [n for n in names if not n.own_node]
    if single:
        results.update(asyncio.run(_run_single(single, plan, wire, cluster)))
        if plan.reference:  # right after Pigeon, under the same load
            results["against_bare"] = against_bare(single, plan, wire, results, _progress)
    if Scenario.PUSH in names:  # its own node: push settings and a webhook receiver
        results[Scenario.PUSH] = [asyncio.run(offline_push(*plan.push, 0.5, _progress))]
    if Scenario.CLUSTER in names:
        if cluster is None:
            raise SystemExit("the cluster scenario needs --database-url and --redis-url")
        results[Scenario.CLUSTER] = asyncio.run(_run_cluster(plan, cluster, wire))
    if Scenario.SEARCH in names:
        run_search = search_scenario.run(search_database_url, plan.search_messages, _progress)
        results[Scenario.SEARCH] = [asyncio.run(run_search)]
    return write(results, out)
