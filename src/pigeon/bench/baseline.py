"""Pigeon against bare WebSocket stacks, measured in the same run on the same machine.

Absolute CPU figures on a shared machine move by 2 to 3x from one day to the next; the
ratio between two servers measured minutes apart under the same load does not. So
``--reference`` runs ``connect``, ``direct`` and ``fanout`` once more against each
bare server of ``pigeon.bench.reference`` (started and pinned like the server under
test, driven by the same load processes) and states Pigeon's CPU per operation as a
multiple of the fastest bare stack's, next to the multiple the project aims for.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pigeon.bench import scenarios
from pigeon.bench.catalog import Scenario
from pigeon.bench.loadclient import Wire
from pigeon.bench.reference import Stack
from pigeon.bench.target import server_core
from pigeon.serveprocess import ServeProcess

if TYPE_CHECKING:
    from pigeon.bench.runner import Plan

TIMES = "\N{MULTIPLICATION SIGN}"
SCENARIOS = (Scenario.CONNECT, Scenario.DIRECT, Scenario.FANOUT)


@dataclass(frozen=True)
class Measure:
    """Which figure of a scenario's rows is compared, and the multiple aimed for."""

    scenario: Scenario
    figure: str
    size: str  # the field that tells the scenario's rows apart
    target: float
    unit: str


MEASURES = (
    Measure(Scenario.FANOUT, "server_cpu_us_per_delivery", "members", 1.2, "µs CPU / delivery"),
    Measure(Scenario.DIRECT, "server_cpu_us_per_message", "target_rate", 6.0, "µs CPU / message"),
    Measure(Scenario.CONNECT, "server_cpu_us_per_connect", "connections", 2.0, "µs CPU / connect"),
)


async def load_scenarios(
    ctx: scenarios.Context, names: list[Scenario], plan: Plan
) -> dict[str, list[dict[str, Any]]]:
    """``connect``, ``direct`` and ``fanout`` of ``names`` at the plan's sizes, on
    whatever server ``ctx`` drives: Pigeon or a bare stack alike."""
    results: dict[str, list[dict[str, Any]]] = {}
    if Scenario.CONNECT in names:
        results[Scenario.CONNECT] = [await scenarios.connect_storm(ctx, plan.connect_connections)]
    if Scenario.DIRECT in names:
        results[Scenario.DIRECT] = [
            await scenarios.direct(ctx, rate, plan.direct_seconds, plan.direct_pairs)
            for rate in plan.direct_rates
        ]
    if Scenario.FANOUT in names:
        results[Scenario.FANOUT] = [
            await scenarios.fanout(ctx, members, plan.fanout_messages, 0.2)
            for members in plan.fanout_members
        ]
    return results


class ReferenceServer(ServeProcess):
    """A bare stack as a child process, pinned to the server core like ``pigeon serve``."""

    def __init__(self, stack: Stack, data_dir: Path) -> None:
        super().__init__(data_dir, cpus=server_core())
        self.stack = stack

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "pigeon.bench.reference"),
            *("--stack", self.stack.value, "--port", str(self.port)),
        ]


async def _measure_stack(
    stack: Stack, names: list[Scenario], plan: Plan, wire: Wire, progress: scenarios.Progress
) -> dict[str, list[dict[str, Any]]]:
    """The scenarios of ``names`` against one bare stack, at the plan's sizes."""
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix=f"pigeon-bare-{stack}-") as tmp:
        server = ReferenceServer(stack, Path(tmp)).start(timeout=60)
        try:
            ctx = scenarios.Context(
                server,
                None,
                plan.workers,
                lambda line: progress(f"bare {stack}: {line}"),
                [],
                wire=wire,
                body_bytes=plan.body_bytes,
                bare=True,
            )
            results.update(await load_scenarios(ctx, names, plan))
        finally:
            server.stop()
    return results


def against_bare(
    names: list[Scenario],
    plan: Plan,
    wire: Wire,
    measured: dict[str, Any],
    progress: scenarios.Progress,
) -> dict[str, Any]:
    """Measure every bare stack, then mark each of Pigeon's rows in ``measured`` with
    its multiple (``x_fastest_bare``); the bare rows and the comparison, for the report."""
    chosen = [n for n in names if n in SCENARIOS]
    stacks = {
        stack.value: asyncio.run(_measure_stack(stack, chosen, plan, wire, progress))
        for stack in Stack
    }
    comparisons = compare(measured, stacks)
    for line in summary(comparisons):
        progress(line)
    return {"stacks": stacks, "comparisons": comparisons}


def compare(
    measured: dict[str, Any], stacks: dict[str, dict[str, list[dict[str, Any]]]]
) -> list[dict[str, Any]]:
    comparisons = []
    for measure in MEASURES:
        for index, row in enumerate(measured.get(measure.scenario, [])):
            bare = {name: rows[measure.scenario][index] for name, rows in stacks.items()}
            costs = {name: bare_row[measure.figure] for name, bare_row in bare.items()}
            fastest = min(costs, key=costs.__getitem__)
            # Below the CPU clock's resolution (tiny --quick runs) there is no multiple.
            multiple = row[measure.figure] / costs[fastest] if costs[fastest] else None
            row["x_fastest_bare"] = multiple
            comparisons.append(
                {
                    "scenario": measure.scenario.value,
                    "size": row[measure.size],
                    "unit": measure.unit,
                    "pigeon": row[measure.figure],
                    "bare": costs,
                    # connect has no completeness: every connect that failed raised
                    "bare_complete": {n: r.get("completeness", 1.0) for n, r in bare.items()},
                    "fastest_bare": fastest,
                    "x_fastest_bare": multiple,
                    "target": measure.target,
                    "met": None if multiple is None else multiple <= measure.target,
                }
            )
    return comparisons


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _cells(c: dict[str, Any]) -> list[str]:
    bare = [_fmt(c["bare"].get(stack.value, float("nan"))) for stack in Stack]
    return [
        c["scenario"],
        str(c["size"]),
        c["unit"],
        _fmt(c["pigeon"]),
        *bare,
        _multiple(c) + f" ({c['fastest_bare']})",
        f"≤ {c['target']:g}{TIMES}",
        {True: "met", False: "not yet", None: "—"}[c["met"]],
    ]


def _multiple(c: dict[str, Any]) -> str:
    return "—" if c["x_fastest_bare"] is None else f"{c['x_fastest_bare']:.2f}{TIMES}"


def markdown(against: dict[str, Any]) -> list[str]:
    head = ["scenario", "size", "figure", "Pigeon", *(s.value for s in Stack)]
    head += [f"{TIMES} fastest bare", "target", "status"]
    lines = [
        "### Against bare stacks",
        "",
        "Server CPU per operation of Pigeon and of bare servers with no application logic, "
        "measured in the same run under the same load.",
        "",
        "| " + " | ".join(head) + " |",
        "|---|---:|---|" + "---:|" * (len(head) - 3),
    ]
    lines += ["| " + " | ".join(_cells(c)) + " |" for c in against["comparisons"]]
    return [*lines, ""]


def summary(comparisons: list[dict[str, Any]]) -> list[str]:
    """One console line per compared row."""
    return [
        f"against bare: {c['scenario']} {c['size']}: Pigeon {_fmt(c['pigeon'])} {c['unit']}, "
        + ", ".join(f"{name} {_fmt(cost)}" for name, cost in c["bare"].items())
        + f" → {_multiple(c)} the fastest (target ≤ {c['target']:g}{TIMES})"
        for c in comparisons
    ]
