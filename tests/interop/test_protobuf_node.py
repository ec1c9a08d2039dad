"""Interop with an independent toolchain: protobufjs in Node, loading the .proto files.

The Node client (tests/interop/node/interop.mjs) maps between Envelopes and the JSON
view on its own, following docs/protocol.md. It encodes every valid command of the
shared table, which the Python codec must decode into the very commands the JSON codec
gives; and it decodes every server frame the Python codec encoded, which must come out
as the same dicts. Without ``node``/``npm`` the test skips (fails under
PIGEON_REQUIRE_SERVICES=1); ``npm ci`` installs the locked packages on first use
(the ``node`` fixture in conftest.py).
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import orjson

from pigeon.protocol import codec, protobuf
from unit.wire_cases import SERVER_FRAMES, VALID_COMMANDS

SCRIPT = Path(__file__).resolve().parent / "node" / "interop.mjs"


def _run_node(node: str, request: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(SCRIPT)],
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
