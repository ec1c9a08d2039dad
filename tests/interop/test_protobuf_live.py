"""Interop against a live server: a Protobuf client from an independent toolchain chats
with a Python SDK user.

The Node client (tests/interop/node/live.mjs) is protobufjs with the .proto file and the
``ws`` package: no Python code. It connects with the subprotocol ``pigeon.v1.proto`` as one
member of a direct conversation, authenticates, sends, receives the other member's
message as a binary push and replies, sends a custom body, syncs from no cursor, pulls
the history and checks that malformed binary and text frames are refused with 40001.
The other member is the Python SDK over JSON, driven concurrently. Both sides must see
every message once, in order, with the same seqs, ids and bodies as the store's JSON
view (REST history). Without ``node``/``npm`` the test skips (fails under
PIGEON_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from harness import WAIT_S, ServerProcess, unique_name
from pigeon.client import ConnectionOptions, EventStream, Message, MessageEvent, PigeonClient
from pigeon.protocol.errors import ErrorCode

T = TypeVar("T")

SCRIPT = Path(__file__).resolve().parent / "node" / "live.mjs"
PASSWORD = "correct-horse-battery"
OPTIONS = ConnectionOptions(connect_timeout=WAIT_S, request_timeout=WAIT_S)
# Bounds that only catch a hang. A Python step may wait on a Node process starting up or
# on two of its round trips; the whole Node run waits for about ten frames.
STEP_S = 2 * WAIT_S
NODE_RUN_S = 10 * WAIT_S

# What the Node client writes. The custom body travels as JSON text inside the Envelope,
# so 2^53 - 1 stays exact and 1 stays an integer (a google.protobuf.Struct would not).
SAY = {
    "hello": "hello from node",
    "reply": "node got it",
    "card": {
        "card": {"title": "Protobuf ✓ café", "big": 2**53 - 1, "one": 1, "half": 0.5},
        "tags": ["node", "protobufjs"],
        "extra": {"none": None, "yes": True},
    },
}
PYTHON_TEXT = "hi from python"
NODE_CIDS = ["node-hello", "node-reply", "node-card"]
ACK_KEYS = ("cid", "conv", "seq", "id", "ts")


@contextlib.asynccontextmanager
async def node_client(node: str, request: dict[str, Any]) -> AsyncIterator[asyncio.Task[Any]]:
    """Run live.mjs with ``request`` on stdin; the task ends with its report (or failure)."""
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    async def report() -> Any:
        out, err = await proc.communicate(orjson.dumps(request))
        assert proc.returncode == 0, f"the Node client failed:\n{err.decode(errors='replace')}"
        return orjson.loads(out)

    task = asyncio.create_task(report())
    try:
        yield task
    finally:
        if proc.returncode is None:
            proc.kill()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            await task


async def alongside(step: Coroutine[Any, Any, T], node_run: asyncio.Task[Any]) -> T:
    """Await ``step`` (bounded by STEP_S); if the Node client fails meanwhile, its error
    is the test's failure rather than a timeout here."""
    task = asyncio.ensure_future(step)
    try:
        async with asyncio.timeout(STEP_S):
            await asyncio.wait({task, node_run}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done() and node_run.exception() is not None:
                node_run.result()
            return await task
    finally:
        task.cancel()


async def messages_up_to(stream: EventStream, conv: str, last_seq: int) -> list[Message]:
    """The SDK's message events of ``conv`` until ``last_seq`` (they come in seq order)."""
    got: list[Message] = []
    async for event in stream:
        if isinstance(event, MessageEvent) and event.conv == conv:
            got.append(event.message)
            if event.seq >= last_seq:
                return got
    raise AssertionError("the event stream ended")


def as_stored(message: Message) -> dict[str, Any]:
    """An SDK message in the fields of a stored one (REST history's JSON view)."""
    view = {
        "conv": message.conv,
        "seq": message.seq,
        "id": message.id,
        "from": message.sender,
        "kind": message.kind,
        "body": message.body,
        "ts": message.ts,
        "cid": message.cid,
    }
    if message.reply_to is not None:
        view["reply_to"] = message.reply_to
    return view


def without_t(frame: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in frame.items() if key != "t"}


@pytest.fixture
async def pair(server: ServerProcess) -> AsyncIterator[tuple[PigeonClient, PigeonClient, str]]:
    """Two new users (registered over REST) and their direct conversation."""
    async with PigeonClient(server.base_url) as node_user, PigeonClient(server.base_url) as python:
        await node_user.register(unique_name("node"), PASSWORD)
        await python.register(unique_name("py"), PASSWORD)
        assert node_user.user is not None
        conv = await python.open_direct(str(node_user.user["id"]))
        yield node_user, python, str(conv["id"])


async def test_node_protobuf_client_chats_with_python_sdk_user(
    node: str, server: ServerProcess, pair: tuple[PigeonClient, PigeonClient, str]
) -> None:
    node_user, python, conv = pair
    assert node_user.user is not None
    assert python.user is not None
    node_id, python_id = str(node_user.user["id"]), str(python.user["id"])
    conn = await python.connect(options=OPTIONS)
    events = conn.events()
    request = {
        "url": server.ws_url,
        "token": node_user.access_token,
        "conv": conv,
        "wait_ms": int(WAIT_S * 1000),
        "say": SAY,
    }

    async with node_client(node, request) as node_run:
        first = await alongside(messages_up_to(events, conv, 1), node_run)
        answer = await alongside(conn.send(conv, body=PYTHON_TEXT), node_run)
        rest = await alongside(messages_up_to(events, conv, 4), node_run)
        async with asyncio.timeout(NODE_RUN_S):
            seen = await node_run

    stored: list[dict[str, Any]] = (await python.history(conv, after=0, limit=100))["items"]
    assert [m["seq"] for m in stored] == [1, 2, 3, 4]
    assert [m["cid"] for m in stored] == [NODE_CIDS[0], answer.cid, *NODE_CIDS[1:]]
    assert [m["from"] for m in stored] == [node_id, python_id, node_id, node_id]
    assert stored[0]["body"] == {"text": SAY["hello"]}
    assert stored[1]["body"] == {"text": PYTHON_TEXT}
    assert (stored[2]["body"], stored[2]["reply_to"]) == ({"text": SAY["reply"]}, 2)
    assert stored[3]["kind"] == "custom"
    assert stored[3]["body"] == SAY["card"]
    assert type(stored[3]["body"]["card"]["one"]) is int  # not 1.0
    assert (answer.seq, answer.id) == (2, stored[1]["id"])

    # The Python SDK user: the Node user's three messages live, once each, in order.
    assert [as_stored(m) for m in first + rest] == [stored[0], *stored[2:]]

    # The Node client: a Protobuf connection from the start to the end.
    assert seen["subprotocol"] == "pigeon.v1.proto"
    assert (seen["text_messages"], seen["binary_messages"] > 0) == (0, True)
    assert seen["ready"]["user"] == node_id
    # Each ack (found by the rid it echoes) names the stored message.
    acked = [{key: ack[key] for key in ACK_KEYS} for ack in seen["acks"]]
    assert acked == [{key: m[key] for key in ACK_KEYS} for m in (stored[0], *stored[2:])]
    # The peer's message came once, as a push equal to the stored JSON view.
    assert [without_t(push) for push in seen["pushes"]] == [stored[1]]
    assert all(frame["t"] != "msg" for frame in seen["other_frames"]), seen["other_frames"]
    # Sync from no cursor lists the conversation at its last seq; pull gives the history.
    entries = [c for c in seen["sync"]["convs"] if c["conv"] == conv]
    assert [(c["kind"], c["last_seq"]) for c in entries] == [("direct", 4)]
    assert seen["messages"]["items"] == stored
    assert (seen["messages"]["conv"], seen["messages"]["more"]) == (conv, False)
    # Bad frames are answered with an error and the connection stays open.
    for refused in (seen["malformed_binary"], seen["text_frame"]):
        assert (refused["t"], refused["code"]) == ("error", ErrorCode.MALFORMED_FRAME), refused
        assert "rid" not in refused
    assert seen["after_errors"]["t"] == "pong"
