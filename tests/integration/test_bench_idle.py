"""``pigeon bench idle`` spread out as a large run is, but small: several load
processes, several loopback source addresses, and the closing fan-out.

The assertions are about counts adding up (every socket accounted for, on the
address it was given, every one reached by the post), never about speed.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
from pathlib import Path

import pytest

from harness import bench_output, run_bench


def bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_bench("idle", *args, cwd=tmp_path)


def test_idle_across_load_processes_and_source_addresses(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = bench(
        tmp_path,
        *("--out", str(out), "--connections", "300"),
        *("--source-addresses", "3", "--workers", "2"),
    )
    assert run.returncode == 0, bench_output(run)
    [row] = json.loads((out / "results.json").read_text())["idle"]
    assert row["connections"] == 300
    assert row["alive"] == 300
    assert row["load_processes"] == 2
    # Each socket came from the address it was given, the three taking turns.
    assert row["by_source"] == {"127.0.0.2": 100, "127.0.0.3": 100, "127.0.0.4": 100}
    # One post to a group of every user: each of the 300 sockets got it once.
    assert row["fanout_deliveries"] == 300
    assert row["fanout_completeness"] == 1.0
    assert row["idle_cpu_percent"] >= 0
    assert "### Idle connections" in (out / "results.md").read_text()


def _hard_file_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 400_000:
        pytest.skip("this host's file limit lets one process hold any run the bench allows")
    return hard


def test_more_connections_than_one_process_holds_need_server_workers(tmp_path: Path) -> None:
    connections = _hard_file_limit() + 1
    run = bench(tmp_path, "--connections", str(connections))
    assert run.returncode == 2, run
    assert f"{connections} connections need at least" in run.stderr
    assert "--server-workers auto" in run.stderr


def test_too_few_server_workers_are_refused_with_the_number_needed(tmp_path: Path) -> None:
    hard = _hard_file_limit()
    connections = 2 * hard + 1
    run = bench(
        tmp_path,
        *("--connections", str(connections), "--server-workers", "2"),
        *("--database-url", "postgresql://unused", "--redis-url", "redis://unused"),
    )
    assert run.returncode == 2, run
    needed = math.ceil(connections / min(18_000, hard - 500))
    assert f"--server-workers {needed} or more" in run.stderr
