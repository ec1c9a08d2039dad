"""Offline push under load: one group of offline members receives posts; a local
webhook receiver counts what arrives.

Measured: notifications planned per second (the outbox rows written, read from the
node's own ``pigeon_notifications_planned_total``), notifications delivered per
second at the receiver, and the time from a message's timestamp (taken just before
its commit) to the receiver reading the notification that covers it.

No delay before the first attempt (``push_first_delay_s`` 0), so collapsing happens
only where the dispatcher falls behind — each post is close to one notification
per member, the worst case. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from pigeon.bench.stats import per_second, summary_ms
from pigeon.bench.target import Node, api, make_group, register_users, start_node

SECRET = "bench-webhook-" + "k" * 32
_PLANNED = b"pigeon_notifications_planned_total "
_DRAIN_LIMIT_S = 300.0  # a broken run fails after this, a healthy one ends far sooner
_POLL_S = 0.2


@dataclass
class _Receiver:
    """The operator's app server: checks each signature, records arrival times."""

    arrivals_ns: list[int] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    covered: int = 0  # messages covered (sum of counts)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        now = time.time_ns()
        body = await request.read()
        timestamp = request.headers.get("X-Pigeon-Timestamp", "")
        mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        if request.headers.get("X-Pigeon-Signature") != f"v1={mac.hexdigest()}":
            self.bad_signatures += 1
            return web.Response(status=401)
        note = orjson.loads(body)
        self.arrivals_ns.append(time.perf_counter_ns())
        self.latencies_ns.append(max(0, now - note["ts"] * 1_000_000))
        self.covered += int(note["count"])
        return web.Response(status=204)


async def _planned(session: aiohttp.ClientSession, node: Node) -> int:
    async with session.get(f"{node.base_url}/metrics") as response:
        text = await response.read()
    for line in text.splitlines():
        if line.startswith(_PLANNED):
            return int(float(line[len(_PLANNED) :]))
    return 0


async def _serve(receiver: _Receiver) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


async def offline_push(
    members: int, posts: int, interval_s: float, progress: Callable[[str], None]
) -> dict[str, Any]:
    """``posts`` messages, ``interval_s`` apart, to a group of ``members`` offline users."""
    receiver = _Receiver()
    runner, port = await _serve(receiver)
    env = {
        "PIGEON_PUSH_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
        "PIGEON_PUSH_WEBHOOK_SECRET": SECRET,
        "PIGEON_PUSH_ALLOW_PRIVATE": "127.0.0.1",
        "PIGEON_PUSH_FIRST_DELAY_S": "0",
        "PIGEON_PUSH_POLL_S": "0.05",
        "PIGEON_PUSH_BATCH": "500",
    }
    try:
        with tempfile.TemporaryDirectory(prefix="pigeon-bench-push-") as tmp:
            node = await asyncio.to_thread(start_node, Path(tmp) / "node", (), env)
            try:
                return await _measure(node, receiver, members, posts, interval_s, progress)
            finally:
                node.stop()
    finally:
        await runner.cleanup()


async def _measure(
    node: Node,
    receiver: _Receiver,
    members: int,
    posts: int,
    interval_s: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    progress(f"push: registering {members} members")
    users = await register_users(node.base_url, members)
    poster = users[0]
    conv = await make_group(node.base_url, poster, users)
    expected = posts * (members - 1)
    progress(f"push: {posts} posts to {members - 1} offline members")
    cpu_before = node.cpu_seconds()
    origin = time.perf_counter_ns()
    planned_at: list[tuple[int, int]] = []
    async with aiohttp.ClientSession() as session:
        for n in range(posts):
            body = {"cid": f"push-{n}", "kind": "text", "body": {"text": f"post {n}"}}
            await api(node.base_url, poster.token, "POST", f"/conversations/{conv}/messages", body)
            await asyncio.sleep(interval_s)
        deadline = time.monotonic() + _DRAIN_LIMIT_S
        while receiver.covered < expected and time.monotonic() < deadline:
            planned_at.append((time.perf_counter_ns(), await _planned(session, node)))
            await asyncio.sleep(_POLL_S)
        planned = await _planned(session, node)
    cpu = node.cpu_seconds() - cpu_before
    delivered = len(receiver.arrivals_ns)
    span_s = (max(receiver.arrivals_ns) - origin) / 1e9 if delivered else float("nan")
    # Planning is done when the counter reached its final value.
    done_ns = next((t for t, value in planned_at if value >= planned), time.perf_counter_ns())
    return {
        "members": members,
        "posts": posts,
        "interval_s": interval_s,
        "planned": planned,
        "planned_per_s": planned / max(1e-9, (done_ns - origin) / 1e9),
        "delivered": delivered,
        "delivered_per_s": delivered / span_s if delivered else 0.0,
        "messages_covered": receiver.covered,
        "completeness": receiver.covered / max(1, expected),
        "bad_signatures": receiver.bad_signatures,
        "server_cpu_us_per_notification": cpu * 1e6 / max(1, delivered),
        "commit_to_delivery": summary_ms(receiver.latencies_ns),
        "per_second": per_second(receiver.arrivals_ns, origin),
    }
