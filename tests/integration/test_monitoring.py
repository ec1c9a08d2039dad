"""deploy/: the alert rules load, and every alert and dashboard expression returns data
from a real Prometheus scraping a real node, so none of them watches a series that
does not exist."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import START_TIMEOUT_S, ServerProcess, require_service

from .wsclient import WAIT_S, Rest, connect, direct, register, send_rest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "pigeon.json"
# "<signal> <comparison> <threshold>", the form alerts.yml promises
THRESHOLD = re.compile(r"^(?P<signal>.+?)\s*(?:>|<|>=|<=|==|!=)\s*[-+0-9.e]+\s*$", re.DOTALL)


def _binary(name: str) -> str:
    found = shutil.which(name)
    require_service(name, found is not None, "install Debian's `prometheus` package")
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alert_expressions() -> dict[str, str]:
    import yaml

    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def _dashboard_expressions() -> dict[str, str]:
    board = json.loads(DASHBOARD.read_text())
    found = {}
    for panel in board["panels"]:
        for target in panel["targets"]:
            # Grafana's variables, as Grafana would fill them in for "All"
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
            found[f"{panel['title']} / {target['refId']}"] = expr
    return found


def test_alert_rules_pass_promtool() -> None:
    promtool = _binary("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=WAIT_S
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_the_signal_threshold_form() -> None:
    loose = [name for name, expr in _alert_expressions().items() if not THRESHOLD.match(expr)]
    assert not loose, f"alerts not written as '<signal> <op> <number>': {loose}"


@pytest.fixture
def prometheus(tmp_path: Path, server: ServerProcess) -> Iterator[str]:
    """A throwaway Prometheus scraping ``server`` every second, with the alert rules."""
    binary = _binary("prometheus")
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [alerts.yml]\n"
        "scrape_configs:\n"
        "  - job_name: pigeon\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=WAIT_S)
        log.close()


async def _query(http: aiohttp.ClientSession, base: str, expr: str) -> list[Any] | None:
    """The result vector, or None while Prometheus is not answering yet."""
    try:
        async with http.get(f"{base}/api/v1/query", params={"query": expr}) as response:
            body = await response.json()
    except aiohttp.ClientError:
        return None
    assert body.get("status") == "success", f"{expr}: {body}"
    return list(body["data"]["result"])


async def _traffic(rest: Rest, http: aiohttp.ClientSession, server: ServerProcess) -> None:
    """A little of everything the expressions watch: REST, WebSocket commands, sends."""
    alice, bob = await register(rest, "mon"), await register(rest, "mon")
    conv = await direct(rest, alice, bob)
    client, _ = await connect(http, server, alice)
    try:
        for i in range(5):
            await client.send_text(conv, f"ws {i}")
            await send_rest(rest, alice, conv, f"rest {i}", f"cid-rest-{i}")
        await client.sync()
        await client.pull(conv, after=0, limit=10)
        refused = await client.request({"t": "pull", "conv": "c_missing", "after": 0})
        assert refused["t"] == "error", refused  # feeds pigeon_errors_total
    finally:
        await client.close()


async def test_every_alert_and_panel_expression_returns_data(
    http: aiohttp.ClientSession, server: ServerProcess, prometheus: str
) -> None:
    rest = Rest(http, server)
    await _traffic(rest, http, server)
    expressions = {
        **{f"panel {k}": v for k, v in _dashboard_expressions().items()},
        **{
            f"alert {name}": THRESHOLD.match(expr)["signal"]  # type: ignore[index]
            for name, expr in _alert_expressions().items()
        },
    }
    pending = dict(expressions)
    deadline = time.monotonic() + START_TIMEOUT_S + WAIT_S
    while pending and time.monotonic() < deadline:
        for name, expr in list(pending.items()):
            if await _query(http, prometheus, expr):
                del pending[name]
        if pending:
            await asyncio.sleep(1.0)  # the scrape interval: nothing changes faster
    assert not pending, f"no data from: {json.dumps(pending, indent=1)}"
