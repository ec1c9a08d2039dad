"""Pipelined sends over a real socket: a client writes many sends without waiting
and gets every answer in the order it wrote them, stored in that order, with a
failing send answered in its place; at the pipeline's bound the server stops
reading instead of refusing."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import orjson
import pytest

from harness import ServerProcess

from .wsclient import Rest as RestClient
from .wsclient import all_history, connect, direct, register

SENDS = 50
# Budgets wide enough for a burst of 50.
ENV = {
    "PIGEON_SEND_RATE_PER_S": "1000",
    "PIGEON_SEND_BURST": "1000",
    "PIGEON_USER_SEND_RATE_PER_S": "1000",
    "PIGEON_USER_SEND_BURST": "1000",
}
EMPTY_TEXT_AT = 25


def _send(conv: str, n: int) -> bytes:
    text = "" if n == EMPTY_TEXT_AT else f"message {n}"  # an empty text is refused
    return orjson.dumps(
        {
            "t": "send",
            "rid": f"r{n}",
            "cid": f"c{n}",
            "conv": conv,
            "kind": "text",
            "body": {"text": text},
        }
    )


# The smallest pipeline (one in flight: the reader pauses after every frame) and a
# small one: far fewer than the 50 sends, so the bound is hit over and over and the
# frames beyond it wait for room instead of being refused.
@pytest.mark.parametrize("depth", [1, 4])
async def test_fifty_sends_written_at_once_are_acked_and_stored_in_order(
    server_factory: Callable[..., ServerProcess], http: aiohttp.ClientSession, depth: int
) -> None:
    server = server_factory(env={**ENV, "PIGEON_PIPELINE_DEPTH": str(depth)})
    rest = RestClient(http, server)
    alice, bob = await register(rest, "pa"), await register(rest, "pb")
    conv = await direct(rest, alice, bob)
    client, _ = await connect(http, server, alice)
    try:
        for n in range(SENDS):  # written back to back, no answer awaited
            await client.send_raw(_send(conv, n).decode())
        answers = await client.answers(SENDS)
    finally:
        await client.close()
    assert [a["rid"] for a in answers] == [f"r{n}" for n in range(SENDS)]
    failed = answers[EMPTY_TEXT_AT]
    assert failed["t"] == "error", failed
    assert failed["cid"] == f"c{EMPTY_TEXT_AT}"
    acks = [a for a in answers if a["t"] == "ack"]
    assert len(acks) == SENDS - 1
    seqs = [a["seq"] for a in acks]
    assert seqs == sorted(seqs)
    stored = [m for m in await all_history(rest, alice, conv) if m["kind"] == "text"]
    assert [m["body"]["text"] for m in stored] == [
        f"message {n}" for n in range(SENDS) if n != EMPTY_TEXT_AT
    ]
