"""Benchmark scenarios: provision users on the server under test, run the load
processes, turn their raw observations into figures.

Every loop is bounded: connection counts, message counts and durations are
parameters, and each waiting phase has a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pigeon.bench.backends import BackendCounters, Reading
from pigeon.bench.catalog import Scenario
from pigeon.bench.layout import Layout
from pigeon.bench.loadclient import LoadConnection, Transport, Wire
from pigeon.bench.stats import per_second, summary_ms
from pigeon.bench.target import (
    BenchUser,
    Node,
    make_group,
    open_directs,
    register_users,
)
from pigeon.bench.workers import CONNECT_CONCURRENCY, run_workers

Progress = Callable[[str], None]
BARE_GROUP = "g" + "0" * 26  # names no user: a bare server sends it to every other socket


@dataclass
class Context:
    node: Node
    other: Node | None  # a second node, for cluster runs
    workers: int
    progress: Progress
    pool: list[BenchUser]
    baseline_rss_kib: int = 0  # the server's RSS before any connection, once measured
    # What the load clients of idle, connect, direct and fanout speak, and the filler
    # text in each direct and fanout message.
    wire: Wire = field(default_factory=Wire)
    body_bytes: int = 0
    # Cluster runs: the shared PostgreSQL and Redis, whose work per message is counted.
    backends: BackendCounters | None = None
    # A bare reference server (pigeon.bench.reference) rather than Pigeon: nothing is
    # registered or created, a user's token is its id and a direct conversation is
    # named after its receiver.
    bare: bool = False

    def nodes(self) -> list[Node]:
        return [self.node] if self.other is None else [self.node, self.other]

    def cpu_seconds(self) -> float:
        """CPU time of every server node of the run, together."""
        return sum(node.cpu_seconds() for node in self.nodes())

    def url(self, node: Node | None = None) -> str:
        """Where the load clients connect on ``node`` (default: the node under test)."""
        node = node or self.node
        return node.tcp_url if self.wire.transport is Transport.TCP else node.ws_url

    async def users(self, count: int) -> list[BenchUser]:
        """At least ``count`` users, registering more as needed (reused across scenarios)."""
        if self.bare:
            # ids as long as Pigeon's (a letter and 26 characters): frames weigh the same
            return [BenchUser(f"u{i:026d}", f"u{i:026d}") for i in range(count)]
        if len(self.pool) < count:
            self.progress(f"registering {count - len(self.pool)} users")
            self.pool += await register_users(self.node.base_url, count - len(self.pool))
        return self.pool[:count]

    async def settle(self, quiet_cpu_s: float = 0.05, limit_s: float = 60.0) -> None:
        """Wait until the server is idle (e.g. done announcing the previous scenario's
        departures), so one scenario's aftermath is not billed to the next."""
        deadline = time.monotonic() + limit_s
        quiet = 0
        last = self.cpu_seconds()
        while quiet < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = self.cpu_seconds()
            quiet = quiet + 1 if now - last < quiet_cpu_s else 0
            last = now

    async def direct_conversations(self, couples: list[tuple[BenchUser, BenchUser]]) -> list[str]:
        if self.bare:
            return [receiver.id for _, receiver in couples]
        return await open_directs(self.node.base_url, couples)

    async def group(self, owner: BenchUser, members: list[BenchUser]) -> str:
        """A group of ``members``; a bare server has one, of everyone online."""
        if self.bare:
            return BARE_GROUP
        return await make_group(self.node.base_url, owner, members)

    async def fresh_users(self, count: int) -> list[BenchUser]:
        """Users no other scenario has touched (for measurements that count history)."""
        self.progress(f"registering {count} fresh users")
        return await register_users(self.node.base_url, count)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    parts = max(1, min(parts, len(items)))
    return [items[i::parts] for i in range(parts)]


async def idle(
    ctx: Context, connections: int, window_s: float, layout: Layout | None = None
) -> dict[str, Any]:
    """N authenticated idle connections → server RSS per connection, server CPU while
    they idle, then one post that every one of them receives."""
    layout = layout or Layout(connections, ctx.workers, None, ())
    users = await ctx.users(min(connections, 5000))
    tokens = [users[i % len(users)].token for i in range(connections)]
    ctx.progress(f"idle: a group of all {len(users)} users for the closing fan-out")
    conv = await make_group(ctx.node.base_url, users[0], users)
    await ctx.settle()
    # Measured against the first, connection-free reading: memory freed by a smaller
    # earlier run stays in the process and would otherwise be counted as free.
    ctx.baseline_rss_kib = ctx.baseline_rss_kib or ctx.node.family_rss_kib()
    before = ctx.baseline_rss_kib
    measured: dict[str, float] = {}

    def measure() -> None:
        time.sleep(1.0)  # let allocator and GC settle before reading RSS
        measured["rss_kib"] = ctx.node.family_rss_kib()
        asyncio.run(ctx.settle())  # presence and joins of the connects are done
        ctx.progress(f"idle: all connected; server CPU over {window_s:g} s of idling")
        cpu = ctx.cpu_seconds()
        time.sleep(window_s)
        measured["idle_cpu_s"] = ctx.cpu_seconds() - cpu
        ctx.progress("idle: one post to the group every connection belongs to")
        measured["cpu_before_post"] = ctx.cpu_seconds()

    def after_post() -> None:
        measured["post_cpu_s"] = ctx.cpu_seconds() - measured["cpu_before_post"]

    ctx.progress(f"idle: opening {layout.describe()} ({ctx.wire.label})")
    shards = [
        {
            "url": ctx.url(),
            "tokens": part,
            "wire": ctx.wire.params(),
            "sources": list(layout.sources),
            "conv": conv,
            "progress_every": 5000 if connections >= 20_000 else 0,
            # Handshakes in flight across all load processes stay as with one: many
            # more only queue up in the server and time out there.
            "concurrency": max(20, CONNECT_CONCURRENCY // layout.load_processes),
        }
        for part in _split(tokens, layout.load_processes)
    ]
    shards[0]["poster_token"] = users[0].token
    timeout = max(600.0, connections / 50)  # each barrier: a slow connect of them all
    outcomes = await asyncio.to_thread(
        run_workers, Scenario.IDLE, shards, measure, timeout, after_post
    )
    return _idle_figures(ctx, layout, outcomes, before, measured, window_s)


def _idle_figures(
    ctx: Context,
    layout: Layout,
    outcomes: list[dict[str, Any]],
    before: int,
    measured: dict[str, float],
    window_s: float,
) -> dict[str, Any]:
    connected = sum(o["connected"] for o in outcomes)
    alive = sum(o["alive"] for o in outcomes)
    client_delta = sum(o["client_rss_after_kib"] - o["client_rss_before_kib"] for o in outcomes)
    by_source: dict[str, int] = {}
    for outcome in outcomes:
        for address, count in outcome["by_source"].items():
            by_source[address] = by_source.get(address, 0) + count
    deliveries = sum(o["deliveries"] for o in outcomes)
    posted = max(o["posted_at_ns"] for o in outcomes)
    last = max(o["last_arrival_ns"] for o in outcomes)
    spread_s = (last - posted) / 1e9 if posted and last else float("nan")
    return {
        "wire": ctx.wire.label,
        "client_kib_per_connection": client_delta / max(1, connected),
        "connections": connected,
        "alive": alive,
        "load_processes": len(outcomes),
        "server_processes": layout.server_workers or 1,
        "by_source": by_source,
        "connect_s": max(o["connect_elapsed_ns"] for o in outcomes) / 1e9,
        "connect_ms": summary_ms(d for o in outcomes for d in o["connect_ns"]),
        "rss_before_kib": before,
        "rss_after_kib": measured["rss_kib"],
        "kib_per_connection": (measured["rss_kib"] - before) / max(1, connected),
        "idle_window_s": window_s,
        "idle_cpu_percent": 100 * measured["idle_cpu_s"] / window_s,
        "fanout_deliveries": deliveries,
        "fanout_completeness": deliveries / max(1, alive),
        "fanout_s": spread_s,
        "fanout_deliveries_per_s": deliveries / spread_s if spread_s > 0 else 0.0,
        "server_cpu_us_per_delivery": measured["post_cpu_s"] * 1e6 / max(1, deliveries),
    }


async def connect_storm(ctx: Context, connections: int) -> dict[str, Any]:
    """Authenticated connects as fast as the load processes can make them."""
    users = await ctx.users(min(connections, 5000))
    tokens = [users[i % len(users)].token for i in range(connections)]
    await ctx.settle()
    ctx.progress(f"connect: {connections} authenticated connects ({ctx.wire.label})")
    shards = [
        {"url": ctx.url(), "tokens": part, "wire": ctx.wire.params()}
        for part in _split(tokens, ctx.workers)
    ]
    cpu_before = ctx.node.cpu_seconds()
    outcomes = await asyncio.to_thread(run_workers, Scenario.CONNECT, shards)
    cpu = ctx.node.cpu_seconds() - cpu_before
    durations = [d for o in outcomes for d in o["connect_ns"]]
    elapsed = max(o["elapsed_ns"] for o in outcomes) / 1e9
    return {
        "wire": ctx.wire.label,
        "bytes_per_connect": sum(o["bytes_in"] + o["bytes_out"] for o in outcomes)
        / max(1, len(durations)),
        "connections": len(durations),
        "connects_per_s": len(durations) / elapsed,
        "server_cpu_us_per_connect": cpu * 1e6 / max(1, len(durations)),
        **summary_ms(durations),
    }


async def direct(ctx: Context, rate: int, duration_s: float, pairs: int) -> dict[str, Any]:
    """Pairs chatting at a fixed open-loop rate → delivered/s, latency, completeness."""
    users = await ctx.users(2 * pairs)
    couples = [(users[2 * i], users[2 * i + 1]) for i in range(pairs)]
    convs = await ctx.direct_conversations(couples)
    rows = [[a.token, b.token, conv] for (a, b), conv in zip(couples, convs, strict=True)]
    receiver = ctx.other or ctx.node
    parts = _split(rows, ctx.workers)
    shards = [
        {
            "pairs": part,
            "sender_url": ctx.url(),
            "receiver_url": ctx.url(receiver),
            "wire": ctx.wire.params(),
            "rate": rate / len(parts),
            "duration_s": duration_s,
            "body_bytes": ctx.body_bytes,
            "hold_end": True,
        }
        for part in parts
    ]
    await ctx.settle()
    ctx.progress(f"direct: {rate} msg/s for {duration_s:g} s over {pairs} pairs ({ctx.wire.label})")
    # Read between connecting and disconnecting: the figures are the messages' alone.
    start, end = _Reading(ctx), _Reading(ctx, after_activity=True)
    outcomes = await asyncio.to_thread(
        run_workers, Scenario.DIRECT, shards, start.take, after=end.take
    )
    cpu = end.cpu_s - start.cpu_s
    sent = sum(o["sent"] for o in outcomes)
    acked = sum(o["acked"] for o in outcomes)  # stored: what the work per message divides by
    delivered = sum(o["delivered"] for o in outcomes)
    backend_work: dict[str, Any] = {}
    if end.backends and start.backends:
        backend_work = {"backend_per_message": end.backends.minus(start.backends).per(acked)}
    origin = min(o["origin_ns"] for o in outcomes)
    arrivals = [t for o in outcomes for t in o["received_at_ns"]]
    span = (max(arrivals) - origin) / 1e9 if arrivals else float("nan")
    return {
        "wire": ctx.wire.label,
        "body_bytes": ctx.body_bytes,
        "bytes_per_send": sum(o["sender_bytes_out"] for o in outcomes) / max(1, sent),
        "bytes_per_delivery": sum(o["receiver_bytes_in"] for o in outcomes) / max(1, delivered),
        "target_rate": rate,
        "sent": sent,
        "acked": acked,
        "delivered": delivered,
        "completeness": delivered / max(1, sent),
        "silent_pairs": sum(o["silent_pairs"] for o in outcomes),
        "errors": {
            k: sum(o["errors"].get(k, 0) for o in outcomes) for o in outcomes for k in o["errors"]
        },
        "delivered_per_s": delivered / span if arrivals else 0.0,
        "server_cpu_s": cpu,
        "server_cpu_us_per_message": cpu * 1e6 / max(1, acked),
        "nodes": len(ctx.nodes()),
        **backend_work,
        "latency": summary_ms(lat for o in outcomes for lat in o["latency_ns"]),
        "per_second": per_second(arrivals, origin),
        "latency_samples_ms": [lat / 1e6 for o in outcomes for lat in o["latency_ns"][::10]],
    }


class _Reading:
    """The servers' CPU time and, in cluster runs, the backends' counters, taken from
    the thread that coordinates the load processes."""

    def __init__(self, ctx: Context, *, after_activity: bool = False) -> None:
        self.ctx = ctx
        self.after_activity = after_activity
        self.cpu_s = 0.0
        self.backends: Reading | None = None

    def take(self) -> None:
        self.cpu_s = self.ctx.cpu_seconds()
        counters = self.ctx.backends
        if counters is not None:
            self.backends = asyncio.run(counters.read(after_activity=self.after_activity))


async def fanout(ctx: Context, members: int, messages: int, interval_s: float) -> dict[str, Any]:
    """One group with every member online → deliveries/s, publish-to-last-recipient."""
    users = await ctx.users(members)
    owner = users[0]
    ctx.progress(f"fanout: building a group of {members}")
    conv = await ctx.group(owner, users)
    receivers = [u.token for u in users[1:]]
    shards = [
        {
            "url": ctx.url(),
            "wire": ctx.wire.params(),
            "tokens": part,
            "conv": conv,
            "messages": messages,
            "interval_s": interval_s,
            "body_bytes": ctx.body_bytes,
        }
        for part in _split(receivers, ctx.workers)
    ]
    shards[0]["poster_token"] = owner.token
    await ctx.settle()
    ctx.progress(f"fanout: {messages} posts to {members} online members ({ctx.wire.label})")
    cpu_before = ctx.node.cpu_seconds()
    outcomes = await asyncio.to_thread(run_workers, Scenario.FANOUT, shards)
    cpu = ctx.node.cpu_seconds() - cpu_before
    sent_at = next(o["sent_at_ns"] for o in outcomes if o["sent_at_ns"])
    last_latencies = []
    deliveries = 0
    for number, sent in sent_at.items():
        last = max(o["last_seen_ns"].get(number, 0) for o in outcomes)
        if last:
            last_latencies.append(last - sent)
        deliveries += sum(o["counts"].get(number, 0) for o in outcomes)
    expected = messages * len(receivers)
    busy = sum(last_latencies) / 1e9
    return {
        "wire": ctx.wire.label,
        "body_bytes": ctx.body_bytes,
        "bytes_per_delivery": sum(o["member_bytes_in"] for o in outcomes) / max(1, deliveries),
        "bytes_per_send": sum(o["poster_bytes_out"] for o in outcomes) / max(1, messages),
        "members": members,
        "messages": messages,
        "deliveries": deliveries,
        "completeness": deliveries / max(1, expected),
        "deliveries_per_s": deliveries / busy if busy else 0.0,
        "server_cpu_us_per_delivery": cpu * 1e6 / max(1, deliveries),
        "publish_to_last": summary_ms(last_latencies),
    }


async def catch_up(ctx: Context, conversations: int, per_conversation: int) -> dict[str, Any]:
    """A client that missed N messages across M conversations → time until synced."""
    users = await ctx.fresh_users(conversations + 1)
    me, peers = users[0], users[1 : conversations + 1]
    convs = await open_directs(ctx.node.base_url, [(peer, me) for peer in peers])
    ctx.progress(f"catch-up: {conversations * per_conversation} messages while offline")
    senders = [LoadConnection() for _ in peers]
    for conn, peer in zip(senders, peers, strict=True):
        await conn.open(ctx.node.ws_url, peer.token)
    pending = []
    for conn, conv in zip(senders, convs, strict=True):
        for n in range(per_conversation):
            pending.append(
                conn.request(
                    {
                        "t": "send",
                        "cid": f"catchup-{n}",
                        "conv": conv,
                        "kind": "text",
                        "body": {"text": f"missed {n}"},
                    }
                )
            )
    await asyncio.gather(*pending)
    for conn in senders:
        conn.close()
    await ctx.settle()
    started = time.perf_counter_ns()
    client = LoadConnection()
    await client.open(ctx.node.ws_url, me.token)
    received = await _sync_everything(client)
    elapsed = time.perf_counter_ns() - started
    client.close()
    return {
        "messages": conversations * per_conversation,
        "received": received,
        "seconds_to_synced": elapsed / 1e9,
    }


async def _sync_everything(client: LoadConnection) -> int:
    cursor = None
    changed: list[dict[str, Any]] = []
    while True:
        page = await client.request({"t": "sync", **({"cursor": cursor} if cursor else {})})
        changed += page["convs"]
        cursor = page["cursor"]
        if not page["more"]:
            break

    async def pull_all(conv: str) -> int:
        after, count = 0, 0
        while True:
            reply = await client.request({"t": "pull", "conv": conv, "after": after, "limit": 200})
            count += len(reply["items"])
            if reply["items"]:
                after = reply["items"][-1]["seq"]
            if not reply["more"]:
                return count

    counts = await asyncio.gather(*(pull_all(c["conv"]) for c in changed))
    return sum(counts)
