"""Deleting an account and exporting one's data, through a real server on SQLite and on
PostgreSQL: what others see afterwards, what the deleted account can no longer do,
both deletion policies, and the contents and limits of an export."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from harness import ServerProcess, unique_name
from pigeon.client import PigeonClient
from pigeon.client.errors import PigeonApiError

from .backends import BACKENDS, serve_on
from .people import create_group, make_admin
from .test_bots import make_bot
from .test_files import upload
from .wsclient import (
    PASSWORD,
    Account,
    Rest,
    all_history,
    assert_error,
    connect,
    direct,
    pull_everything,
    register,
    send_rest,
)

BAD_REQUEST, BAD_CREDENTIALS, TOKEN_REVOKED, FRIENDS_ONLY = 40000, 40101, 40104, 40303
BOT_NOT_SELF_DELETABLE, FILE_NOT_FOUND = 40340, 40404
EXPORT_TOO_LARGE, EXPORT_RATE_LIMITED = 40090, 42920
REVOKED_CLOSE = 4003
EXPORT_MAX_BYTES = 200_000


@pytest.fixture(scope="module", params=BACKENDS)
def keep_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The default policy (messages kept) and tight export limits."""
    yield from serve_on(request.param, tmp_path_factory, "keep", _env(account_deletion="keep"))


@pytest.fixture(scope="module", params=BACKENDS)
def remove_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_on(request.param, tmp_path_factory, "remove", _env(account_deletion="remove"))


def _env(**settings: str) -> dict[str, str]:
    base = {"export_max_bytes": str(EXPORT_MAX_BYTES), "export_interval_s": "3600", **settings}
    return {f"PIGEON_{name.upper()}": value for name, value in base.items()}


@pytest.fixture
def rest(http: aiohttp.ClientSession, keep_server: ServerProcess) -> Rest:
    return Rest(http, keep_server)


@pytest.fixture
def rest_remove(http: aiohttp.ClientSession, remove_server: ServerProcess) -> Rest:
    return Rest(http, remove_server)


async def _delete(rest: Rest, who: Account, password: str = PASSWORD) -> Any:
    return await rest.call("DELETE", "users/me", token=who.access, json={"password": password})


async def _befriend(rest: Rest, a: Account, b: Account) -> None:
    sent = await rest.ok(
        "POST", "friends/requests", status=201, token=a.access, json={"user_id": b.id}
    )
    await rest.ok("POST", f"friends/requests/{sent['id']}/accept", token=b.access)


# --- deletion, messages kept


async def test_a_deleted_account_is_gone_but_its_words_stay_as_a_deleted_users(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    await _befriend(rest, alice, bob)
    chat = await direct(rest, alice, bob)
    await send_rest(rest, alice, chat, "remember me", unique_name("c"))
    # carol joined first as a member; bob later, as an admin: the admin inherits
    group = (await create_group(rest, alice, [carol]))["id"]
    await rest.ok(
        "POST", f"groups/{group}/members", token=alice.access, json={"user_ids": [bob.id]}
    )
    await make_admin(rest, alice, group, bob)
    socket, _ = await connect(http, rest.server, alice)

    assert_error(await _delete(rest, alice, "not the password"), 401, BAD_CREDENTIALS)
    assert (await rest.ok("GET", "users/me", token=alice.access))["deleted"] is False

    assert (await _delete(rest, alice)).data is None
    assert await socket.closed() == REVOKED_CLOSE
    await rest.fails("GET", "users/me", 401, TOKEN_REVOKED, token=alice.access)
    login = {"username": alice.username, "password": PASSWORD}
    await rest.fails("POST", "auth/login", 401, BAD_CREDENTIALS, json=login)

    seen = await rest.ok("GET", f"users/{alice.id}", token=bob.access)
    assert seen["deleted"] is True
    assert seen["display_name"] == "Deleted user"
    assert seen["avatar"] is None
    assert seen["username"] != alice.username
    texts = [m["body"].get("text") for m in await all_history(rest, bob, chat)]
    assert "remember me" in texts
    await rest.fails(
        "POST",
        f"conversations/{chat}/messages",
        403,
        FRIENDS_ONLY,
        token=bob.access,
        json={"cid": unique_name("c"), "kind": "text", "body": {"text": "hello?"}},
    )
    assert (await rest.ok("GET", f"groups/{group}", token=bob.access))["owner"] == bob.id
    events = [
        m["body"]["event"] for m in await all_history(rest, carol, group) if m["kind"] == "system"
    ]
    assert events[-2:] == ["owner_transferred", "member_left"]
    friends = await rest.ok("GET", "friends", token=bob.access)
    assert alice.id not in [f["id"] for f in friends["items"]]
    # the username is free again: a new account, not the deleted one
    again = await rest.ok("POST", "auth/register", status=201, json=login)
    assert again["user"]["id"] != alice.id


async def test_a_deletion_without_a_password_is_refused_and_changes_nothing(rest: Rest) -> None:
    me = await register(rest, "nopw")
    for body in (None, {}, {"password": 12345678}, {"password": "x" * 5000}):
        reply = await rest.call("DELETE", "users/me", token=me.access, json=body)
        assert_error(reply, 400, BAD_REQUEST)
    assert (await rest.ok("GET", "users/me", token=me.access))["deleted"] is False


async def test_a_group_nobody_else_is_in_is_dissolved(rest: Rest) -> None:
    alone = await register(rest, "alone")
    group = (await create_group(rest, alone))["id"]
    assert (await _delete(rest, alone)).status == 200
    stranger = await register(rest, "s")
    reply = await rest.call("GET", f"groups/{group}", token=stranger.access)
    assert reply.status == 404, reply.text


async def test_a_bot_cannot_delete_itself_here(rest: Rest, keep_server: ServerProcess) -> None:
    bot = await make_bot(rest, keep_server)
    await rest.fails(
        "DELETE",
        "users/me",
        403,
        BOT_NOT_SELF_DELETABLE,
        token=bot.account.access,
        json={"password": "anything at all"},
    )
    status, _, err = await keep_server.cli("user", "delete", bot.name, "--yes")
    assert status != 0
    assert str(BOT_NOT_SELF_DELETABLE) in err
    assert (await rest.ok("GET", "users/me", token=bot.account.access))["deleted"] is False


async def test_the_operator_deletes_with_the_cli_and_may_remove_messages(
    rest: Rest, keep_server: ServerProcess
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    chat = await direct(rest, alice, bob)
    await send_rest(rest, alice, chat, "gone soon", unique_name("c"))
    status, out, err = await keep_server.cli(
        "user", "delete", alice.username, "--remove-messages", "--yes"
    )
    assert status == 0, err
    assert alice.id in out
    login = {"username": alice.username, "password": PASSWORD}
    await rest.fails("POST", "auth/login", 401, BAD_CREDENTIALS, json=login)
    texts = [m["body"].get("text") for m in await all_history(rest, bob, chat)]
    assert "gone soon" not in texts


# --- deletion, messages removed


async def test_removed_messages_read_recalled_and_another_device_converges(
    rest_remove: Rest, http: aiohttp.ClientSession
) -> None:
    rest = rest_remove
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    group = (await create_group(rest, alice, [bob]))["id"]
    stored = await upload(rest, alice, b"alice's holiday notes", "notes.txt")
    file_body = {"file_id": stored["id"], "name": "notes.txt"}
    await rest.ok(
        "POST",
        f"conversations/{group}/messages",
        token=alice.access,
        json={"cid": unique_name("c"), "kind": "file", "body": file_body},
    )
    for words in ("one", "two"):
        await send_rest(rest, alice, group, f"alice {words}", unique_name("c"))
        await send_rest(rest, bob, group, f"bob {words}", unique_name("c"))
    device, _ = await connect(http, rest.server, bob, device="tablet")
    before = await pull_everything(device, group)  # what the tablet holds before
    seen_up_to = before[-1]["seq"]

    assert (await _delete(rest, alice)).status == 200

    history = await all_history(rest, bob, group)
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))  # gapless
    content = [m for m in history if m["kind"] in ("text", "file")]
    for message in content:
        if message["from"] == alice.id:
            assert message.get("recalled") is True
            assert message["body"] == {}
        else:
            assert message["body"]["text"].startswith("bob")
    assert not any("alice" in orjson.dumps(m["body"]).decode() for m in history)
    await rest.fails("GET", f"files/{stored['id']}", 404, FILE_NOT_FOUND, token=bob.access)

    # the tablet syncs, pulls what is new and applies the recalls: the same history
    sync = await device.sync()
    row = next(c for c in sync["convs"] if c["conv"] == group)
    assert row["last_seq"] == history[-1]["seq"]
    held = {m["seq"]: m for m in before}
    for entry in await pull_everything(device, group, after=seen_up_to):
        held[entry["seq"]] = entry
        if entry["kind"] == "recall" and entry["body"].get("seq") in held:
            target = held[entry["body"]["seq"]]
            held[target["seq"]] = {**target, "body": {}, "recalled": True}
    assert [held[s] for s in sorted(held)] == history
    await device.close()


# --- export


def _archive(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


async def _export(rest: Rest, who: Account) -> tuple[int, bytes, Any]:
    url = rest.server.base_url + "/api/v1/users/me/export"
    headers = {"Authorization": f"Bearer {who.access}"}
    async with rest.http.post(url, headers=headers) as response:
        return response.status, await response.read(), response.headers


async def test_an_export_holds_what_the_user_may_read_and_their_files(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    group = (await create_group(rest, bob))["id"]
    await send_rest(rest, bob, group, "said before alice came", unique_name("c"))
    await rest.ok(
        "POST", f"groups/{group}/members", token=bob.access, json={"user_ids": [alice.id]}
    )
    await send_rest(rest, bob, group, "welcome alice", unique_name("c"))
    oops = await send_rest(rest, alice, group, "a typo to take back", unique_name("c"))
    await rest.ok(
        "POST",
        f"conversations/{group}/messages",
        token=alice.access,
        json={"cid": unique_name("c"), "kind": "recall", "body": {"seq": oops["seq"]}},
    )
    stored = await upload(rest, alice, b"\x00\x01 my own bytes", "mine.bin")

    status, data, headers = await _export(rest, alice)
    assert status == 200
    assert headers["Content-Type"] == "application/zip"
    archive = _archive(data)
    names = set(archive.namelist())
    assert {"README.txt", "profile.json", "contacts.json", "conversations.json"} <= names
    assert orjson.loads(archive.read("profile.json"))["id"] == alice.id
    convs = {c["id"]: c for c in orjson.loads(archive.read("conversations.json"))}
    assert convs[group]["role"] == "member"
    assert convs[group]["state"] == "active"
    lines = archive.read(f"messages/{group}.jsonl").decode().splitlines()
    messages = [orjson.loads(line) for line in lines]
    texts = [m["body"].get("text") for m in messages]
    assert "welcome alice" in texts
    assert "said before alice came" not in texts
    recalled = next(m for m in messages if m["seq"] == oops["seq"])
    assert recalled["recalled"] is True
    assert recalled["body"] == {}
    everything = b"".join(archive.read(name) for name in names)
    assert b"a typo to take back" not in everything
    files = orjson.loads(archive.read("files.json"))
    assert [f["id"] for f in files] == [stored["id"]]
    assert archive.read(files[0]["path"]) == b"\x00\x01 my own bytes"

    status, _, headers = await _export(rest, alice)  # the limit: once per interval
    assert status == 429
    reply = await rest.call("POST", "users/me/export", token=alice.access)
    assert reply.body["code"] == EXPORT_RATE_LIMITED, reply.text
    assert 0 < reply.body["data"]["retry_after"] <= 3600
    assert int(reply.headers["Retry-After"]) == reply.body["data"]["retry_after"]


async def test_an_export_over_the_size_bound_is_refused(rest: Rest) -> None:
    big = await register(rest, "big")
    await upload(rest, big, b"x" * (EXPORT_MAX_BYTES + 1), "big.bin")
    await rest.fails("POST", "users/me/export", 400, EXPORT_TOO_LARGE, token=big.access)


# --- the Python SDK


async def test_the_sdk_exports_to_a_file_and_deletes_the_account(
    keep_server: ServerProcess, tmp_path: Path
) -> None:
    name = unique_name("sdk")
    async with PigeonClient(keep_server.base_url) as client:
        await client.register(name, PASSWORD)
        target = tmp_path / "mine.zip"
        size = await client.export_data(target)
        assert size == target.stat().st_size
        with zipfile.ZipFile(target) as archive:
            assert orjson.loads(archive.read("profile.json"))["username"] == name
        with pytest.raises(PigeonApiError) as limited:
            await client.export_data(tmp_path / "again.zip")
        assert limited.value.code == EXPORT_RATE_LIMITED
        with pytest.raises(PigeonApiError) as refused:
            await client.delete_account("a wrong password")
        assert refused.value.code == BAD_CREDENTIALS
        assert (await client.me())["deleted"] is False
        await client.delete_account(PASSWORD)
        with pytest.raises(PigeonApiError) as gone:
            await client.login(name, PASSWORD)
        assert gone.value.code == BAD_CREDENTIALS
