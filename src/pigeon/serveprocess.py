"""``pigeon serve`` as a child process: started, awaited until it listens, measured, stopped.

The one launcher behind the benchmark's server under test (``pigeon.bench``) and
the test suite's servers (tests/harness.py). A server says it is ready by logging
a JSON ``listening`` event with its ports; asking for port 0 lets the kernel pick
free ones, and a restart asks for the same ports again, so clients keep their URLs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson


class ServeProcess:
    """One ``pigeon serve`` on 127.0.0.1; restarts keep its ports and data directory.

    ``tcp`` also opens the raw TCP transport; ``cpus`` pins the process to those
    cores (the benchmark keeps the server apart from its load generators).
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        *,
        tcp: bool = False,
        cpus: set[int] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.tcp = tcp
        self.cpus = cpus
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
        if not self.tcp:
            raise RuntimeError("this server was started without the TCP transport")
        return f"tcp://127.0.0.1:{self.tcp_port}"

    def command(self) -> list[str]:
        tcp = ["--tcp-port", str(self.tcp_port)] if self.tcp else []
        return [
            *(sys.executable, "-m", "pigeon", "serve", "--host", "127.0.0.1"),
            *("--port", str(self.port), *tcp, "--data-dir", str(self.data_dir), *self.args),
        ]

    def start(self, timeout: float) -> ServeProcess:
        """Start and wait (at most ``timeout`` seconds) until it listens."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                self.command(), stdout=log, stderr=log, env=self.env
            )
        if self.cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, self.cpus)
        self.port, self.tcp_port = self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            for event in self.events():
                if event.get("event") == "listening":
                    return int(event["port"]), int(event.get("tcp_port") or 0)
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        """What the server wrote since its last start."""
        return self.log_path.read_bytes()[self._log_offset :].decode(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written since the last start."""
        out = []
        for line in self.log().splitlines():
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def kill(self, timeout: float = 60.0) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=timeout)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait: the graceful path. Returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        return int(self.proc.returncode)

    def stop(self, grace_s: float = 30.0) -> None:
        stop_all([self], grace_s)

    def rss_kib(self) -> int:
        assert self.proc is not None
        return rss_kib(self.proc.pid)

    def family_rss_kib(self) -> int:
        """Resident memory of the process and its live descendants together (with
        ``--workers``: the supervisor and every worker)."""
        assert self.proc is not None
        page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        return sum(int(stat[21]) for stat in _family_stats(self.proc.pid)) * page_kib

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process and its live descendants have used
        (with ``--workers``, the workers do the serving)."""
        assert self.proc is not None
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(_cpu_ticks(stat) for stat in _family_stats(self.proc.pid)) / ticks


def stop_all(servers: Iterable[ServeProcess], grace_s: float = 15.0) -> None:
    """SIGTERM every running server at once, then wait; whatever is still up after
    ``grace_s`` is killed. Stopping them together costs one shutdown, not one per
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
            proc.wait(timeout=60.0)


def _stat_fields(pid: int | str) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, …; None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _family_stats(pid: int) -> list[list[str]]:
    """The stat fields of ``pid`` and of every live process descending from it."""
    parents: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None:
            parents[int(entry.name)] = fields
    family, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        if current in parents:
            family.append(parents[current])
        frontier.extend(p for p, f in parents.items() if int(f[1]) == current)
    return family


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid: int | str = "self") -> int:
    """Resident memory of a process (this one by default), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
