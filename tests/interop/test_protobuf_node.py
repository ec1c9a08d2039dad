"""Interop with an independent toolchain: protobufjs in Node, loading the .proto files.

The Node client (tests/interop/node/interop.mjs) maps between Envelopes and the JSON
view on its own, following docs/protocol.md. It encodes every valid command of the
shared table, which the Python codec must decode into the very commands the JSON codec
gives; and it decodes every server frame the Python codec encoded, which must come out
as the same dicts. Without ``node``/``npm`` the test skips (fails under
PIGEON_REQUIRE_SERVICES=1); ``npm ci`` installs the locked protobufjs on first use.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness import require_service
from pigeon.protocol import codec, protobuf
from unit.wire_cases import SERVER_FRAMES, VALID_COMMANDS

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    require_service("node", node is not None and npm is not None, "node and npm are not on PATH")
    assert node is not None
    assert npm is not None
    if not (NODE_DIR / "node_modules" / "protobufjs" / "package.json").exists():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        require_service("protobufjs", installed.returncode == 0, installed.stderr[-2000:])
    return node


def _run_node(node: str, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(NODE_DIR / "interop.mjs")],
        input=orjson.dumps(request),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


def test_node_client_and_python_codec_agree(node: str) -> None:
    commands = [raw for raw, _ in VALID_COMMANDS]
    encoded = [base64.b64encode(protobuf.encode_frame(frame)).decode() for frame in SERVER_FRAMES]
    result = _run_node(node, {"commands": commands, "frames": encoded})

    for raw, data in zip(commands, result["commands"], strict=True):
        from_node = protobuf.decode_command(base64.b64decode(data))
        assert from_node == codec.decode_command(orjson.dumps(raw)), raw
    for frame, from_node in zip(SERVER_FRAMES, result["frames"], strict=True):
        assert from_node == frame
