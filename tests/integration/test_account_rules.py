"""Account-facing rules against a real server: user search bounds, device names,
avatars limited to uploaded images, and the stored-messages metric."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from harness import ServerProcess, unique_name

from .wsclient import (
    Account,
    Rest,
    WsClient,
    direct,
    eventually,
    login,
    register,
)

QUERY_TOO_SHORT, AVATAR_NOT_UPLOADED, FILE_NOT_FOUND = 40032, 40033, 40404
MIN_CHARS, MAX_RESULTS = 3, 2


@pytest.fixture(scope="module")
def rules_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("rules"),
        {
            "PIGEON_USER_SEARCH_MIN_CHARS": str(MIN_CHARS),
            "PIGEON_USER_SEARCH_MAX_RESULTS": str(MAX_RESULTS),
            # collect unreferenced uploads quickly, to show avatars are kept; still long
            # enough that an upload is used (a request or two later) before it expires,
            # even when a loaded machine makes each request take a second or more
            "PIGEON_UNREFERENCED_FILE_TTL_S": "5",
            "PIGEON_FILE_GC_INTERVAL_S": "0.2",
        },
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rest(http: aiohttp.ClientSession, rules_server: ServerProcess) -> Rest:
    return Rest(http, rules_server)


# --- user search


async def test_user_search_needs_a_minimum_query(rest: Rest) -> None:
    me = await register(rest)
    for short in ("", "a", "ab", "  ab  "):
        reply = await rest.fails(
            "GET", "users", 400, QUERY_TOO_SHORT, token=me.access, params={"q": short}
        )
        assert reply.body["data"] == {"min_chars": MIN_CHARS}
    prefix = unique_name("s")[:MIN_CHARS]
    found = await rest.ok("GET", "users", token=me.access, params={"q": prefix})
    assert isinstance(found["items"], list)
    config = await rest.ok("GET", "config")
    assert config["limits"]["user_search_min_chars"] == MIN_CHARS
    assert config["limits"]["user_search_max_results"] == MAX_RESULTS


async def test_cjk_queries_of_the_minimum_length_work(rest: Rest) -> None:
    me = await register(rest)
    found = await rest.ok("GET", "users", token=me.access, params={"q": "张三丰"})
    assert isinstance(found["items"], list)


async def test_user_search_returns_at_most_the_cap(rest: Rest) -> None:
    prefix = unique_name("cap")
    accounts = [await register(rest, prefix) for _ in range(MAX_RESULTS + 2)]
    found = await rest.ok(
        "GET", "users", token=accounts[0].access, params={"q": prefix, "limit": 100}
    )
    assert len(found["items"]) == MAX_RESULTS
    assert found["more"] is True
    one = await rest.ok("GET", "users", token=accounts[0].access, params={"q": prefix, "limit": 1})
    assert len(one["items"]) == 1


# --- devices: the login's name everywhere


async def _ready(http: aiohttp.ClientSession, server: ServerProcess, auth: dict[str, Any]) -> Any:
    client = await WsClient.open(http, server)
    try:
        return await client.request({"t": "auth", **auth}, reply="ready")
    finally:
        await client.close()


async def test_the_device_is_the_logins_name_on_every_path(
    rest: Rest, http: aiohttp.ClientSession, rules_server: ServerProcess
) -> None:
    phone = await register(rest, device="phone")
    unnamed = await login(rest, phone)
    assert unnamed.device  # generated when the login gave none

    ready = await _ready(http, rules_server, {"token": phone.access, "device": "tablet"})
    assert ready["device"] == "phone"  # an auth frame's device is ignored
    ready = await _ready(http, rules_server, {"token": unnamed.access, "device": "tablet"})
    assert ready["device"] == unnamed.device

    listed = await rest.ok("GET", "users/me/devices", token=phone.access)
    assert sorted(d["device"] for d in listed["items"]) == sorted(["phone", unnamed.device])

    await rest.ok("DELETE", f"users/me/devices/{unnamed.device}", token=phone.access)
    listed = await rest.ok("GET", "users/me/devices", token=phone.access)
    assert [d["device"] for d in listed["items"]] == ["phone"]
    await rest.fails("GET", "users/me", 401, 40104, token=unnamed.access)


# --- avatars: only images the user uploaded


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def _upload(rest: Rest, account: Account, content: bytes, name: str) -> Any:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=name)
    async with rest.http.post(
        rest.server.base_url + "/api/v1/files",
        data=form,
        headers={"Authorization": f"Bearer {account.access}"},
    ) as response:
        body = await response.json()
        assert response.status == 201, body
        return body["data"]


@pytest.mark.parametrize(
    "avatar",
    [
        "https://tracker.example/pixel.png",
        "http://127.0.0.1/api/v1/files/x/content",
        "//evil.example/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "f_doesnotexist",
        "/api/v1/avatars/f_doesnotexist",
        "",
        "x" * 3000,
    ],
)
async def test_an_avatar_must_be_an_uploaded_image(rest: Rest, avatar: str) -> None:
    me = await register(rest)
    await rest.fails(
        "PATCH", "users/me", 400, AVATAR_NOT_UPLOADED, token=me.access, json={"avatar": avatar}
    )
    assert (await rest.ok("GET", "users/me", token=me.access))["avatar"] is None


async def test_someone_elses_image_or_a_non_image_is_refused(rest: Rest) -> None:
    me, other = await register(rest), await register(rest)
    theirs = await _upload(rest, other, _png(), "theirs.png")
    text = await _upload(rest, me, b"just text", "notes.txt")
    for file_id in (theirs["id"], text["id"]):
        await rest.fails(
            "PATCH", "users/me", 400, AVATAR_NOT_UPLOADED, token=me.access, json={"avatar": file_id}
        )


async def test_an_uploaded_image_becomes_a_server_avatar_url(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    me, viewer = await register(rest), await register(rest)
    image = await _upload(rest, me, _png(), "me.png")
    changed = await rest.ok("PATCH", "users/me", token=me.access, json={"avatar": image["id"]})
    avatar = changed["avatar"]
    assert avatar == f"/api/v1/avatars/{image['id']}"
    seen = await rest.ok("GET", f"users/{me.id}", token=viewer.access)
    assert seen["avatar"] == avatar
    # What the server returned is accepted back, absolute or not.
    for again in (avatar, rest.server.base_url + avatar):
        kept = await rest.ok("PATCH", "users/me", token=me.access, json={"avatar": again})
        assert kept["avatar"] == avatar
    # Anyone can show it (an <img> sends no token): a redirect to a signed link.
    async with http.get(rest.server.base_url + avatar) as shown:
        assert shown.status == 200
        assert shown.headers["Content-Type"].startswith("image/")
        assert re.search(r"/api/v1/files/[^/]+/(thumbnail|content)\?", str(shown.url))
        assert await shown.read()


async def test_only_current_avatars_are_served(rest: Rest, http: aiohttp.ClientSession) -> None:
    me = await register(rest)
    image = await _upload(rest, me, _png(), "not-avatar.png")
    async with http.get(f"{rest.server.base_url}/api/v1/avatars/{image['id']}") as response:
        assert response.status == 404
        assert (await response.json())["code"] == FILE_NOT_FOUND
    await rest.ok("PATCH", "users/me", token=me.access, json={"avatar": image["id"]})
    await rest.ok("PATCH", "users/me", token=me.access, json={"avatar": None})
    async with http.get(f"{rest.server.base_url}/api/v1/avatars/{image['id']}") as response:
        assert response.status == 404


async def test_a_group_avatar_is_an_image_its_setter_uploaded(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    owner, member = await register(rest), await register(rest)
    group = await rest.ok(
        "POST",
        "groups",
        status=201,
        token=owner.access,
        json={"title": "Pictures", "members": [member.id]},
    )
    path = f"groups/{group['id']}"
    theirs = await _upload(rest, member, _png(), "theirs.png")
    for refused in ("https://img.example/a.png", theirs["id"]):
        await rest.fails(
            "PATCH", path, 400, AVATAR_NOT_UPLOADED, token=owner.access, json={"avatar": refused}
        )
    assert (await rest.ok("GET", path, token=owner.access))["avatar"] is None
    mine = await _upload(rest, owner, _png(), "group.png")
    changed = await rest.ok("PATCH", path, token=owner.access, json={"avatar": mine["id"]})
    assert changed["avatar"] == f"/api/v1/avatars/{mine['id']}"
    async with http.get(rest.server.base_url + changed["avatar"]) as shown:
        assert shown.status == 200
        assert shown.headers["Content-Type"].startswith("image/")


async def test_an_avatar_is_not_collected_as_an_unused_upload(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    me = await register(rest)
    kept = await _upload(rest, me, _png(), "avatar.png")
    await rest.ok("PATCH", "users/me", token=me.access, json={"avatar": kept["id"]})
    dropped = await _upload(rest, me, _png() + b"\0", "spare.png")

    async def spare_collected() -> bool:
        reply = await rest.call("GET", f"files/{dropped['id']}", token=me.access)
        return reply.status == 404

    await eventually(spare_collected, timeout=30, what="unused upload collected")
    described = await rest.call("GET", f"files/{kept['id']}", token=me.access)
    assert described.status == 200
    async with http.get(rest.server.base_url + f"/api/v1/avatars/{kept['id']}") as shown:
        assert shown.status == 200


# --- metrics


def _stored_total(text: str) -> float:
    match = re.search(r"^pigeon_messages_stored_total (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


async def test_a_retried_send_is_not_counted_as_stored(rest: Rest) -> None:
    alice, bob = await register(rest), await register(rest)
    conv = await direct(rest, alice, bob)
    before = _stored_total((await rest.call("GET", "/metrics")).text)
    cid = unique_name("cid")
    path = f"conversations/{conv}/messages"
    body = {"kind": "text", "body": {"text": "once"}, "cid": cid}
    first = await rest.ok("POST", path, token=alice.access, json=body)
    for _ in range(3):
        again = await rest.call("POST", path, token=alice.access, json=body)
        assert again.status in (200, 201), again.text
        assert again.data["seq"] == first["seq"]
    after = _stored_total((await rest.call("GET", "/metrics")).text)
    assert after - before == 1
