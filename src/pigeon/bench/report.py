"""Results as JSON, a Markdown table and PNG plots."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from pigeon.bench import baseline, search
from pigeon.bench.catalog import Scenario


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _idle_section(idle: list[dict[str, Any]]) -> list[str]:
    heads = [
        "connections",
        "server / load processes",
        "source addresses",
        "server RSS before (MiB)",
        "after (MiB)",
        "KiB / connection",
        "client KiB / connection",
        "connect all (s)",
        "server CPU idle (% of a core)",
        "fan-out deliveries",
        "complete",
        "deliveries/s",
        "server CPU µs / delivery",
    ]
    lines = ["### Idle connections", "", _row(heads), _row(["---:"] * len(heads))]
    for r in idle:
        lines.append(
            _row(
                [
                    r["connections"],
                    f"{r.get('server_processes', 1)} / {r.get('load_processes', 1)}",
                    len(r.get("by_source", {})),
                    _fmt(r["rss_before_kib"] / 1024),
                    _fmt(r["rss_after_kib"] / 1024),
                    _fmt(r["kib_per_connection"]),
                    _fmt(r.get("client_kib_per_connection", float("nan"))),
                    _fmt(r.get("connect_s", float("nan"))),
                    _fmt(r.get("idle_cpu_percent", float("nan"))),
                    r.get("fanout_deliveries", 0),
                    _fmt(100 * r.get("fanout_completeness", float("nan"))) + " %",
                    _fmt(r.get("fanout_deliveries_per_s", float("nan"))),
                    _fmt(r.get("server_cpu_us_per_delivery", float("nan"))),
                ]
            )
        )
    window = idle[0].get("idle_window_s")
    if window:
        lines += [
            "",
            f"Server RSS is the supervisor's and every worker's together; idle CPU is "
            f"measured over {window:g} s once the connects have settled; the fan-out is "
            "one post to a group every connected user belongs to.",
        ]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Conditions: {results['conditions']}", ""]
    if wire := results.get("wire"):
        lines += [f"Load clients speak **{wire}** (idle, connect, direct, fanout, cluster).", ""]
    if idle := results.get(Scenario.IDLE):
        lines += _idle_section(idle)
    if connect := results.get(Scenario.CONNECT):
        lines += [
            "### Connect storm",
            "",
            _row(
                [
                    "connections",
                    "connects/s",
                    "p50 ms",
                    "p99 ms",
                    "server µs CPU / connect",
                    "bytes / connect",
                ]
            ),
            _row(["---:"] * 6),
        ]
        lines += [
            _row(
                [
                    r["connections"],
                    _fmt(r["connects_per_s"], 0),
                    _fmt(r["p50_ms"], 2),
                    _fmt(r["p99_ms"], 2),
                    _fmt(r["server_cpu_us_per_connect"], 0),
                    _fmt(r.get("bytes_per_connect", float("nan")), 0),
                ]
            )
            for r in connect
        ]
        lines.append("")
    for key, title in (
        (Scenario.DIRECT, "Direct messages"),
        (Scenario.CLUSTER, "Direct messages, PostgreSQL + Redis"),
    ):
        if rows := results.get(key):
            lines += [
                f"### {title}",
                "",
                _row(
                    [
                        "target msg/s",
                        "delivered msg/s",
                        "complete",
                        "p50 ms",
                        "p99 ms",
                        "p99.9 ms",
                        "max ms",
                        "server CPU s",
                        "bytes / send",
                        "bytes / delivery",
                    ]
                ),
                _row(["---:"] * 10),
            ]
            lines += [
                _row(
                    [
                        r["target_rate"],
                        _fmt(r["delivered_per_s"], 0),
                        f"{r['completeness']:.2%}",
                        _fmt(r["latency"]["p50_ms"], 2),
                        _fmt(r["latency"]["p99_ms"], 2),
                        _fmt(r["latency"]["p999_ms"], 2),
                        _fmt(r["latency"]["max_ms"], 2),
                        _fmt(r["server_cpu_s"], 2),
                        _fmt(r.get("bytes_per_send", float("nan"))),
                        _fmt(r.get("bytes_per_delivery", float("nan"))),
                    ]
                )
                for r in rows
            ]
            lines.append("")
            if key is Scenario.CLUSTER:
                nodes = rows[0].get("nodes", 2)
                lines += [
                    f"{nodes} node(s); what they and the backends did per message stored (acknowledged):",
                    "",
                ]
                lines += [*_backend_table(rows), ""]
    if fan := results.get(Scenario.FANOUT):
        lines += [
            "### Fan-out",
            "",
            _row(
                [
                    "members online",
                    "posts",
                    "complete",
                    "deliveries/s",
                    "server µs CPU / delivery",
                    "publish→last p50 ms",
                    "p99 ms",
                    "bytes / send",
                    "bytes / delivery",
                ]
            ),
            _row(["---:"] * 9),
        ]
        lines += [
            _row(
                [
                    r["members"],
                    r["messages"],
                    f"{r['completeness']:.2%}",
                    _fmt(r["deliveries_per_s"], 0),
                    _fmt(r["server_cpu_us_per_delivery"], 2),
                    _fmt(r["publish_to_last"]["p50_ms"], 2),
                    _fmt(r["publish_to_last"]["p99_ms"], 2),
                    _fmt(r.get("bytes_per_send", float("nan"))),
                    _fmt(r.get("bytes_per_delivery", float("nan"))),
                ]
            )
            for r in fan
        ]
        lines.append("")
    if catch := results.get(Scenario.CATCHUP):
        lines += [
            "### Catch-up",
            "",
            _row(["missed messages", "received", "seconds to synced"]),
            _row(["---:"] * 3),
        ]
        lines += [
            _row([r["messages"], r["received"], _fmt(r["seconds_to_synced"], 2)]) for r in catch
        ]
        lines.append("")
    if push := results.get(Scenario.PUSH):
        lines += [
            "### Offline push (webhook)",
            "",
            _row(
                [
                    "offline members",
                    "posts",
                    "planned/s",
                    "delivered/s",
                    "commit→delivery p50 ms",
                    "p99 ms",
                    "complete",
                ]
            ),
            _row(["---:"] * 7),
        ]
        lines += [
            _row(
                [
                    r["members"] - 1,
                    r["posts"],
                    _fmt(r["planned_per_s"], 0),
                    _fmt(r["delivered_per_s"], 0),
                    _fmt(r["commit_to_delivery"]["p50_ms"], 0),
                    _fmt(r["commit_to_delivery"]["p99_ms"], 0),
                    f"{r['completeness']:.0%}",
                ]
            )
            for r in push
        ]
        lines.append("")
    if searched := results.get(Scenario.SEARCH):
        lines += search.markdown(searched)
    if against := results.get("against_bare"):
        lines += baseline.markdown(against)
    return "\n".join(lines)


def conditions(workers: int, note: str = "", server_cores: list[int] | None = None) -> str:
    from pigeon.bench.target import load_cores, server_core

    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"server pinned to cores {server_cores or sorted(server_core())}, {workers} load "
        "processes on "
        f"{sorted(load_cores())}, SQLite (WAL, synchronous=FULL) unless noted{note}"
    )


def _backend_table(rows: list[dict[str, Any]]) -> list[str]:
    head = ["target msg/s", "server µs CPU / msg", "Redis commands", "Redis µs CPU"]
    head += ["PG transactions", "PG rows written", "PG rows read", "Redis commands by name"]
    lines = [_row(head), _row(["---:"] * 7 + ["---"])]
    for r in rows:
        work = r.get("backend_per_message", {})
        by_name = ", ".join(
            f"{name} {calls:.2f}"
            for name, calls in sorted(work.get("redis_by_command", {}).items())
        )
        cells = [r["target_rate"], _fmt(r.get("server_cpu_us_per_message", float("nan")), 0)]
        cells += [_fmt(work.get(k, float("nan")), 2) for k in _BACKEND_FIGURES]
        lines.append(_row([*cells, by_name]))
    return lines


_BACKEND_FIGURES = (
    "redis_commands",
    "redis_cpu_us",
    "pg_transactions",
    "pg_rows_written",
    "pg_rows_fetched",
)


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    for key in (Scenario.DIRECT, Scenario.CLUSTER):
        rows = results.get(key)
        if not rows:
            continue
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        for r in rows:
            samples = sorted(r["latency_samples_ms"])
            if samples:
                fractions = [(i + 1) / len(samples) for i in range(len(samples))]
                left.plot(samples, fractions, label=f"{r['target_rate']} msg/s")
            right.plot(
                range(len(r["per_second"])), r["per_second"], label=f"{r['target_rate']} msg/s"
            )
        left.set(
            xscale="log",
            xlabel="end-to-end latency (ms)",
            ylabel="fraction of messages",
            title="Latency distribution",
        )
        right.set(xlabel="second", ylabel="messages delivered", title="Throughput over time")
        left.legend()
        right.legend()
        fig.tight_layout()
        path = out / f"{key}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if fan := results.get(Scenario.FANOUT):
        fig, axis = plt.subplots(figsize=(6, 4))
        axis.bar(
            [str(r["members"]) for r in fan],
            [r["publish_to_last"]["p50_ms"] for r in fan],
            label="p50",
        )
        axis.plot(
            [str(r["members"]) for r in fan],
            [r["publish_to_last"]["p99_ms"] for r in fan],
            "ro-",
            label="p99",
        )
        axis.set(
            xlabel="online members", ylabel="publish → last recipient (ms)", title="Fan-out latency"
        )
        axis.legend()
        fig.tight_layout()
        path = out / "fanout.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(markdown(results))
    return [out / "results.json", out / "results.md", *plots(results, out)]
