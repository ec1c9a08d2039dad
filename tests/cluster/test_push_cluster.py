"""Offline push on two nodes sharing PostgreSQL and Redis: messages sent through both
nodes reach every offline member once, with no notification sent by both nodes."""

from __future__ import annotations

import itertools
import re

import aiohttp

from harness import ServerProcess
from integration.people import create_group
from integration.wsclient import Rest, eventually, register, send_rest
from pushkit import WEBHOOK_SECRET, WebhookReceiver

from .conftest import NodeFactory

MEMBERS = 12
MESSAGES = 10
_DELIVERED = re.compile(
    r'^pigeon_notification_attempts_total\{outcome="delivered",provider="webhook"\} (\S+)$', re.M
)


async def delivered_attempts(http: aiohttp.ClientSession, node: ServerProcess) -> int:
    async with http.get(f"{node.base_url}/metrics") as response:
        text = await response.text()
    found = _DELIVERED.search(text)
    return int(float(found.group(1))) if found else 0


async def test_two_nodes_share_the_outbox_and_send_each_notification_once(
    node_factory: NodeFactory, http: aiohttp.ClientSession
) -> None:
    webhook = await WebhookReceiver().start()
    try:
        env = {
            "PIGEON_PUSH_WEBHOOK_URL": webhook.url,
            "PIGEON_PUSH_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PIGEON_PUSH_ALLOW_PRIVATE": "127.0.0.1",
            "PIGEON_PUSH_FIRST_DELAY_S": "0",
            "PIGEON_PUSH_POLL_S": "0.1",
        }
        node_a, node_b = node_factory("a", env=env), node_factory("b", env=env)
        rest_a, rest_b = Rest(http, node_a), Rest(http, node_b)
        owner = await register(rest_a, "owner")
        readers = [await register(rest_b, "reader") for _ in range(MEMBERS)]
        conv = (await create_group(rest_a, owner, readers))["id"]
        for n in range(MESSAGES):
            await send_rest((rest_a, rest_b)[n % 2], owner, conv, f"news {n}", f"n{n}")

        def covered(user: str) -> int:
            return sum(int(p["count"]) for p in webhook.accepted(user))

        async def all_told() -> bool:
            return all(covered(r.id) >= MESSAGES for r in readers)

        await eventually(all_told, what="every reader told of every message")
        assert webhook.problems == []
        for reader in readers:
            notes = webhook.accepted(reader.id)
            assert covered(reader.id) == MESSAGES
            spans = sorted((p["first_seq"], p["last_seq"]) for p in notes)
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert start > end, f"two notifications cover one message: {spans}"
        accepted = [p["id"] for p in webhook.accepted()]
        assert len(accepted) == len(set(accepted))
        # Each notification the receiver took was sent by exactly one node.
        sent = await delivered_attempts(http, node_a) + await delivered_attempts(http, node_b)
        assert sent == len(accepted)
    finally:
        await webhook.close()
