"""``pigeon bench cluster`` in its quickest mode, on one and on two nodes.

Besides the usual direct-message figures, a cluster run reports what each message
cost the shared backends (Redis commands, PostgreSQL transactions and rows): the
inputs of the scaling model in docs/scaling.md. The assertions are about what was
counted, never about how fast anything went.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import bench_output, run_bench

from .services import RedisServer


@pytest.mark.parametrize("nodes", [1, 2])
def test_cluster_bench_counts_backend_work(
    tmp_path: Path, database_url: str, redis_server: RedisServer, nodes: int
) -> None:
    out = tmp_path / "out"
    run = run_bench(
        *("cluster", "--out", str(out), "--cluster-nodes", str(nodes)),
        *("--database-url", database_url, "--redis-url", redis_server.url),
    )
    assert run.returncode == 0, bench_output(run)
    [row] = json.loads((out / "results.json").read_text())["cluster"]
    assert row["nodes"] == nodes
    assert row["completeness"] == 1.0
    work = row["backend_per_message"]
    # Every message is stored: at least one row written for it.
    assert work["pg_rows_written"] >= 1
    assert work["pg_transactions"] > 0
    assert work["redis_commands"] > 0
    if nodes == 2:  # each receiver is on the other node: every message crosses Redis
        assert work["redis_by_command"].get("publish", 0) >= 1
    report = (out / "results.md").read_text()
    assert f"{nodes} node(s); what they and the backends did per message stored" in report
