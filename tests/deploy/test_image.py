"""The container image, built and run by a real engine: `make image-test` (several
minutes, so not part of `make test`).

Builds the Dockerfile, runs a container of it with a read-only root filesystem (as the
Helm chart does) and a named volume, and checks: /healthz and the image's own health
check, the unprivileged user, no compiler, a registration, a login and a message over
REST, SIGTERM ending in a clean drain (exit 0), and the state surviving on the volume
into a second container.

Skips unless PIGEON_IMAGE_TEST=1 (set by `make image-test`). A missing engine skips too,
or fails under PIGEON_REQUIRE_SERVICES=1; a host whose engine cannot run containers at
all (no permission for namespaces or rlimits, as in some sandboxes) skips even then,
with the engine's message, since no install step can fix that.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from cluster.services import free_port
from harness import ServerProcess, require_service
from integration.wsclient import Rest, direct, history, login, register, send_rest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = shlex.split(os.environ.get("PIGEON_CONTAINER", "podman"))
PYTHON_IMAGE = os.environ.get("PIGEON_PYTHON_IMAGE", "python:3.11-slim-bookworm")
BUILD_FLAGS = shlex.split(os.environ.get("PIGEON_IMAGE_BUILD_FLAGS", ""))
IMAGE = "localhost/pigeon:image-test"
BUILD_TIMEOUT_S = 1800  # downloads every wheel on a fresh cache; minutes on a busy host
START_TIMEOUT_S = 120.0
# Host networking: the test reaches the node on 127.0.0.1 without port publishing. Limits
# at or below a normal host's, since some hosts refuse to let a container raise them.
RUN_FLAGS = ["--network", "host", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]

pytestmark = pytest.mark.skipif(
    os.environ.get("PIGEON_IMAGE_TEST") != "1",
    reason="builds the image for minutes: run by `make image-test`, not `make test`",
)


def engine(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*ENGINE, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"{shlex.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def image() -> str:
    require_service(ENGINE[0], shutil.which(ENGINE[0]) is not None, "install podman or docker")
    if engine("image", "inspect", PYTHON_IMAGE, check=False).returncode != 0:
        pytest.fail(
            f"no base image {PYTHON_IMAGE}: pull it, or `make image-base` without a registry"
        )
    probe = engine("run", "--rm", *RUN_FLAGS, PYTHON_IMAGE, "true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"this host cannot run containers: {probe.stderr.strip()[-500:]}")
    engine(
        "build",
        *BUILD_FLAGS,
        "--build-arg",
        f"PYTHON_IMAGE={PYTHON_IMAGE}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=BUILD_TIMEOUT_S,
    )
    return IMAGE


class Container(ServerProcess):
    """A node in a container, on the host's 127.0.0.1: the REST helpers' view of it."""

    def __init__(self, image: str, volume: str, port: int) -> None:
        self.port = port
        self.name = "pigeon-image-test-" + secrets.token_hex(4)
        engine(
            "run", "-d", "--name", self.name, *RUN_FLAGS,
            "--read-only", "--tmpfs", "/tmp",
            "-v", f"{volume}:/var/lib/pigeon",
            "-e", "PIGEON_HOST=127.0.0.1", "-e", f"PIGEON_PORT={port}",
            image,
        )  # fmt: skip

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                state = engine("inspect", "--format", "{{.State.Running}}", self.name)
                assert state.stdout.strip() == "true", self.logs()
            time.sleep(0.2)
        raise AssertionError(f"no /healthz within {START_TIMEOUT_S}s:\n{self.logs()}")

    def logs(self) -> str:
        done = engine("logs", self.name, check=False)
        return done.stdout + done.stderr

    def stop_gracefully(self) -> int:
        engine("stop", "--time", "60", self.name, timeout=90)
        return int(engine("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)

    def remove(self) -> None:
        engine("rm", "--force", self.name, check=False)


@pytest.fixture
def volume() -> Iterator[str]:
    name = "pigeon-image-test-" + secrets.token_hex(4)
    engine("volume", "create", name)
    yield name
    engine("volume", "rm", "--force", name, check=False)


# The build runs inside this test's setup: the suite's 600 s hang detector is too short.
@pytest.mark.timeout(BUILD_TIMEOUT_S + 600)
async def test_the_image_serves_drains_and_keeps_state_on_its_volume(
    image: str, volume: str, http: aiohttp.ClientSession
) -> None:
    first = Container(image, volume, free_port())
    try:
        first.wait_healthy()
        assert engine("exec", first.name, "id", "-u").stdout.strip() == "10001"
        assert (
            engine(
                "exec", first.name, "python3", "/opt/pigeon/healthcheck.py", check=False
            ).returncode
            == 0
        )
        no_compiler = engine("exec", first.name, "sh", "-c", "command -v gcc cc", check=False)
        assert no_compiler.returncode != 0, no_compiler.stdout
        config = engine("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image)
        assert "healthcheck.py" in config.stdout  # kept: built in docker format
        if Path(ENGINE[0]).name == "podman":  # the engine runs the image's own check
            assert engine("healthcheck", "run", first.name, check=False).returncode == 0
        rest = Rest(http, first)
        alice, bob = await register(rest, "img"), await register(rest, "img")
        alice = await login(rest, alice)
        conv = await direct(rest, alice, bob)
        await send_rest(rest, alice, conv, "from a container", "c1")
        assert first.stop_gracefully() == 0, first.logs()
        assert '"event":"stopped"' in first.logs()
    finally:
        first.remove()
    second = Container(image, volume, free_port())
    try:
        second.wait_healthy()
        rest = Rest(http, second)
        bob = await login(rest, bob)  # the account, the secret and the message were on the volume
        items = (await history(rest, bob, conv))["items"]
        assert [m["body"]["text"] for m in items] == ["from a container"]
        assert second.stop_gracefully() == 0, second.logs()
    finally:
        second.remove()
