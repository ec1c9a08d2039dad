"""The container and compose files, checked without a container engine: the Dockerfile's
invariants (what `make image-test` exercises for real where containers run), the image's
health check against a real server, and the compose files against the Compose
specification's schema plus the references the schema cannot see."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
HEALTHCHECK = ROOT / "deploy" / "container" / "healthcheck.py"
DRAIN_BOUND_S = 2 * 10 + 4  # twice PIGEON_SHUTDOWN_GRACE_S's default, plus about 4 s
BUILD_TOOLS = ("gcc", "g++", "clang", "build-essential", "make ", "python3-dev", "libffi-dev")

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for word, rest in instructions((ROOT / "Dockerfile").read_text()):
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def args_of(stage: list[Instruction], word: str) -> list[str]:
    return [rest for w, rest in stage if w == word]


def test_the_build_stage_makes_wheels_and_the_final_stage_installs_only_those() -> None:
    build, final = stages()
    assert " AS build" in args_of(build, "FROM")[0]
    assert any("pip wheel" in r for r in args_of(build, "RUN"))
    runs = " ".join(args_of(final, "RUN"))
    assert "--no-index" in runs  # no compiling in the final stage: wheels or nothing
    assert "from=build" in runs
    assert not any(tool in runs for tool in BUILD_TOOLS)
    assert "apt-get" not in runs


def test_the_final_stage_runs_unprivileged_drains_on_sigterm_and_checks_health() -> None:
    final = stages()[-1]
    (user,) = args_of(final, "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert args_of(final, "STOPSIGNAL") == ["SIGTERM"]
    # exec form: pigeon is PID 1 and receives the signal itself, not a shell
    (cmd,) = args_of(final, "CMD")
    assert json.loads(cmd) == ["pigeon", "serve"]
    (check,) = args_of(final, "HEALTHCHECK")
    assert json.loads(check.split("CMD", 1)[1]) == ["python3", "/opt/pigeon/healthcheck.py"]
    assert json.loads(args_of(final, "VOLUME")[0]) == ["/var/lib/pigeon"]
    env = " ".join(args_of(final, "ENV"))
    assert "PIGEON_DATA_DIR=/var/lib/pigeon" in env
    assert "PIGEON_HOST=0.0.0.0" in env


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    copied = []
    for stage in stages():
        for rest in args_of(stage, "COPY"):
            if "--from" not in rest:
                copied += rest.split()[:-1]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert any(source == a or source.startswith(a + "/") for a in allowed), source


def run_healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={"PIGEON_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_image_healthcheck_passes_on_a_live_node_and_fails_on_a_dead_port(
    shared_server: ServerProcess,
) -> None:
    assert run_healthcheck(shared_server.port).returncode == 0
    dead = run_healthcheck(1)  # nothing listens on port 1
    assert dead.returncode == 1
    assert "healthz:" in dead.stderr


# --- compose


def compose_file(name: str) -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / name).read_text())
    assert isinstance(data, dict)
    return data


def check_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_files_follow_the_compose_specification(tmp_path: Path) -> None:
    done = check_schema(COMPOSE / "single.yml", COMPOSE / "cluster.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    # the validator does reject what the specification does not allow
    broken = compose_file("single.yml")
    broken["services"]["pigeon"]["stop_grace_perod"] = "30s"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    assert check_schema(tmp_path / "broken.yml").returncode != 0


@pytest.mark.parametrize("name", ["single.yml", "cluster.yml"])
def test_compose_nodes_keep_state_and_have_time_to_drain(name: str) -> None:
    services = compose_file(name)["services"]
    nodes = {k: v for k, v in services.items() if k == "pigeon" or k.startswith("node")}
    assert nodes
    for service in nodes.values():
        assert service["image"].startswith("${PIGEON_IMAGE:-")
        grace = service["stop_grace_period"]
        assert grace.endswith("s")
        assert int(grace[:-1]) > DRAIN_BOUND_S


def test_the_cluster_wires_nginx_nodes_and_migrations_together() -> None:
    cluster = compose_file("cluster.yml")
    services = cluster["services"]
    nodes = sorted(k for k in services if k.startswith("node"))
    assert nodes == ["node1", "node2", "node3"]
    # nginx: the shipped config, the compose upstream naming these nodes, a mounted cert
    nginx = services["nginx"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in nginx["volumes"]}
    assert (COMPOSE / mounts["/etc/nginx/nginx.conf"]).resolve() == ROOT / "deploy" / "nginx.conf"
    upstream = (COMPOSE / mounts["/etc/nginx/pigeon-upstream.conf"]).read_text()
    assert [f"{n}:8080" for n in nodes] == [
        line.split()[1] for line in upstream.splitlines() if line.strip().startswith("server ")
    ]
    assert mounts["/etc/nginx/tls"] == "./tls"
    assert set(nginx["ports"]) == {"80:80", "443:443"}
    # only nginx's fixed address may set X-Forwarded-For
    address = nginx["networks"]["backend"]["ipv4_address"]
    for name in nodes:
        node = services[name]
        assert node["environment"]["PIGEON_TRUSTED_PROXIES"] == address
        assert node["environment"]["PIGEON_NODE_ID"] == name
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        for secret in node["secrets"]:
            assert secret in cluster["secrets"]
        # uploaded files on one directory all nodes share (docs/files.md, cluster note)
        assert node["volumes"] == ["pigeon-files:/var/lib/pigeon"]
    assert "pigeon-files" in cluster["volumes"]
    assert services["migrate"]["command"] == ["pigeon", "db", "upgrade"]
