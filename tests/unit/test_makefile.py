"""`make run` on a fresh clone installs only what serving needs; `make test` adds the rest.

Checked with `make -n` (print, do not run) against a venv path that does not exist,
which is what a fresh clone looks like to make.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "fresh-venv"
    # A parent make (as in `make test`) passes its flags down; the plan must not depend on them.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_run_installs_runtime_dependencies_only(tmp_path: Path) -> None:
    plan = planned("run", tmp_path)
    assert "pip install --quiet -e .\n" in plan
    assert "[dev]" not in plan
    assert plan.rstrip().endswith("pigeon serve")


def test_test_adds_the_dev_tools(tmp_path: Path) -> None:
    plan = planned("test", tmp_path)
    assert "pip install --quiet -e '.[dev]'" in plan
    assert "pytest" in plan
