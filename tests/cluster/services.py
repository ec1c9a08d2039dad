"""Real PostgreSQL, Redis and nginx processes for the cluster tests.

Each runs from its Debian binaries on a free port in a temporary directory, so a
test can kill and restart it. PostgreSQL refuses to run as root; when the tests
run as root, the cluster belongs to the ``postgres`` user and runs as it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness import START_TIMEOUT_S, require_service, self_signed_cert, service_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on {port}:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class PostgresServer:
    """A throwaway PostgreSQL cluster (trust auth, TCP on 127.0.0.1 only)."""

    def __init__(self) -> None:
        initdb = service_binary("initdb")
        postgres = service_binary("postgres")
        require_service("PostgreSQL", bool(initdb and postgres), "initdb/postgres not found")
        assert initdb is not None
        assert postgres is not None
        self.initdb, self.postgres = initdb, postgres
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                require_service("PostgreSQL", False, "running as root without a postgres user")
            self.run_as = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        self.root = Path(tempfile.mkdtemp(prefix="pigeon-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        if self.run_as:
            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o755)

    def init(self) -> PostgresServer:
        subprocess.run(
            [
                *self.run_as,
                self.initdb,
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self.start()

    def start(self) -> PostgresServer:
        command = [
            *self.run_as,
            self.postgres,
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "shared_buffers=32MB",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        wait_for_port(self.port, self.proc, "postgres", self.log)
        self._wait_accepting()
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.psql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres does not accept queries")

    def psql(
        self, sql: str, database: str = "postgres", check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        psql = service_binary("psql")
        assert psql is not None
        return subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            check=check,
            capture_output=True,
            timeout=60,
        )

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)  # fast shutdown

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A Redis with no persistence: a restart loses everything, like a crash would."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        require_service("Redis", binary is not None, "redis-server not found")
        assert binary is not None
        self.binary = binary
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = root / "redis.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        wait_for_port(self.port, self.proc, "redis", self.log)
        return self

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc)


class NginxServer:
    """nginx in the foreground with ``deploy/nginx.conf`` as it is shipped: its upstream
    file lists this test's nodes, its certificate is made now by openssl, and its two
    listeners (HTTPS, and HTTP that only redirects) move to free loopback ports."""

    def __init__(self, root: Path, config_template: Path, upstreams: list[int]) -> None:
        binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
        )
        require_service("nginx", binary is not None, "nginx not found")
        assert binary is not None
        self.binary = binary
        self.root = root
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.port = free_port()  # HTTPS
        self.http_port = free_port()
        self.log = root / "logs" / "error.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = root / "nginx.conf"
        self.config.write_text(self._render(config_template.read_text()))
        upstream = config_template.parent / "pigeon-upstream.conf"
        (root / "pigeon-upstream.conf").write_text(self._nodes(upstream.read_text(), upstreams))
        cert, key = self_signed_cert(root / "tls")
        cert.rename(root / "tls" / "pigeon.crt")
        key.rename(root / "tls" / "pigeon.key")
        self.ca_file = root / "tls" / "pigeon.crt"

    @staticmethod
    def _nodes(template: str, upstreams: list[int]) -> str:
        """The shipped upstream block with its example servers replaced by the test's
        nodes, each keeping the shipped server parameters (max_fails and the like)."""
        lines, done = [], False
        for line in template.splitlines(keepends=True):
            words = line.split()
            if words[:1] != ["server"]:
                lines.append(line)
            elif not done:
                params = " ".join(words[2:])  # e.g. "max_fails=0;"
                for port in upstreams:
                    lines.append(f"    server 127.0.0.1:{port} {params}\n")
                done = True
        assert done, "no server line in the upstream file"
        return "".join(lines)

    def _render(self, template: str) -> str:
        ports = {"80": f"127.0.0.1:{self.http_port}", "443": f"127.0.0.1:{self.port}"}
        lines = []
        for line in template.splitlines(keepends=True):
            words = line.split()
            if words[:1] == ["listen"]:
                port = words[1].rstrip(";")
                assert port in ports, f"unexpected listener {line!r}"
                line = line.replace(f"listen {port}", f"listen {ports[port]}", 1)
            elif words[:1] in (["pid"], ["error_log"]):
                continue  # set on the command line, inside this test's directory
            lines.append(line)
        return "".join(lines)

    def start(self) -> NginxServer:
        temp = self.root / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        temp.chmod(0o777)  # workers may run as an unprivileged user
        globals_ = f"daemon off; pid {self.root / 'nginx.pid'}; error_log {self.log} warn;"
        if os.geteuid() == 0:
            globals_ += " user root;"  # workers may then use the test's private temp dir
        command = [self.binary, "-p", str(self.root), "-c", str(self.config), "-g", globals_]
        with (self.root / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=out)
        wait_for_port(self.port, self.proc, "nginx", self.root / "stdout.log")
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGQUIT)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterServers:
    """Three primaries of a Redis Cluster (no replicas, no persistence).

    ``kill`` and ``start`` act on all three, like ``RedisServer``: a restarted node
    keeps its cluster configuration (nodes.conf in its directory), so it takes its
    slots back, empty.
    """

    def __init__(self, root: Path, primaries: int = 3) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        require_service("Redis Cluster", bool(server and cli), "redis-server/redis-cli not found")
        assert server is not None
        assert cli is not None
        self.binary, self.cli = server, cli
        self.root = root
        self.ports = [_cluster_port() for _ in range(primaries)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _start_node(self, port: int) -> None:
        folder = self.root / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "redis.log"
        command = [
            self.binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(folder / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ]
        with log.open("ab") as out:
            self.procs[port] = subprocess.Popen(command, stdout=out, stderr=out)
        wait_for_port(port, self.procs[port], "redis cluster node", log)

    def create(self) -> RedisClusterServers:
        for port in self.ports:
            self._start_node(port)
        subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
        )
        self.wait_ok()
        return self

    def wait_ok(self) -> None:
        """Until every node reports cluster_state:ok (all slots covered and agreed)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(self._state_ok(port) for port in self.ports):
                return
            time.sleep(0.1)
        raise TimeoutError("the redis cluster did not reach cluster_state:ok")

    def _state_ok(self, port: int) -> bool:
        info = subprocess.run(
            [self.cli, "-h", "127.0.0.1", "-p", str(port), "cluster", "info"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return b"cluster_state:ok" in info.stdout

    def start(self) -> RedisClusterServers:
        """Start the killed nodes again, empty, and wait until the cluster is whole."""
        for port in self.ports:
            proc = self.procs.get(port)
            if proc is None or proc.poll() is not None:
                self._start_node(port)
        self.wait_ok()
        return self

    def kill(self, port: int | None = None) -> None:
        """Kill every node, or only the one on ``port``."""
        for at, proc in self.procs.items():
            if port is None or at == port:
                _stop(proc, signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.procs.values():
            _stop(proc)

    def command(self, port: int, *args: str) -> str:
        done = subprocess.run(
            [self.cli, "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            timeout=30,
            check=True,
        )
        return done.stdout.decode().strip()

    def owner(self, key: str) -> int:
        """The port of the primary that owns ``key``'s slot."""
        slot = int(self.command(self.ports[0], "cluster", "keyslot", key))
        for port in self.ports:
            for line in self.command(port, "cluster", "nodes").splitlines():
                fields = line.split()
                if "myself" in fields[2] and _owns(fields[8:], slot):
                    return port
        raise LookupError(f"no primary owns slot {slot}")

    def move_slot(self, key: str, to_port: int) -> None:
        """Hand ``key``'s slot (keys in it are not moved: use it for channels) to the
        primary on ``to_port``, as a resharding would."""
        slot = str(self.command(self.ports[0], "cluster", "keyslot", key))
        source = self.owner(key)
        target_id = self.command(to_port, "cluster", "myid")
        source_id = self.command(source, "cluster", "myid")
        self.command(to_port, "cluster", "setslot", slot, "importing", source_id)
        self.command(source, "cluster", "setslot", slot, "migrating", target_id)
        for port in (to_port, source, *self.ports):
            self.command(port, "cluster", "setslot", slot, "node", target_id)


def _owns(ranges: list[str], slot: int) -> bool:
    for item in ranges:
        if item.startswith("["):
            continue  # a slot being migrated or imported
        low, _, high = item.partition("-")
        if int(low) <= slot <= int(high or low):
            return True
    return False
