"""Fixtures of the interop tests: a Node with the locked npm packages of tests/interop/node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import require_service

NODE_DIR = Path(__file__).resolve().parent / "node"


def _missing_packages() -> list[str]:
    """The dependencies of package.json that node_modules does not hold."""
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    return [name for name in wanted if not (NODE_DIR / "node_modules" / name).is_dir()]


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` binary, once ``npm ci`` has installed every locked package.

    Without node/npm the test skips (fails under PIGEON_REQUIRE_SERVICES=1), as it does
    when the install fails (no registry reachable).
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    require_service("node", node is not None and npm is not None, "node and npm are not on PATH")
    assert node is not None
    assert npm is not None
    if _missing_packages():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        require_service("npm packages", installed.returncode == 0, installed.stderr[-2000:])
    return node
