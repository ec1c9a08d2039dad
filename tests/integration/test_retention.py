"""Message retention through a real server, on SQLite and on PostgreSQL.

The server runs its retention job every fraction of a second. Nothing waits days:
a test ages its own messages (and their files) by moving their timestamps back in the
database, then polls until the job has removed them. What is checked is what clients
see: history, pull and sync say where the stream now starts, search finds nothing
removed, a file goes with the last message showing it and stays while a forward shows
it, a conversation's own setting wins over the server's, and only a group's owner and
admins may set it. ``pigeon db prune`` runs the same job by hand, alongside the server's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from harness import TEST_ENV, ServerProcess, unique_name
from pigeon.store.engine import Database

from .backends import BACKENDS, serve_on
from .people import create_group
from .test_files import describe, fetch, upload
from .wsclient import Account, Rest, connect, direct, eventually, history, register, send_rest

DAY_MS = 86_400_000
SERVER_DAYS = 30
NUMBER_OUT_OF_RANGE, FORBIDDEN, NOT_ADMIN, MESSAGE_REMOVED = 40009, 40300, 40305, 41000
SETTINGS = {
    "PIGEON_RETENTION_DAYS": str(SERVER_DAYS),
    "PIGEON_RETENTION_MAX_DAYS": "400",
    "PIGEON_RETENTION_INTERVAL_S": "0.2",
    "PIGEON_RETENTION_BATCH": "3",  # several runs, several transactions per conversation
}


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_on(request.param, tmp_path_factory, "retention", SETTINGS)


@pytest.fixture
def rest(http: aiohttp.ClientSession, backend_server: ServerProcess) -> Rest:
    return Rest(http, backend_server)


def _database(server: ServerProcess) -> Database:
    url = server.env.get("PIGEON_DATABASE_URL") or f"sqlite:///{server.data_dir / 'pigeon.db'}"
    return Database(url)


async def _age(server: ServerProcess, conv: str, days: float) -> None:
    """Make every message of ``conv``, and every file they show, ``days`` older."""
    shift = int(days * DAY_MS)
    db = _database(server)
    try:
        async with db.write() as conn:
            await conn.execute(
                text("UPDATE messages SET ts = ts - :shift WHERE conv_id = :conv"),
                {"shift": shift, "conv": conv},
            )
            await conn.execute(
                text(
                    "UPDATE files SET touched_at = touched_at - :shift WHERE id IN "
                    "(SELECT file_id FROM file_refs WHERE conv_id = :conv)"
                ),
                {"shift": shift, "conv": conv},
            )
    finally:
        await db.close()


async def _first_seq(rest: Rest, who: Account, conv: str) -> int:
    view = await rest.ok("GET", f"conversations/{conv}/retention", token=who.access)
    return int(view["first_seq"])


async def _pruned_through(rest: Rest, who: Account, conv: str, seq: int) -> None:
    async def done() -> bool:
        return await _first_seq(rest, who, conv) > seq

    await eventually(done, what=f"retention to remove {conv} up to seq {seq}")


async def _say(rest: Rest, who: Account, conv: str, words: str) -> dict[str, Any]:
    result: dict[str, Any] = await send_rest(rest, who, conv, words, unique_name("c"))
    return result


async def _image(rest: Rest, who: Account, conv: str, content: bytes) -> tuple[str, int]:
    stored = await upload(rest, who, content, "notes.txt")
    body = {"file_id": stored["id"], "name": "notes.txt"}
    sent = await rest.ok(
        "POST",
        f"conversations/{conv}/messages",
        token=who.access,
        json={"cid": unique_name("c"), "kind": "file", "body": body},
    )
    return stored["id"], int(sent["seq"])


async def test_expired_messages_and_their_files_go_and_clients_are_told(
    rest: Rest, http: aiohttp.ClientSession, backend_server: ServerProcess
) -> None:
    marker = unique_name("m")
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    chat = await direct(rest, alice, bob)
    elsewhere = await direct(rest, bob, carol)
    for n in range(4):
        await _say(rest, alice, chat, f"{marker} old {n}")
    lonely, _ = await _image(rest, alice, chat, b"only in the old chat\n")
    shared, shared_seq = await _image(rest, alice, chat, b"forwarded elsewhere\n")
    forward = {"cid": unique_name("f"), "to": elsewhere}
    await rest.ok(
        "POST",
        f"conversations/{chat}/messages/{shared_seq}/forward",
        token=bob.access,
        json=forward,
    )
    bob_ws, _ = await connect(http, backend_server, bob)
    try:
        cursor = (await bob_ws.sync())["cursor"]
        await _age(backend_server, chat, SERVER_DAYS + 1)
        last_old = await _say(rest, alice, chat, f"{marker} still fresh")
        await _pruned_through(rest, bob, chat, last_old["seq"] - 1)

        page = await history(rest, bob, chat)
        assert [m["seq"] for m in page["items"]] == [last_old["seq"]]
        assert page["first_seq"] == last_old["seq"]
        pulled = await bob_ws.pull(chat, after=0)
        assert (pulled["first_seq"], [m["seq"] for m in pulled["items"]]) == (
            last_old["seq"],
            [last_old["seq"]],
        )
        changed = (await bob_ws.sync(cursor))["convs"]
        assert {c["conv"]: c.get("first_seq") for c in changed}[chat] == last_old["seq"]
    finally:
        await bob_ws.close()

    found = await rest.ok(
        "GET", "search/messages", token=bob.access, params={"q": marker, "conv": chat}
    )
    assert [item["seq"] for item in found["items"]] == [last_old["seq"]]
    await rest.fails("GET", f"files/{lonely}", 404, 40404, token=alice.access)
    status, content, _ = await fetch(http, (await describe(rest, carol, shared))["url"])
    assert (status, content) == (200, b"forwarded elsewhere\n")
    gone = await rest.call(
        "POST",
        f"conversations/{chat}/messages/1/forward",
        token=bob.access,
        json={"cid": unique_name("f"), "to": elsewhere},
    )
    assert (gone.status, gone.code) == (410, MESSAGE_REMOVED), gone.text


async def test_a_conversations_own_setting_wins_over_the_servers(
    rest: Rest, backend_server: ServerProcess
) -> None:
    owner, member = await register(rest, "owner"), await register(rest, "member")
    short = (await create_group(rest, owner, [member]))["id"]
    forever = (await create_group(rest, owner, [member]))["id"]
    chat = await direct(rest, owner, member)
    path = "conversations/{}/retention"
    view = await rest.ok("PUT", path.format(short), token=owner.access, json={"days": 1})
    assert (view["days"], view["effective_days"], view["first_seq"]) == (1, 1, 1)
    await rest.ok("PUT", path.format(forever), token=owner.access, json={"days": 0})
    seqs = {
        conv: (await _say(rest, owner, conv, "hello"))["seq"] for conv in (short, forever, chat)
    }

    await _age(backend_server, forever, 400)
    await _age(backend_server, chat, 2)  # the server keeps 30 days: not expired
    await _age(backend_server, short, 2)
    await _pruned_through(rest, member, short, seqs[short])
    # The job visits due conversations only, so by now a run has passed the other two.
    assert await _first_seq(rest, member, forever) == 1
    assert await _first_seq(rest, member, chat) == 1
    view = await rest.ok("GET", path.format(chat), token=member.access)
    assert (view["days"], view["effective_days"]) == (None, SERVER_DAYS)


async def test_only_a_groups_owner_and_admins_set_retention(rest: Rest) -> None:
    owner, member, stranger = [await register(rest, p) for p in ("owner", "member", "x")]
    group = (await create_group(rest, owner, [member]))["id"]
    chat = await direct(rest, owner, member)
    url = f"conversations/{group}/retention"
    await rest.fails("PUT", url, 403, NOT_ADMIN, token=member.access, json={"days": 1})
    await rest.fails("PUT", url, 404, 40402, token=stranger.access, json={"days": 1})
    await rest.fails("GET", url, 404, 40402, token=stranger.access)
    for days in (-1, 401):
        await rest.fails(
            "PUT", url, 400, NUMBER_OUT_OF_RANGE, token=owner.access, json={"days": days}
        )
    await rest.ok("PUT", url, token=owner.access, json={"days": 400})  # the limit itself
    await rest.fails(
        "PUT",
        f"conversations/{chat}/retention",
        403,
        FORBIDDEN,
        token=owner.access,
        json={"days": 1},
    )
    view = await rest.ok("PUT", url, token=owner.access, json={"days": None})
    assert (view["days"], view["effective_days"]) == (None, SERVER_DAYS)


async def test_db_prune_runs_the_job_by_hand_beside_the_servers(
    rest: Rest, backend_server: ServerProcess
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    chat = await direct(rest, alice, bob)
    last: dict[str, Any] = {}
    for n in range(7):
        last = await _say(rest, alice, chat, f"old {n}")
    await _age(backend_server, chat, SERVER_DAYS + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIGEON_")}
    env.update({**TEST_ENV, **SETTINGS, "PIGEON_DATA_DIR": str(backend_server.data_dir)})
    if "PIGEON_DATABASE_URL" in backend_server.env:
        env["PIGEON_DATABASE_URL"] = backend_server.env["PIGEON_DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "pigeon", "db", "prune"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed "), result.stdout
    # Whichever of the two removed them, each message went once and all are gone now.
    assert await _first_seq(rest, bob, chat) == last["seq"] + 1
    assert (await history(rest, bob, chat))["items"] == []
