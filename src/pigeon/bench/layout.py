"""How an idle run of many connections is spread out so that nothing hits a limit.

Three limits bound one machine's idle run, and each is worked around the same way,
by spreading: the open-file limit of a process (every socket is a file, on the load
side as on the server side) is met with several load processes and a server with
several workers (`pigeon serve --workers N`); the ephemeral ports of one source
address (each client socket to the one server port needs its own port, ~28,000 by
Linux's default range) are met with several loopback source addresses
(127.0.0.2, 127.0.0.3, …: the whole of 127/8 is local on Linux).
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from pathlib import Path

# Sockets per process when the run picks the number of processes: under the usual
# 20,000 open files with room to spare (SO_REUSEPORT does not share out evenly).
MAX_PER_PROCESS = 18_000
# What a process must keep for its own files, database and broker connections, and
# listeners: a run that asks for more sockets per process than the rest is refused.
FILES_KEPT_FREE = 500
# Of an address's ephemeral ports, what one run may take (the rest for everything else).
PORT_SHARE = 0.75
MAX_SOURCES = 250
_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_PORTS = 60999 - 32768 + 1  # Linux's default ip_local_port_range


class LayoutError(ValueError):
    """The numbers cannot fit this machine; the message says what to change."""


@dataclass(frozen=True)
class Layout:
    connections: int
    load_processes: int
    server_workers: int | None  # None: one server process (SQLite)
    sources: tuple[str, ...]  # client source addresses; () = the system's choice

    def describe(self) -> str:
        server = (
            f"{self.server_workers} server workers" if self.server_workers else "one server process"
        )
        sources = ", ".join(self.sources) if self.sources else "the default source address"
        return (
            f"{self.connections} connections: {self.load_processes} load processes, "
            f"{server} (≤ {self.per_server_process} each), from {sources}"
        )

    @property
    def per_server_process(self) -> int:
        return math.ceil(self.connections / (self.server_workers or 1))


def _hard_file_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def per_process_limit() -> int:
    """Sockets one process is given when the run chooses: 18,000, less if the hard
    file limit is lower."""
    return max(1, min(MAX_PER_PROCESS, _hard_file_limit() - FILES_KEPT_FREE))


def per_process_ceiling() -> int:
    """Sockets one process can hold at most (its hard file limit, less what it keeps)."""
    return max(1, _hard_file_limit() - FILES_KEPT_FREE)


def ephemeral_ports() -> int:
    """Size of the kernel's ephemeral port range (net.ipv4.ip_local_port_range)."""
    try:
        low, high = (int(part) for part in _PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        return _DEFAULT_PORTS
    return high - low + 1


def auto_server_workers(connections: int, cores: int) -> int:
    """``--server-workers auto``: one per core, more if a worker would exceed its share."""
    return max(cores, math.ceil(connections / per_process_limit()))


def source_addresses(count: int) -> tuple[str, ...]:
    """``count`` loopback addresses from 127.0.0.2 up (127.0.0.1 stays the server's)."""
    return tuple(f"127.0.{(n + 2) // 256}.{(n + 2) % 256}" for n in range(count))


def plan(
    connections: int,
    load_processes: int,
    server_workers: int | None,
    sources: int | None = None,
) -> Layout:
    """Lay out ``connections``; ``sources`` forces that many source addresses (else as
    many as the ports need, and none for a run one address carries)."""
    limit = per_process_limit()
    needed_workers = math.ceil(connections / per_process_ceiling())
    if server_workers is None and needed_workers > 1:
        raise LayoutError(
            f"{connections} connections need at least {needed_workers} server processes "
            f"(≤ {per_process_ceiling()} sockets each): add --server-workers auto with --database-url "
            "and --redis-url"
        )
    if server_workers is not None and server_workers < needed_workers:
        raise LayoutError(
            f"{connections} connections over {server_workers} server workers is more than "
            f"{per_process_ceiling()} sockets each: use --server-workers "
            f"{math.ceil(connections / limit)} or more (or auto)"
        )
    per_address = max(1, int(ephemeral_ports() * PORT_SHARE))
    wanted = math.ceil(connections / per_address) if sources is None else sources
    if wanted > MAX_SOURCES:
        raise LayoutError(
            f"{connections} connections need {wanted} source addresses of {per_address} "
            "ports each; widen net.ipv4.ip_local_port_range"
        )
    return Layout(
        connections=connections,
        load_processes=max(load_processes, math.ceil(connections / limit)),
        server_workers=server_workers,
        sources=source_addresses(wanted) if wanted > 1 or sources else (),
    )
