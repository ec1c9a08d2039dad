"""Ids say what they name: friend requests and files have different prefixes, and a
friend request stored under the old shared prefix still works."""

from __future__ import annotations

import sqlite3

import aiohttp

from harness import ServerProcess

from .wsclient import Rest, register


async def test_friend_requests_and_files_have_distinct_prefixes(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    rest = Rest(http, server)
    ann, ben = await register(rest, "ann"), await register(rest, "ben")
    request = await rest.ok(
        "POST", "friends/requests", status=201, token=ann.access, json={"user_id": ben.id}
    )
    assert request["id"].startswith("fr_")
    form = aiohttp.FormData()
    form.add_field("file", b"plain words", filename="note.txt", content_type="text/plain")
    async with http.post(
        f"{server.base_url}/api/v1/files",
        data=form,
        headers={"Authorization": f"Bearer {ann.access}"},
    ) as response:
        uploaded = (await response.json())["data"]
    assert uploaded["id"].startswith("f_")
    assert not uploaded["id"].startswith("fr_")


async def test_a_stored_request_with_the_old_prefix_can_be_answered(
    http: aiohttp.ClientSession, server: ServerProcess
) -> None:
    rest = Rest(http, server)
    ann, ben = await register(rest, "ann"), await register(rest, "ben")
    request = await rest.ok(
        "POST", "friends/requests", status=201, token=ann.access, json={"user_id": ben.id}
    )
    legacy = "f_" + request["id"].removeprefix("fr_")
    with sqlite3.connect(server.data_dir / "pigeon.db") as db:  # as an older server wrote it
        db.execute("UPDATE friend_requests SET id = ? WHERE id = ?", (legacy, request["id"]))
    [listed] = (await rest.ok("GET", "friends/requests", token=ben.access))["items"]
    assert listed["id"] == legacy
    accepted = await rest.ok("POST", f"friends/requests/{legacy}/accept", token=ben.access)
    assert (accepted["id"], accepted["status"]) == (legacy, "accepted")
    friends = await rest.ok("GET", "friends", token=ann.access)
    assert [u["id"] for u in friends["items"]] == [ben.id]
