"""Load processes: each runs one shard of a scenario on its own event loop and core.

Workers and the coordinator meet at a barrier once every connection is up, so the
measured phase starts together everywhere; each worker then reports a plain dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from multiprocessing.synchronize import Barrier
from typing import Any

from pigeon.bench.catalog import Scenario
from pigeon.bench.loadclient import LoadConnection, Wire
from pigeon.bench.target import load_cores
from pigeon.protocol.frames import Frame
from pigeon.serveprocess import rss_kib

Shard = Callable[[dict[str, Any], Barrier], Coroutine[Any, Any, dict[str, Any]]]
CONNECT_CONCURRENCY = 200


def _prepare_process() -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, load_cores())
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _worker_main(name: Scenario, params: dict[str, Any], barrier: Barrier, results: Any) -> None:
    _prepare_process()
    run: Callable[..., dict[str, Any]] = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        outcome = run(SHARDS[name](params, barrier))
    except Exception as exc:  # reported, never swallowed
        barrier.abort()
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    results.put(outcome)


def run_workers(
    name: Scenario,
    shards: list[dict[str, Any]],
    between: Callable[[], None] | None = None,
    timeout: float = 600.0,
    after: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Run one process per shard; ``between`` runs while all of them are connected.

    ``after`` runs once every shard has finished its measured phase and before any
    closes its connections; the shards must then have ``hold_end`` set (only
    ``direct`` supports it), so that disconnects are not billed to the measurement.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(shards) + 1, timeout=timeout)
    results = context.Queue()
    processes = [
        context.Process(target=_worker_main, args=(name, shard, barrier, results))
        for shard in shards
    ]
    for process in processes:
        process.start()
    try:
        try:
            barrier.wait()  # everyone connected
            if between is not None:
                between()
            barrier.wait()  # measured phase starts
            if after is not None:
                barrier.wait()  # measured phase over, everyone still connected
                after()
                barrier.wait()  # connections may close
        except threading.BrokenBarrierError:
            pass  # a worker failed and broke the barrier: its outcome says why
        outcomes = [results.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [o["error"] for o in outcomes if "error" in o]
    if errors:
        raise RuntimeError("; ".join(errors))
    return outcomes


async def _poll(done: Callable[[], bool], seconds: float) -> None:
    """Wait until ``done()`` or ``seconds`` pass (frames arrive in callbacks, not awaits)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not done() and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def _wait(barrier: Barrier) -> None:
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)


async def _connect_all(
    url: str,
    tokens: list[str],
    on_frame: Any = None,
    wire: Wire | None = None,
    sources: list[str] | None = None,
    progress_every: int = 0,
    concurrency: int = CONNECT_CONCURRENCY,
) -> tuple[list[LoadConnection], list[int]]:
    """Connect and authenticate one socket per token; with ``sources``, the sockets
    take the source addresses in turn (each address has its own ephemeral ports)."""
    gate = asyncio.Semaphore(concurrency)
    durations: list[int] = []

    async def one(index: int, token: str) -> LoadConnection:
        async with gate:
            conn = LoadConnection(on_frame, wire)
            source = sources[index % len(sources)] if sources else None
            started = time.perf_counter_ns()
            await conn.open(url, token, source)
            durations.append(time.perf_counter_ns() - started)
            if progress_every and len(durations) % progress_every == 0:
                print(f"[pid {os.getpid()}] {len(durations)}/{len(tokens)} connected", flush=True)
            return conn

    conns = list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens))))
    return conns, durations


_VOCABULARY = (
    "the a to and of in is it you that he was for on are with as I his they be at one "
    "have this from or had by hot word but what some we can out other were all there "
    "when up use your how said an each she which do their time if will way about many "
    "then them write would like so these her long make thing see him two has look more "
    "day could go come did number sound no most people my over know water than call "
    "first who may down side been now find meeting tomorrow lunch photo sent thanks ok"
)


def filler(size: int) -> dict[str, str]:
    """A ``text`` field of ``size`` characters of chat-like words (the same every run),
    so message size, and what deflate makes of it, is a parameter of the run."""
    if size <= 0:
        return {}
    pick = random.Random(size)  # filler text, not a secret: seeded, the same every run
    vocabulary = _VOCABULARY.split()
    words: list[str] = []
    length = 0
    while length < size:
        word = pick.choice(vocabulary)
        words.append(word)
        length += len(word) + 1
    return {"text": " ".join(words)[:size]}


# --- shards -------------------------------------------------------------------------


def _bytes(conns: list[LoadConnection]) -> dict[str, int]:
    return {
        "bytes_in": sum(c.bytes_in for c in conns),
        "bytes_out": sum(c.bytes_out for c in conns),
    }


async def idle_shard(params: dict[str, Any], barrier: Barrier) -> dict[str, Any]:
    """Hold the connections while the coordinator measures; then, with ``conv``, one
    post there (shard 0 posts) that every connection should receive."""
    wire = Wire.from_params(params.get("wire"))
    arrivals: list[int] = []

    def on_frame(conn: LoadConnection, frame: Frame, now: int) -> None:
        if frame.get("t") == "msg" and frame.get("kind") == "custom":
            arrivals.append(now)

    sources = params.get("sources") or None
    rss_before = rss_kib()
    started = time.perf_counter_ns()
    conns, durations = await _connect_all(
        params["url"],
        params["tokens"],
        on_frame,
        wire,
        sources,
        params.get("progress_every", 0),
        params.get("concurrency", CONNECT_CONCURRENCY),
    )
    connect_elapsed = time.perf_counter_ns() - started
    poster = None
    if params.get("poster_token"):
        poster = (await _connect_all(params["url"], [params["poster_token"]], wire=wire))[0][0]
    await asyncio.sleep(1.0)  # as the server's reading: let the allocator settle
    rss_after = rss_kib()
    by_source: dict[str, int] = {}
    for conn in conns:
        address = conn.local_address()
        by_source[address] = by_source.get(address, 0) + 1
    await _wait(barrier)
    await _wait(barrier)  # the coordinator measured memory and idle CPU in between
    alive = sum(1 for c in conns if not c.closed.done())
    posted_at = 0
    if params.get("conv"):
        posted_at = await _post_once(poster, params["conv"]) if poster is not None else 0
        await _poll(lambda: len(arrivals) >= alive, params.get("drain_s", 60.0))
        await _wait(barrier)  # everyone done receiving
        await _wait(barrier)  # the coordinator read the CPU spent
    for conn in (*conns, *([poster] if poster is not None else [])):
        conn.close()
    return {
        "connected": len(conns),
        "alive": alive,
        "by_source": by_source,
        "connect_ns": durations,
        "connect_elapsed_ns": connect_elapsed,
        "client_rss_before_kib": rss_before,
        "client_rss_after_kib": rss_after,
        "posted_at_ns": posted_at,
        "deliveries": len(arrivals),
        "first_arrival_ns": min(arrivals, default=0),
        "last_arrival_ns": max(arrivals, default=0),
    }


async def _post_once(poster: LoadConnection, conv: str) -> int:
    """One message to ``conv``; when it was sent (wall clock, as arrivals are)."""
    sent = time.time_ns()
    await poster.request(
        {
            "t": "send",
            "cid": f"idle-{secrets.token_hex(4)}",
            "conv": conv,
            "kind": "custom",
            "body": {"n": 0, "t": sent},
        }
    )
    return sent


async def connect_shard(params: dict[str, Any], barrier: Barrier) -> dict[str, Any]:
    wire = Wire.from_params(params.get("wire"))
    await _wait(barrier)
    await _wait(barrier)
    started = time.perf_counter_ns()
    conns, durations = await _connect_all(params["url"], params["tokens"], wire=wire)
    elapsed = time.perf_counter_ns() - started
    for conn in conns:
        conn.close()
    return {
        "connected": len(conns),
        "connect_ns": durations,
        "elapsed_ns": elapsed,
        **_bytes(conns),
    }


async def direct_shard(params: dict[str, Any], barrier: Barrier) -> dict[str, Any]:
    """Open-loop sends at a fixed rate over pairs; receivers time every delivery."""
    latencies: list[int] = []
    received_at: list[int] = []
    per_conv: dict[str, int] = {}
    errors: dict[int, int] = {}
    acks = 0

    def on_frame(conn: LoadConnection, frame: Frame, now: int) -> None:
        nonlocal acks
        kind = frame.get("t")
        if kind == "msg":
            latencies.append(now - frame["body"]["t"])
            received_at.append(now)
            per_conv[frame["conv"]] = per_conv.get(frame["conv"], 0) + 1
        elif kind == "ack":
            acks += 1
        elif kind == "error":
            errors[frame.get("code", 0)] = errors.get(frame.get("code", 0), 0) + 1

    pairs = params["pairs"]  # [[sender_token, receiver_token, conv], ...]
    wire = Wire.from_params(params.get("wire"))
    senders, _ = await _connect_all(params["sender_url"], [p[0] for p in pairs], on_frame, wire)
    receivers, _ = await _connect_all(params["receiver_url"], [p[1] for p in pairs], on_frame, wire)
    await _wait(barrier)
    await _wait(barrier)
    for conn in (*senders, *receivers):
        conn.reset_counts()
    run = secrets.token_hex(4)  # cids must not repeat across runs: the server would dedup
    pad = filler(params.get("body_bytes", 0))
    rate, duration = params["rate"], params["duration_s"]
    interval = 1.0 / rate
    origin = time.time_ns()
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    total = int(rate * duration)
    while sent < total:
        due = int((loop.time() - start) / interval) + 1
        while sent < min(due, total):
            index = sent % len(pairs)
            senders[index].send(
                {
                    "t": "send",
                    "cid": f"{run}-{index}-{sent}",
                    "conv": pairs[index][2],
                    "kind": "custom",
                    "body": {"t": time.time_ns(), **pad},
                }
            )
            sent += 1
        await asyncio.sleep(max(0.0, start + sent * interval - loop.time()))
    await _poll(lambda: len(latencies) >= sent and acks >= sent, params.get("drain_s", 10.0))
    if params.get("hold_end"):  # the coordinator reads its counters before we disconnect
        await _wait(barrier)
        await _wait(barrier)
    return {
        "sent": sent,
        "acked": acks,
        "delivered": len(latencies),
        "latency_ns": latencies,
        "origin_ns": origin,
        "received_at_ns": received_at,
        "silent_pairs": sum(1 for pair in pairs if pair[2] not in per_conv),
        "errors": errors,
        "sender_bytes_out": sum(c.bytes_out for c in senders),
        "receiver_bytes_in": sum(c.bytes_in for c in receivers),
    }


async def fanout_shard(params: dict[str, Any], barrier: Barrier) -> dict[str, Any]:
    """Members count deliveries per message; shard 0 also posts."""
    last_seen: dict[int, int] = {}
    counts: dict[int, int] = {}

    def on_frame(conn: LoadConnection, frame: Frame, now: int) -> None:
        if frame.get("t") == "msg" and frame.get("kind") == "custom":
            number = frame["body"]["n"]
            counts[number] = counts.get(number, 0) + 1
            if now > last_seen.get(number, 0):
                last_seen[number] = now

    wire = Wire.from_params(params.get("wire"))
    members, _ = await _connect_all(params["url"], params["tokens"], on_frame, wire)
    poster = None
    if params.get("poster_token"):
        poster = (await _connect_all(params["url"], [params["poster_token"]], wire=wire))[0][0]
    await _wait(barrier)
    await _wait(barrier)
    for conn in (*members, *([poster] if poster is not None else [])):
        conn.reset_counts()
    sent_at: dict[int, int] = {}
    run = secrets.token_hex(4)
    pad = filler(params.get("body_bytes", 0))
    messages = params["messages"]
    if poster is not None:
        for number in range(messages):
            sent_at[number] = time.time_ns()
            await poster.request(
                {
                    "t": "send",
                    "cid": f"{run}-f{number}",
                    "conv": params["conv"],
                    "kind": "custom",
                    "body": {"n": number, "t": sent_at[number], **pad},
                }
            )
            await asyncio.sleep(params["interval_s"])
    expected = len(params["tokens"])
    await _poll(
        lambda: len(counts) >= messages and min(counts.values(), default=0) >= expected,
        params.get("drain_s", 20.0),
    )
    return {
        "counts": counts,
        "last_seen_ns": last_seen,
        "sent_at_ns": sent_at,
        "member_bytes_in": sum(c.bytes_in for c in members),
        "poster_bytes_out": poster.bytes_out if poster is not None else 0,
    }


SHARDS: dict[Scenario, Shard] = {
    Scenario.IDLE: idle_shard,
    Scenario.CONNECT: connect_shard,
    Scenario.DIRECT: direct_shard,
    Scenario.FANOUT: fanout_shard,
}
