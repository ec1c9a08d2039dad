"""Retention on two nodes sharing PostgreSQL: both run the job every tenth of a second
over the same expired conversations, and every expired message is removed exactly once
— the removals the two nodes report add up to the messages that expired, and neither
node's job fails."""

from __future__ import annotations

import aiohttp
import orjson
from sqlalchemy import text

from harness import ServerProcess
from integration.people import create_group
from integration.wsclient import Rest, eventually, register, send_rest
from pigeon.store.engine import Database

from .conftest import NodeFactory

CONVERSATIONS = 4
MESSAGES = 9  # per conversation, on top of each group's creation notice
ENV = {
    "PIGEON_RETENTION_DAYS": "1",
    "PIGEON_RETENTION_INTERVAL_S": "0.1",
    "PIGEON_RETENTION_BATCH": "2",  # many small transactions: many chances to collide
}


def removed_by(node: ServerProcess) -> int:
    total = 0
    for line in node.log().splitlines():
        if '"expired messages removed"' in line:
            total += int(orjson.loads(line)["messages"])
    return total


async def test_two_nodes_remove_each_expired_message_once(
    node_factory: NodeFactory, http: aiohttp.ClientSession, database_url: str
) -> None:
    # The job starts only once every message is aged, so nothing expires half-way.
    quiet = {**ENV, "PIGEON_RETENTION_DAYS": "0"}
    setup = node_factory("setup", env=quiet)
    rest = Rest(http, setup)
    owner, member = await register(rest, "owner"), await register(rest, "member")
    convs = [(await create_group(rest, owner, [member]))["id"] for _ in range(CONVERSATIONS)]
    for conv in convs:
        for n in range(MESSAGES):
            await send_rest(rest, owner, conv, f"m{n}", f"{conv}-{n}")
    setup.stop()
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("UPDATE messages SET ts = ts - 2 * 86400000"))
    finally:
        await db.close()

    node_a, node_b = node_factory("a", env=ENV), node_factory("b", env=ENV)
    expired = CONVERSATIONS * (MESSAGES + 1)

    async def all_removed() -> bool:
        return removed_by(node_a) + removed_by(node_b) >= expired

    await eventually(all_removed, what="every expired message removed")
    assert removed_by(node_a) + removed_by(node_b) == expired
    for node in (node_a, node_b):
        assert "retention run failed" not in node.log()
    check = Rest(http, node_b)
    for conv in convs:
        page = await check.ok("GET", f"conversations/{conv}/messages", token=member.access)
        assert (page["items"], page["first_seq"]) == ([], MESSAGES + 2)
