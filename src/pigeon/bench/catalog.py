"""The scenarios ``pigeon bench`` knows: one name each, for the CLI, runner, workers and report."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    IDLE = "idle"  # memory and CPU of connections that only keep alive
    CONNECT = "connect"  # a storm of authenticated connects
    DIRECT = "direct"  # one-to-one messages at set rates
    FANOUT = "fanout"  # posts to groups of growing size
    CATCHUP = "catchup"  # a device syncing what it missed
    PUSH = "push"  # notifications to offline members, to a local webhook receiver
    CLUSTER = "cluster"  # direct messages across two nodes (PostgreSQL + Redis)
    SEARCH = "search"  # message search over a large stored history

    @property
    def on_request(self) -> bool:
        """Left out of "all" unless asked for by name: needs services or takes long."""
        return self in (Scenario.CLUSTER, Scenario.SEARCH)

    @property
    def own_node(self) -> bool:
        """Starts its own server rather than sharing the single node of a run."""
        return self in (Scenario.PUSH, Scenario.CLUSTER, Scenario.SEARCH)
