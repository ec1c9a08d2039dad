"""``pigeon bench`` on the wires other than the default, in its quickest mode.

Each run starts its own server, as a user's would; the assertions are about what was
measured and on which wire, never about how fast it went.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import bench_output, run_bench


def bench(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_bench("--out", str(out), *args)


def results(out: Path, *args: str) -> dict[str, Any]:
    run = bench(out, *args)
    assert run.returncode == 0, bench_output(run)
    data = json.loads((out / "results.json").read_text())
    assert isinstance(data, dict)
    return data


def test_protobuf_over_tcp(tmp_path: Path) -> None:
    body = 200
    data = results(
        tmp_path, "fanout", "connect", "--codec", "proto", "--transport", "tcp",
        "--body-bytes", str(body),
    )  # fmt: skip
    assert data["wire"] == "proto/tcp"
    [fan] = data["fanout"]
    assert fan["wire"] == "proto/tcp"
    assert fan["completeness"] == 1.0
    assert fan["bytes_per_delivery"] > body  # the text travels as it is
    assert fan["bytes_per_send"] > body
    [storm] = data["connect"]
    assert storm["connections"] > 0
    assert storm["bytes_per_connect"] > 0
    assert "proto/tcp" in (tmp_path / "results.md").read_text()


def test_json_with_compression(tmp_path: Path) -> None:
    body = 1000
    data = results(tmp_path, "direct", "idle", "--compress", "on", "--body-bytes", str(body))
    assert data["wire"] == "json/ws+deflate"
    [chat] = data["direct"]
    assert chat["completeness"] == 1.0
    # 1,000 characters of chat-like words deflate to well under their size, both ways.
    assert 0 < chat["bytes_per_delivery"] < body
    assert 0 < chat["bytes_per_send"] < body
    [idle] = data["idle"]
    assert idle["alive"] == idle["connections"] > 0
    assert "client_kib_per_connection" in idle


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--transport", "tcp"), "Protobuf only"),
        (("--codec", "proto", "--transport", "tcp", "--compress", "on"), "WebSocket extension"),
    ],
)
def test_impossible_combinations_are_refused(
    tmp_path: Path, args: tuple[str, ...], complaint: str
) -> None:
    run = bench(tmp_path, "fanout", *args)
    assert run.returncode == 2
    assert complaint in run.stderr
    assert not (tmp_path / "results.json").exists()
