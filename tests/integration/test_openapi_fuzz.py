"""Schemathesis over /openapi.json against a real server: every operation, the
stateful phase included, must meet its own schema.

The run is bounded (``MAX_EXAMPLES`` per operation, one worker) and deterministic
(``--generation-deterministic``, which also keeps no example database, and a
fixed seed), with no
response-time limit. Its configuration (``schemathesis.toml`` next to this file)
names the few rules JSON Schema cannot state, each with its reason.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from harness import ServerProcess, unique_name

from .wsclient import PASSWORD

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 20
# A bound on a genuinely stuck run, not a performance expectation.
RUN_TIMEOUT_S = 1200


def _register(server: ServerProcess) -> str:
    body = orjson.dumps({"username": unique_name("fz"), "password": PASSWORD})
    request = urllib.request.Request(
        f"{server.base_url}/api/v1/auth/register",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        token: str = orjson.loads(reply.read())["data"]["access_token"]
    return token


@pytest.mark.timeout(RUN_TIMEOUT_S + 120)
def test_the_api_meets_its_own_schema(server: ServerProcess, tmp_path: Path) -> None:
    token = _register(server)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261207",
        "--generation-deterministic",  # implies no example database
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
