"""Shared fixtures: server processes and HTTP sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, settings

from harness import ServerProcess, stop_all

# One Hypothesis profile for every test, loaded here so that no run can forget it.
# - No deadline and no `too_slow` health check: both measure wall-clock time, which on a
#   loaded shared machine says nothing about the code under test.
# - Derandomized: each property test draws the same examples on every run and machine,
#   so a CI failure reproduces exactly from the commit alone (no example database, no
#   seed to carry over). Searching wider is a deliberate local act:
#   `pytest --hypothesis-profile=explore` draws fresh random examples on every run.
# The other health checks count rejected or oversized draws, not time: they stay on.
settings.register_profile(
    "pigeon", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("explore", settings.get_profile("pigeon"), derandomize=False)
settings.load_profile("pigeon")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers on demand; every one is stopped after the test."""
    started: list[ServerProcess] = []

    def make(
        name: str = "node", env: dict[str, str] | None = None, args: list[str] | None = None
    ) -> ServerProcess:
        server = ServerProcess(tmp_path / name, env, args)
        started.append(server)
        return server.start()

    yield make
    stop_all(started)


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """A fresh single-node server (SQLite, in-memory broker) for this test."""
    return server_factory()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for a whole module, for tests that need no isolation."""
    server = ServerProcess(tmp_path_factory.mktemp("shared"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API leaves an event loop running in the
    main thread for the rest of the session, which async fixtures cannot share."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/e2e/"))
