"""``pigeon bench --reference``: Pigeon against bare WebSocket servers in the same run.

Run in the quickest mode; the assertions are about what was measured and whether the
bare servers delivered everything, never about how fast anything went.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import bench_output, run_bench
from pigeon.bench.baseline import ReferenceServer
from pigeon.bench.loadclient import LoadConnection
from pigeon.bench.reference import Stack
from pigeon.protocol.frames import Frame

COMPARED = {"connect", "direct", "fanout"}


def bench(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_bench("--out", str(out), *args)


def test_reference_run_reports_multiples_of_complete_bare_runs(tmp_path: Path) -> None:
    run = bench(tmp_path, "connect", "direct", "fanout", "--reference")
    assert run.returncode == 0, bench_output(run)
    data: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    against = data["against_bare"]
    assert set(against["stacks"]) == {s.value for s in Stack}
    for stack, rows in against["stacks"].items():
        assert set(rows) == COMPARED, stack
        [storm] = rows["connect"]
        assert storm["connections"] == data["connect"][0]["connections"] > 0
        for name in ("direct", "fanout"):
            for row in rows[name]:
                assert row["completeness"] == 1.0, (stack, name, row)
        for row in rows["direct"]:
            assert row["acked"] == row["sent"] > 0, (stack, row)
    comparisons = against["comparisons"]
    assert {c["scenario"] for c in comparisons} == COMPARED
    for c in comparisons:
        assert set(c["bare"]) == {s.value for s in Stack}
        assert c["bare_complete"] == {s.value: 1.0 for s in Stack}
        assert c["target"] in (1.2, 6.0, 2.0)
    for name in COMPARED:  # Pigeon's own rows carry the multiple too
        assert all("x_fastest_bare" in row for row in data[name])
    report = (tmp_path / "results.md").read_text()
    assert "### Against bare stacks" in report
    assert "fastest bare" in report
    assert "against bare: fanout" in run.stdout


def test_reference_refuses_other_wires(tmp_path: Path) -> None:
    run = bench(tmp_path, "fanout", "--reference", "--codec", "proto", "--transport", "tcp")
    assert run.returncode == 2
    assert "--reference" in run.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("stack", list(Stack))
def test_bare_server_speaks_what_the_load_client_expects(tmp_path: Path, stack: Stack) -> None:
    """The frames a bare server answers with have Pigeon's shapes."""
    server = ReferenceServer(stack, tmp_path).start(timeout=60)
    try:
        asyncio.run(_exchange(server.ws_url))
    finally:
        server.stop()


async def _exchange(url: str) -> None:
    pushed: dict[str, list[Frame]] = {"alice": [], "bob": [], "carol": []}

    def collect(conn: LoadConnection, frame: Frame, _now: int) -> None:
        pushed[conn.user_id].append(frame)

    conns = {name: LoadConnection(collect) for name in pushed}
    for name, conn in conns.items():
        ready = await conn.open(url, name)
        assert ready["user"] == name
        assert {"device", "session", "heartbeat", "server_time"} <= set(ready)
    try:
        send = {"t": "send", "cid": "c1", "kind": "custom", "body": {"n": 1}}
        ack = await asyncio.wait_for(conns["alice"].request({**send, "conv": "bob"}), 30)
        assert ack["t"] == "ack"
        assert {"conv", "seq", "id", "ts"} <= set(ack)
        assert ack["cid"] == "c1"
        await asyncio.wait_for(conns["alice"].request({**send, "conv": "a-group"}), 30)
        async with asyncio.timeout(30):
            while len(pushed["bob"]) < 2 or not pushed["carol"]:
                await asyncio.sleep(0.05)
        direct, group = pushed["bob"]
        assert direct["t"] == "msg"
        assert direct["from"] == "alice"
        assert direct["body"] == {"n": 1}
        assert direct["conv"] == "bob"
        assert group["conv"] == "a-group"
        assert [f["conv"] for f in pushed["carol"]] == ["a-group"]
        assert pushed["alice"] == []  # the sending socket gets its ack, not the push
    finally:
        for conn in conns.values():
            conn.close()
