"""``pigeon serve --workers N``: N worker processes on the same ports, one supervisor.

Each worker is the ordinary ``pigeon serve`` started again as a child (``--worker-index
I``): a fresh interpreter running the single-node code path unchanged, with its own
node id, event loop, database pool and Redis connections. So N workers are exactly N
nodes of a cluster that happen to share a host and ports, and give the guarantees
N separate nodes give. Exec rather than ``multiprocessing``: forking a process that
has imported uvloop, SQLAlchemy and started threads is unsafe, and spawning through
``multiprocessing`` would add pickled arguments and a second code path for the same
thing a command line already says.

The kernel spreads connections over the workers (SO_REUSEPORT on the HTTP, TCP and
line ports). The supervisor itself serves nothing:

- it refuses a store or broker that cannot span processes (SQLite, in-memory);
- it migrates the schema once, before any worker starts, and makes the generated JWT
  secret once, so workers never race to create it;
- it binds every shared port first (SO_REUSEPORT, never listening): port 0 becomes a
  concrete port all workers then share, a busy port is refused before any worker
  starts, and the port stays reserved while a worker restarts;
- it forwards SIGTERM/SIGINT as SIGTERM to every worker, waits for each to drain as a
  single node does, and exits 0 when all exited 0;
- it restarts a worker that exits on its own, after a backoff delay
  (pigeon/backoff.py), and logs each start, exit and restart.

Workers run in their own session, so a terminal's Ctrl-C reaches them once, through
the supervisor; a worker whose supervisor disappears (kill -9) drains and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pigeon.backoff import Backoff, ReconnectPolicy
from pigeon.config import Settings
from pigeon.listener import ListenFailed

log = logging.getLogger("pigeon.supervisor")

# A worker that crashes right away is started again after 0 to 0.5 s, then up to twice as
# long each time, at most 30 s; one that ran this long before dying starts a fresh run.
RESTART_POLICY = ReconnectPolicy(initial_delay=0.5, max_delay=30.0)
STABLE_AFTER_S = 60.0
# How often a worker looks whether its supervisor is still there.
ORPHAN_CHECK_S = 1.0


class WorkersRefused(Exception):
    """``workers`` > 1 with a backend that one process alone holds."""


def refusal(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None when they can."""
    database = settings.database_url or ""
    if not database.startswith(("postgresql", "postgres")):
        return (
            "--workers / PIGEON_WORKERS above 1 (or auto) needs PostgreSQL: set --database-url / "
            "PIGEON_DATABASE_URL to a postgresql:// URL (SQLite is one process's database)"
        )
    if not settings.redis_url:
        return (
            "--workers / PIGEON_WORKERS above 1 (or auto) needs Redis: set --redis-url / "
            "PIGEON_REDIS_URL (the in-memory broker and presence do not span processes)"
        )
    if settings.metrics_port and settings.metrics_port + settings.worker_count - 1 > 65535:
        return (
            "--metrics-port / PIGEON_METRICS_PORT: each worker serves /metrics on the "
            "metrics port plus its index, which would pass 65535"
        )
    return None


def node_id_of(base: str, index: int) -> str:
    return f"{base}-w{index}"


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def reserve_port(host: str, port: int, setting: str) -> socket.socket:
    """Bind (without listening) with SO_REUSEPORT: workers can then bind the same
    port, no other program can, and a connection never lands on this socket."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenFailed(setting, where, exc) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ListenFailed(setting, where, exc) from exc
    return sock


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    index: int
    node_id: str
    env: Mapping[str, str]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "pigeon", "serve", "--worker-index", str(self.index)]


class Supervisor:
    """Starts, watches, restarts and stops the workers of one ``pigeon serve``.

    ``flags`` are the options given on the command line; workers get them (and the
    ports the supervisor resolved) as ``PIGEON_*`` variables, so a worker's settings
    are the supervisor's.
    """

    def __init__(self, settings: Settings, flags: Mapping[str, Any], base_node_id: str) -> None:
        self.settings = settings
        self.flags = {k: v for k, v in flags.items() if v is not None}
        self.node_id = base_node_id
        self.count = settings.worker_count
        self._stopping = asyncio.Event()
        self._reserved: list[socket.socket] = []

    async def run(self) -> int:
        """Migrate, reserve the ports, run the workers until a signal; the exit status."""
        await self._migrate()
        ports = self._reserve_ports()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, sig)
        log.info(
            "supervising",
            extra={"workers": self.count, "host": self.settings.host, **ports},
        )
        if self.settings.metrics_port is None:
            log.warning(
                "no metrics port: /metrics on the main port answers for whichever worker "
                "took the connection; set --metrics-port to scrape every worker"
            )
        try:
            specs = [self._spec(i, ports) for i in range(self.count)]
            clean = await asyncio.gather(*(self._keep(spec) for spec in specs))
        finally:
            for sock in self._reserved:
                sock.close()
        log.info("stopped", extra={"clean": all(clean)})
        return 0 if all(clean) else 1

    def _stop(self, sig: signal.Signals) -> None:
        if not self._stopping.is_set():
            log.info("stopping workers", extra={"signal": sig.name})
        self._stopping.set()

    async def _migrate(self) -> None:
        """Once, here: N workers need not queue on the migration lock at every start."""
        from pigeon.store.facade import Store

        store = Store.open(self.settings.effective_database_url)
        try:
            await store.upgrade()
        finally:
            await store.close()

    def _reserve_ports(self) -> dict[str, int]:
        settings = self.settings
        ports: dict[str, int] = {}
        for setting, port in (
            ("port", settings.port),
            ("tcp_port", settings.tcp_port),
            ("line_port", settings.line_port),
        ):
            if port is None:
                continue
            sock = reserve_port(settings.host, port, setting)
            self._reserved.append(sock)
            ports[setting] = int(sock.getsockname()[1])
        return ports

    def _spec(self, index: int, ports: Mapping[str, int]) -> WorkerSpec:
        env = dict(os.environ)
        for name, value in self.flags.items():
            env[f"PIGEON_{name.upper()}"] = _env_value(value)
        for name, port in ports.items():
            env[f"PIGEON_{name.upper()}"] = str(port)
        metrics_port = self.settings.metrics_port
        if metrics_port:  # 0 stays 0: each worker picks a free port and logs it
            env["PIGEON_METRICS_PORT"] = str(metrics_port + index)
        node_id = node_id_of(self.node_id, index)
        env["PIGEON_NODE_ID"] = node_id
        env["PIGEON_WORKERS"] = "1"
        return WorkerSpec(index, node_id, env)

    async def _keep(self, spec: WorkerSpec) -> bool:
        """Run one worker until the supervisor stops; True if its last exit was clean."""
        backoff = Backoff(RESTART_POLICY)
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            started = loop.time()
            proc = await asyncio.create_subprocess_exec(
                *spec.command(), env=dict(spec.env), start_new_session=True
            )
            fields = {"worker": spec.index, "pid": proc.pid, "worker_node": spec.node_id}
            log.info("worker started", extra=fields)
            code = await self._wait(proc)
            if self._stopping.is_set():
                log.info("worker exited", extra={**fields, "code": code})
                return code == 0
            if loop.time() - started >= STABLE_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            log.error(
                "worker died; restarting",
                extra={**fields, "code": code, "restart_in_s": round(delay, 2)},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return True

    async def _wait(self, proc: asyncio.subprocess.Process) -> int:
        """The worker's exit status; on stop it gets SIGTERM and drains first."""
        exited = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not exited.done():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        return await exited


async def exit_when_orphaned(parent_pid: int) -> None:
    """In a worker: SIGTERM ourselves (a graceful drain) once the supervisor is gone,
    so a supervisor killed with SIGKILL leaves no workers behind."""
    while True:
        # Polled: Linux tells a child nothing when its parent dies (short of prctl).
        if os.getppid() != parent_pid:
            break
        await asyncio.sleep(ORPHAN_CHECK_S)
    log.warning("supervisor gone; stopping")
    os.kill(os.getpid(), signal.SIGTERM)
