"""The JavaScript SDK's Node tests (sdk/js/test/*.test.js), run by `node --test`.

They start their own `pigeon serve` processes and a Python SDK peer with this
interpreter (PIGEON_PYTHON), so they need nothing from the fixtures here. Missing
node or npm skips with the reason, unless PIGEON_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness import require_service

SDK = Path(__file__).resolve().parents[2] / "sdk" / "js"
NODE_TESTS_TIMEOUT_S = 1800


def node_modules_current() -> bool:
    stamp = SDK / "node_modules" / ".package-lock.json"
    lock = SDK / "package-lock.json"
    return stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime


def test_javascript_sdk_node_tests() -> None:
    node = shutil.which("node")
    require_service("Node.js", node is not None, "install Debian's `nodejs` package")
    assert node is not None
    if not node_modules_current():
        npm = shutil.which("npm")
        require_service("npm", npm is not None, "install Debian's `npm` package")
        assert npm is not None
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK, check=True, timeout=900)
    files = sorted(str(p.relative_to(SDK)) for p in (SDK / "test").glob("*.test.js"))
    assert files, "no Node test files found"
    result = subprocess.run(
        [node, "--test", *files],
        cwd=SDK,
        env={**os.environ, "PIGEON_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=NODE_TESTS_TIMEOUT_S,
        check=False,
    )
    report = result.stdout[-30_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, report
