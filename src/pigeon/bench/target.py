"""The server under test: started pinned to one core, measured, provisioned with users."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from pigeon.serveprocess import ServeProcess

# Generous limits: the benchmark measures the server, not its abuse protection.
BENCH_ENV = {
    "PIGEON_JWT_SECRET": "bench-" + "s" * 40,
    "PIGEON_ARGON2_TIME_COST": "1",
    "PIGEON_ARGON2_MEMORY_KIB": "256",
    "PIGEON_AUTH_RATE_PER_MIN": "10000000",
    "PIGEON_SEND_RATE_PER_S": "100000",
    "PIGEON_SEND_BURST": "100000",
    "PIGEON_SEND_QUEUE_BYTES": "268435456",
    "PIGEON_MAX_GROUP_MEMBERS": "50000",
    "PIGEON_LOG_LEVEL": "WARNING",
    "PIGEON_HEARTBEAT_S": "600",
    # Every benchmark socket comes from this host's one address.
    "PIGEON_MAX_CONNECTIONS_PER_IP": "1000000",
    "PIGEON_MAX_PENDING_PER_IP": "1000000",
    # A large idle run shares 5,000 users out over up to a few hundred thousand sockets.
    "PIGEON_MAX_SOCKETS_PER_USER": "1000",
}


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def server_core() -> set[int]:
    return {cores()[0]}


def load_cores() -> set[int]:
    """Every core but the server's, or the only one there is."""
    rest = cores()[1:]
    return set(rest) if rest else set(cores())


# The server under test: a ``ServeProcess`` pinned to the server core.
Node = ServeProcess


def start_node(
    data_dir: Path,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    *,
    tcp: bool = False,
    cpus: set[int] | None = None,
) -> Node:
    """Start ``pigeon serve`` on a free port, pinned to ``cpus`` (the server core)."""
    node = ServeProcess(
        data_dir,
        {**BENCH_ENV, "PIGEON_LOG_LEVEL": "INFO", **(env or {})},
        extra_args,
        tcp=tcp,
        cpus=cpus or server_core(),
    )
    return node.start(timeout=60)


@dataclass(frozen=True)
class BenchUser:
    id: str
    token: str


async def register_users(base_url: str, count: int, concurrency: int = 32) -> list[BenchUser]:
    """Create ``count`` fresh users through the public API."""
    prefix = "b" + secrets.token_hex(3)
    users: list[BenchUser | None] = [None] * count
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        async with gate:
            body = {"username": f"{prefix}{index}", "password": "bench-password"}
            async with session.post(f"{base_url}/api/v1/auth/register", json=body) as response:
                data = (await response.json())["data"]
        users[index] = BenchUser(data["user"]["id"], data["access_token"])

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, i) for i in range(count)))
    return [u for u in users if u is not None]


async def api(base_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{base_url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        envelope = await response.json()
    if envelope["code"]:
        raise RuntimeError(f"{method} {path}: {envelope}")
    return envelope["data"]


async def open_directs(base_url: str, pairs: Sequence[tuple[BenchUser, BenchUser]]) -> list[str]:
    gate = asyncio.Semaphore(32)

    async def one(a: BenchUser, b: BenchUser) -> str:
        async with gate:
            conv = await api(base_url, a.token, "POST", "/conversations/direct", {"user_id": b.id})
            return str(conv["id"])

    return list(await asyncio.gather(*(one(a, b) for a, b in pairs)))


async def make_group(base_url: str, owner: BenchUser, members: Sequence[BenchUser]) -> str:
    group = await api(base_url, owner.token, "POST", "/groups", {"title": "bench"})
    ids = [m.id for m in members if m.id != owner.id]
    for start in range(0, len(ids), 500):
        await api(
            base_url,
            owner.token,
            "POST",
            f"/groups/{group['id']}/members",
            {"user_ids": ids[start : start + 500]},
        )
    return str(group["id"])
