"""Durability against a real process: offline catch-up, crash (SIGKILL) and graceful
shutdown (SIGTERM) keep every acknowledged message, once, in gapless order (docs/operations.md, "What each component guarantees")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .wsclient import (
    Account,
    Closed,
    Frame,
    Rest,
    WsClient,
    all_history,
    connect,
    direct,
    eventually,
    pull_everything,
    register,
)

# Generous per-connection send budgets: these tests push many messages quickly.
FAST_SENDS = {"PIGEON_SEND_RATE_PER_S": "10000", "PIGEON_SEND_BURST": "10000"}
CRASH_ROUNDS = 5
ACKS_PER_ROUND = 15
SHUTDOWN_CLOSE = 1012
BURST = 150
MAX_RECONNECTS = 10_000
MAX_SENDS = 100_000


async def _pair(rest: Rest) -> tuple[Account, Account, str]:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    return alice, bob, await direct(rest, alice, bob)


def _text(conv: str, text: str, cid: str) -> Frame:
    return {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": text}}


def _assert_gapless(items: list[Frame]) -> None:
    assert [m["seq"] for m in items] == list(range(1, len(items) + 1))
    cids = [(m["from"], m["cid"]) for m in items]
    assert len(set(cids)) == len(cids), "a (sender, cid) was stored twice"


# --- offline catch-up


@pytest.mark.slow
async def test_an_offline_user_catches_up_on_100_messages_by_sync_and_pull(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env=FAST_SENDS)
    rest = Rest(http, server)
    alice, bob, conv = await _pair(rest)
    bob_socket, _ = await connect(http, server, bob)
    cursor = (await bob_socket.sync())["cursor"]
    await bob_socket.close()  # bob goes offline

    sender, _ = await connect(http, server, alice)
    try:
        # Pipelined: all 100 frames go out before the first ack is read.
        for n in range(100):
            await sender.send(_text(conv, f"message {n}", f"cid-{n}"))
        acks = [await sender.expect("ack", cid=f"cid-{n}") for n in range(100)]
    finally:
        await sender.close()
    assert [a["seq"] for a in acks] == list(range(1, 101))

    bob_socket, _ = await connect(http, server, bob)
    try:
        changed = await bob_socket.sync(cursor)
        [entry] = changed["convs"]
        assert entry["conv"] == conv
        assert entry["last_seq"] == 100
        assert entry["unread"] == 100
        items = await pull_everything(bob_socket, conv, after=0)
    finally:
        await bob_socket.close()
    assert [m["body"]["text"] for m in items] == [f"message {n}" for n in range(100)]
    assert [(m["seq"], m["id"]) for m in items] == [(a["seq"], a["id"]) for a in acks]
    _assert_gapless(items)


# --- crash and restart


@pytest.mark.slow
async def test_a_cid_resent_after_a_crash_returns_the_original(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory()
    rest = Rest(http, server)
    alice, bob, conv = await _pair(rest)
    client, _ = await connect(http, server, alice)
    try:
        original = await client.send_text(conv, "before the crash", "crash-cid")
    finally:
        await client.close()

    server.kill()
    server.start()

    client, _ = await connect(http, server, alice)
    try:
        again = await client.request(_text(conv, "after the crash", "crash-cid"), reply="ack")
    finally:
        await client.close()
    assert (again["seq"], again["id"], again["ts"]) == (
        original["seq"],
        original["id"],
        original["ts"],
    )
    body = {"cid": "crash-cid", "kind": "text", "body": {"text": "over REST"}}
    over_rest = await rest.ok(
        "POST", f"conversations/{conv}/messages", token=alice.access, json=body
    )
    assert over_rest["seq"] == original["seq"]
    assert over_rest["id"] == original["id"]
    items = await all_history(rest, bob, conv)
    assert [(m["seq"], m["body"]["text"]) for m in items] == [(1, "before the crash")]


@dataclass
class Sender:
    """Sends numbered messages one at a time, reconnecting and resending whatever was
    in flight when the server died, until told to stop."""

    http: aiohttp.ClientSession
    server: ServerProcess
    account: Account
    conv: str
    acks: dict[str, Frame] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0

    async def run(self, deadline: float) -> None:
        pending: str | None = None
        for _ in range(MAX_RECONNECTS):
            client = await self._connect(deadline)
            try:
                while time.monotonic() < deadline and len(self.acks) < MAX_SENDS:
                    if pending is None:
                        if self.stop.is_set():
                            return
                        pending = f"{self.account.username}-{len(self.acks)}"
                    ack = await client.request(_text(self.conv, pending, pending))
                    assert ack["t"] == "ack", ack
                    assert ack["cid"] == pending
                    self.acks[pending] = ack
                    pending = None
            except (Closed, aiohttp.ClientError, ConnectionError, TimeoutError):
                self.reconnects += 1  # the server died under us: resend ``pending``
            finally:
                await client.close()
            if time.monotonic() >= deadline:
                break
        raise AssertionError(f"sender gave up after {self.reconnects} reconnects")

    async def _connect(self, deadline: float) -> WsClient:
        for _ in range(MAX_RECONNECTS):
            if time.monotonic() >= deadline:
                break
            with contextlib.suppress(Closed, aiohttp.ClientError, ConnectionError, TimeoutError):
                client, _ = await connect(self.http, self.server, self.account)
                return client
            await asyncio.sleep(0.05)  # the server is restarting; retry shortly
        raise AssertionError("could not reconnect")


@pytest.mark.slow
async def test_kill_9_loop_loses_no_acknowledged_message(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env=FAST_SENDS)
    rest = Rest(http, server)
    alice, bob, conv = await _pair(rest)
    deadline = time.monotonic() + 240
    senders = [Sender(http, server, alice, conv), Sender(http, server, bob, conv)]
    tasks = [asyncio.create_task(s.run(deadline)) for s in senders]
    try:
        for _ in range(CRASH_ROUNDS):
            target = sum(len(s.acks) for s in senders) + ACKS_PER_ROUND

            async def enough_acks(target: int = target) -> bool:
                if any(t.done() for t in tasks):
                    return True  # a sender failed: surface its error below
                return sum(len(s.acks) for s in senders) >= target

            await eventually(enough_acks, timeout=60, what="acks between crashes")
            server.kill()
            await asyncio.to_thread(server.start)  # the senders keep retrying meanwhile
        for sender in senders:
            sender.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    server.kill()  # one more crash with everything idle, then read what survived
    server.start()
    rest = Rest(http, server)
    items = await all_history(rest, alice, conv)
    _assert_gapless(items)
    acked = {cid: ack for s in senders for cid, ack in s.acks.items()}
    stored = {m["cid"]: m for m in items}
    # Every ack survived with its seq and id; and since in-flight sends were resent
    # until acknowledged, nothing was stored that its sender never heard about.
    assert set(stored) == set(acked)
    for cid, ack in acked.items():
        assert (stored[cid]["seq"], stored[cid]["id"]) == (ack["seq"], ack["id"]), cid
    assert len(items) >= CRASH_ROUNDS * ACKS_PER_ROUND
    assert sum(s.reconnects for s in senders) >= CRASH_ROUNDS


# --- graceful shutdown


@pytest.mark.slow
async def test_sigterm_closes_sockets_with_1012_and_keeps_every_ack(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(env=FAST_SENDS)
    rest = Rest(http, server)
    alice, bob, conv = await _pair(rest)
    senders = [(await connect(http, server, who))[0] for who in (alice, bob)]
    listener, _ = await connect(http, server, bob)
    sockets = [*senders, listener]
    try:
        for client in senders:  # pipelined: many sends are in flight when the signal lands
            for n in range(BURST):
                await client.send(_text(conv, f"burst {n}", f"burst-{n}"))
        for client in senders:  # the server is busy committing the bursts now
            await client.expect("ack", cid="burst-0")
        # In a thread, so this loop keeps answering the server's close handshakes.
        exiting = asyncio.create_task(asyncio.to_thread(server.terminate))
        for client in sockets:
            assert await client.closed() == SHUTDOWN_CLOSE
        assert await exiting == 0
    finally:
        for client in sockets:
            await client.close()
    acked = [(who, f) for who, c in zip((alice, bob), senders, strict=True) for f in c.backlog]
    acks = {(who.id, f["cid"]): f for who, f in acked if f["t"] == "ack"}
    refused = [f for _, f in acked if f["t"] == "error"]
    assert all(f["code"] // 100 == 503 for f in refused), refused

    server.start()
    items = await all_history(Rest(http, server), bob, conv)
    _assert_gapless(items)
    stored = {(m["from"], m["cid"]): m for m in items}
    for key in [(alice.id, "burst-0"), (bob.id, "burst-0"), *acks]:
        assert key in stored, key
    for key, ack in acks.items():
        assert (stored[key]["seq"], stored[key]["id"]) == (ack["seq"], ack["id"]), key


# --- operations endpoints


async def test_health_readiness_and_metrics(
    http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    rest = Rest(http, shared_server)
    alice, _, conv = await _pair(rest)
    client, _ = await connect(http, shared_server, alice)
    try:
        await client.send_text(conv, "counted", unique_name())
        health = await rest.call("GET", "/healthz")
        assert health.status == 200
        assert health.data["status"] == "alive"
        ready = await rest.call("GET", "/readyz")
        assert ready.status == 200
        assert ready.data["status"] == "ready"
        metrics = await rest.call("GET", "/metrics")
    finally:
        await client.close()
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    samples = _samples(metrics.text)
    assert samples["pigeon_connections"] >= 1
    assert samples["pigeon_messages_stored_total"] >= 1
    assert samples['pigeon_frames_in_total{type="send"}'] >= 1
    assert samples["pigeon_send_to_ack_seconds_count"] >= 1
    assert samples["pigeon_store_commit_seconds_count"] >= 1
    assert any(name.startswith("pigeon_http_requests_total{") for name in samples)
    for family in ("pigeon_pushes_delivered_total", "pigeon_pushes_dropped_total"):
        assert family in samples, family


def _samples(text: str) -> dict[str, float]:
    """Prometheus text format → {'name{labels}': value}, skipping comments."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples
