"""Test harness: real `pigeon serve` processes and small HTTP/WebSocket helpers.

Integration tests talk to the server exactly as a user's app would: a subprocess
on a free port, real sockets, real SQLite files (or PostgreSQL/Redis when given).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from pigeon.serveprocess import ServeProcess, stop_all

JWT_SECRET = "test-secret-" + "x" * 40

# Fast password hashing and generous auth budgets, so tests can create many users.
TEST_ENV = {
    "PIGEON_JWT_SECRET": JWT_SECRET,
    "PIGEON_ARGON2_TIME_COST": "1",
    "PIGEON_ARGON2_MEMORY_KIB": "256",
    "PIGEON_AUTH_RATE_PER_MIN": "100000",
    "PIGEON_LOGIN_FAILURES_PER_MIN": "100000",
    "PIGEON_USER_SEND_RATE_PER_S": "100000",
    "PIGEON_USER_SEND_BURST": "100000",
    "PIGEON_UPLOAD_RATE_PER_MIN": "100000",
    "PIGEON_LOG_LEVEL": "INFO",
}

# Upper bounds for waits. The suite runs on small shared machines under load, so every
# wait polls for its condition and returns as soon as it holds; these bounds only decide
# how long a genuinely broken test takes to fail. Never a performance assertion.
WAIT_S = 60.0  # one expected event: a frame, a state change, a reply
START_TIMEOUT_S = 90.0  # a server process (or a helper service) starting to listen


def require_service(name: str, available: bool, reason: str) -> None:
    """Skip when a service is missing, unless CI demands it (PIGEON_REQUIRE_SERVICES=1)."""
    if available:
        return
    message = f"{name} is not available: {reason}"
    if os.environ.get("PIGEON_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (PIGEON_REQUIRE_SERVICES=1)")
    pytest.skip(message)


class ServerProcess(ServeProcess):
    """A test server (src/pigeon/serveprocess.py) with the suite's settings (``TEST_ENV``).

    Besides HTTP it serves the raw TCP protocol on ``tcp_port`` (picked at the first
    start), so every test server can be reached over every transport.
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        super().__init__(data_dir, {**TEST_ENV, **(env or {})}, args or [], tcp=True)

    def start(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        super().start(timeout)
        return self

    def restart(self) -> ServerProcess:
        self.kill()
        return self.start()

    def stop(self, grace_s: float = 15.0) -> None:
        stop_all([self], grace_s)

    async def cli(self, *args: str) -> tuple[int, str, str]:
        """``pigeon ARGS --data-dir <this server's>`` as its own process, the way an
        operator runs it beside the server: (exit status, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pigeon",
            *args,
            "--data-dir",
            str(self.data_dir),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
        return int(proc.returncode or 0), out.decode(), err.decode()


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def service_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost, and its key (PEM files), made
    by Debian's `openssl`; skips without it (fails under PIGEON_REQUIRE_SERVICES=1)."""
    openssl = shutil.which("openssl")
    require_service("openssl", openssl is not None, "install Debian's `openssl` package")
    assert openssl is not None
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=WAIT_S,
    )
    return cert, key


BENCH_TIMEOUT_S = 600  # a --quick bench on a loaded machine; bounded all the same


def run_bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``pigeon bench --quick ARGS`` as a child process; its output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "pigeon", "bench", "--quick", *args],
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )


def bench_output(run: subprocess.CompletedProcess[str]) -> str:
    """The end of what a bench run printed: what a failed assertion shows."""
    return run.stdout[-3000:] + run.stderr[-3000:]
