"""Test harness: real `pigeon serve` processes and small HTTP/WebSocket helpers.

Integration tests talk to the server exactly as a user's app would: a subprocess
on a free port, real sockets, real SQLite files (or PostgreSQL/Redis when given).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

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


class ServerProcess:
    """One `pigeon serve` subprocess; restarts keep its ports and data directory.

    Besides HTTP it serves the raw TCP protocol on ``tcp_port`` (picked at the first
    start), so every test server can be reached over every transport.
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **TEST_ENV, **(env or {})}
        self.args = args or []
        self.port = 0
        self.tcp_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pigeon",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tcp-port",
            str(self.tcp_port),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, env=self.env)
        self.port, self.tcp_port = self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> tuple[int, int]:
        """The HTTP and TCP ports, once the server said it is listening."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            for event in self.events():
                if event.get("event") == "listening":
                    return int(event["port"]), int(event.get("tcp_port") or 0)
            time.sleep(0.05)
        raise TimeoutError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_bytes()[self._log_offset :].decode(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """JSON log lines written since the last start."""
        out = []
        for line in self.log().splitlines():
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=WAIT_S)

    def terminate(self, timeout: float = WAIT_S) -> int:
        """SIGTERM and wait: the graceful path."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        return int(self.proc.returncode)

    def restart(self) -> ServerProcess:
        self.kill()
        return self.start()

    def stop(self) -> None:
        stop_all([self])


def stop_all(servers: Iterable[ServerProcess], grace_s: float = 15.0) -> None:
    """Teardown: SIGTERM every running server at once, then wait; whatever is still up
    after ``grace_s`` is killed. Stopping them together costs one shutdown, not one per
    server, which matters on a loaded machine where each can take seconds."""
    running = [s.proc for s in servers if s.proc is not None and s.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=WAIT_S)


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
