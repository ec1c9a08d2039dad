"""Cluster fixtures: one PostgreSQL per session (a fresh database per test), a
Redis (or a Redis Cluster) per test, and pigeon nodes started against both."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import ServerProcess, stop_all

from .services import PostgresServer, RedisClusterServers, RedisServer

# Short enough that "offline within one TTL" is quick to observe.
PRESENCE_TTL_S = 3
CLUSTER_SECRET = "cluster-secret-" + "y" * 40
# Generous: several nodes start at once on a small shared machine.
START_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().init()
    yield server
    server.cleanup()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.create_database("t_" + secrets.token_hex(6))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


NodeFactory = Callable[..., ServerProcess]


@pytest.fixture
def node_factory(
    tmp_path: Path, database_url: str, redis_server: RedisServer
) -> Iterator[NodeFactory]:
    """``make(name)`` builds a node of this test's cluster; ``start=False`` leaves it
    unstarted, ``args`` adds options to its ``pigeon serve``."""
    yield from _nodes(tmp_path, database_url, ["--redis-url", redis_server.url])


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """Three primaries of a throwaway Redis Cluster, created for the test."""
    servers = RedisClusterServers(tmp_path / "redis-cluster").create()
    yield servers
    servers.kill()


@pytest.fixture
def cluster_node_factory(
    tmp_path: Path, database_url: str, redis_cluster: RedisClusterServers
) -> Iterator[NodeFactory]:
    """``node_factory``'s nodes, on a Redis Cluster."""
    yield from _nodes(tmp_path, database_url, ["--redis-url", redis_cluster.url, "--redis-cluster"])


def _nodes(tmp_path: Path, database_url: str, redis_args: list[str]) -> Iterator[NodeFactory]:
    made: list[ServerProcess] = []

    def make(
        name: str,
        *,
        start: bool = True,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> ServerProcess:
        node = ServerProcess(
            tmp_path / name,
            env={
                "PIGEON_JWT_SECRET": CLUSTER_SECRET,
                "PIGEON_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
                "PIGEON_PRESENCE_DEBOUNCE_S": "0.5",
                "PIGEON_SHUTDOWN_GRACE_S": "5",
                # chatters send back to back; the per-connection limit is not under test
                "PIGEON_SEND_RATE_PER_S": "1000",
                "PIGEON_SEND_BURST": "1000",
                **(env or {}),
            },
            args=[
                "--database-url",
                database_url,
                *redis_args,
                "--node-id",
                name,
                *(args or []),
            ],
        )
        made.append(node)
        return node.start(START_TIMEOUT_S) if start else node

    yield make
    stop_all(made)
