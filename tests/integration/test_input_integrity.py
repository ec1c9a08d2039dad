"""Hostile input at every edge, on SQLite and PostgreSQL, over REST and WebSocket.

Every case is answered with its documented 4xx code (never a 500 or a dropped
connection) and never disturbs other users: a NUL that PostgreSQL cannot store
used to fail the whole group commit, and with it everyone's sends.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .backends import BACKENDS, serve_on
from .people import create_group
from .wsclient import Account, Rest, WsClient, connect, direct, history, register

BAD_REQUEST, INVALID_CHARACTERS, BLANK_TEXT = 40000, 40006, 40007
INVALID_CURSOR, NUMBER_OUT_OF_RANGE = 40008, 40009


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module: every test runs against both."""
    yield from serve_on(request.param, tmp_path_factory, "integrity")


@pytest.fixture
def rest(http: aiohttp.ClientSession, backend_server: ServerProcess) -> Rest:
    return Rest(http, backend_server)


async def _ws(rest: Rest, account: Account) -> WsClient:
    client, _ = await connect(rest.http, rest.server, account)
    return client


async def _pair(rest: Rest) -> tuple[Account, Account, str]:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    return alice, bob, await direct(rest, alice, bob)


def _send_frame(conv: str, cid: str, body: dict[str, Any], kind: str = "text") -> dict[str, Any]:
    return {"t": "send", "cid": cid, "conv": conv, "kind": kind, "body": body}


# --- 1. one bad message fails no one else's batch


async def test_nul_cids_get_4xx_and_nobody_elses_send_fails(rest: Rest) -> None:
    attacker, victim, attacked_conv = await _pair(rest)
    pairs = [await _pair(rest) for _ in range(4)]
    attacker_ws = await _ws(rest, attacker)
    senders = [await _ws(rest, a) for a, _, _ in pairs]
    rounds = 15

    async def attack() -> list[int]:
        codes = []
        for i in range(rounds):
            frame = _send_frame(attacked_conv, f"nul\x00{i}", {"text": "boom"})
            codes.append((await attacker_ws.request(frame))["code"])
            reply = await rest.call(
                "POST",
                f"conversations/{attacked_conv}/messages",
                token=attacker.access,
                json={"cid": f"rest\x00{i}", "kind": "text", "body": {"text": "boom"}},
            )
            codes.append(reply.code)
        return codes

    async def chat(client: WsClient, conv: str) -> list[str]:
        return [
            (await client.request(_send_frame(conv, unique_name("c"), {"text": f"m{i}"})))["t"]
            for i in range(rounds)
        ]

    codes, *answers = await asyncio.gather(
        attack(), *(chat(ws, conv) for ws, (_, _, conv) in zip(senders, pairs, strict=True))
    )
    assert codes == [INVALID_CHARACTERS] * (2 * rounds)
    assert answers == [["ack"] * rounds] * len(pairs)
    for client in (attacker_ws, *senders):
        await client.barrier()  # every connection is still open and answering
        await client.close()
    assert (await history(rest, victim, attacked_conv))["items"] == []


async def test_nul_inside_a_message_body_is_refused_on_both_transports(rest: Rest) -> None:
    alice, bob, conv = await _pair(rest)
    alice_ws = await _ws(rest, alice)
    bodies = [{"text": "a\x00b"}, {"text": "fine", "meta": {"k\x00": "v"}}, {"text": "ok\ud800"}]
    for body in bodies[:2]:
        error = await alice_ws.request(_send_frame(conv, unique_name("c"), body))
        assert error["code"] == INVALID_CHARACTERS
        await rest.fails(
            "POST",
            f"conversations/{conv}/messages",
            400,
            INVALID_CHARACTERS,
            token=alice.access,
            json={"cid": unique_name("c"), "kind": "text", "body": body},
        )
    # A lone surrogate cannot even be written by a strict JSON encoder: send it escaped.
    raw = '{"cid": "c1", "kind": "text", "body": {"text": "ok\\ud800"}}'
    await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        400,
        INVALID_CHARACTERS,
        token=alice.access,
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    await alice_ws.send_raw(raw.replace('"cid"', '"t": "send", "conv": "' + conv + '", "cid"'))
    await alice_ws.barrier()  # refused or not decodable: the socket stays open either way
    # tab and line breaks are what message text is made of
    ack = await alice_ws.request(_send_frame(conv, unique_name("c"), {"text": "a\tb\nc\r\n"}))
    assert ack["t"] == "ack"
    items = (await history(rest, bob, conv))["items"]
    assert [m["body"]["text"] for m in items] == ["a\tb\nc\r\n"]
    await alice_ws.close()


# --- every other text field


async def test_every_text_field_refuses_nul_with_the_same_code(rest: Rest) -> None:
    alice, bob, _ = await _pair(rest)
    group = await create_group(rest, alice, [bob])
    gid = group["id"]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "auth/register", {"username": "x\x00y", "password": "long enough pw"}),
        ("POST", "auth/login", {"username": alice.username, "password": "p", "device": "d\x00"}),
        ("POST", "auth/refresh", {"refresh_token": "t\x00"}),
        ("PATCH", "users/me", {"display_name": "Al\x00ice"}),
        ("PATCH", "users/me", {"avatar": "f_\x00"}),
        ("POST", "conversations/direct", {"user_id": "u_\x00"}),
        ("POST", "groups", {"title": "t\x00"}),
        ("POST", "groups", {"title": "ok", "members": ["u_\x00"]}),
        ("PATCH", f"groups/{gid}", {"title": "t\x00"}),
        ("PATCH", f"groups/{gid}", {"announcement": "hello\x00"}),
        ("POST", f"groups/{gid}/members", {"user_ids": ["u_\x00"]}),
        ("POST", f"groups/{gid}/transfer", {"user_id": "u_\x00"}),
        ("POST", "friends/requests", {"user_id": bob.id, "note": "hi\x00"}),
    ]
    for method, path, body in cases:
        token = None if path.startswith("auth/") else alice.access
        await rest.fails(method, path, 400, INVALID_CHARACTERS, token=token, json=body)
    for path in ("users/u_%00", f"groups/{gid}%00", "users/me/devices/d%00x", "friends/u%0A"):
        for method in ("GET", "DELETE"):
            await rest.fails(method, path, 400, INVALID_CHARACTERS, token=alice.access)
    for params in ({"q": "a\x00b"}, {"q": "a\u2028b"}):
        await rest.fails("GET", "users", 400, INVALID_CHARACTERS, token=alice.access, params=params)
        await rest.fails(
            "GET", "groups", 400, INVALID_CHARACTERS, token=alice.access, params=params
        )
    assert (await rest.ok("GET", "users/me", token=alice.access))["display_name"] != "Al\x00ice"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("evil\u202egnp.exe", INVALID_CHARACTERS),
        ("left\u2066isolate", INVALID_CHARACTERS),
        ("two\nlines", INVALID_CHARACTERS),
        ("", BLANK_TEXT),
        ("   ", BLANK_TEXT),
        ("\u200b\u200d", BLANK_TEXT),
        ("\ufeff\u2060 ", BLANK_TEXT),
    ],
)
async def test_names_refuse_bidi_controls_and_blanks(rest: Rest, name: str, code: int) -> None:
    alice = await register(rest)
    token = alice.access
    await rest.fails("PATCH", "users/me", 400, code, token=token, json={"display_name": name})
    await rest.fails("POST", "groups", 400, code, token=token, json={"title": name})
    body = {"username": unique_name("r"), "password": "long enough pw", "display_name": name}
    await rest.fails("POST", "auth/register", 400, code, json=body)
    login = {"username": alice.username, "password": alice.password, "device": name}
    await rest.fails("POST", "auth/login", 400, code if name else BAD_REQUEST, json=login)
    if name:  # a WebSocket device name follows the same rule
        client = await WsClient.open(rest.http, rest.server)
        answer = await client.request({"t": "auth", "token": token, "device": name})
        assert answer["code"] == code
        await client.close()


async def test_file_names_and_tus_metadata_follow_the_name_rule(rest: Rest) -> None:
    alice = await register(rest)
    auth = {"Authorization": f"Bearer {alice.access}"}
    # written by hand so the filename reaches the server exactly as given
    form = (
        '--b\r\nContent-Disposition: form-data; name="file"; filename="evil\u202egnp.exe"\r\n'
        "Content-Type: application/octet-stream\r\n\r\ndata\r\n--b--\r\n"
    ).encode()
    async with rest.http.post(
        rest.server.base_url + "/api/v1/files",
        data=form,
        headers={**auth, "Content-Type": "multipart/form-data; boundary=b"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["code"] == INVALID_CHARACTERS
    for name, code in (("a\x00b", INVALID_CHARACTERS), ("\u200b", BLANK_TEXT)):
        metadata = f"filename {base64.b64encode(name.encode()).decode()}"
        headers = {
            **auth,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "4",
            "Upload-Metadata": metadata,
        }
        async with rest.http.post(
            rest.server.base_url + "/api/v1/uploads/", headers=headers
        ) as response:
            assert response.status == 400
            assert (await response.json())["code"] == code
    headers = {**auth, "Tus-Resumable": "1.0.0", "Upload-Length": "²"}
    async with rest.http.post(rest.server.base_url + "/api/v1/uploads/", headers=headers) as r:
        assert r.status == 400  # a digit to str.isdigit, not to int()
    link = rest.server.base_url + "/api/v1/files/f_1/content"
    async with rest.http.get(link, params={"exp": "²", "sig": "x"}) as response:
        assert response.status == 403
        assert (await response.json())["code"] == 40311  # FILE_URL_INVALID, not a 500
    async with rest.http.get(link + "%00", headers=auth) as response:
        assert response.status == 400
        assert (await response.json())["code"] == INVALID_CHARACTERS


# --- 2. recall removes the text of every edit


async def test_recall_leaves_no_edited_text_in_history_pull_or_sync(rest: Rest) -> None:
    alice, bob, conv = await _pair(rest)
    alice_ws, bob_ws = await _ws(rest, alice), await _ws(rest, bob)
    sent = await alice_ws.send_text(conv, "original words")
    for text_ in ("edited secret one", "edited secret two"):
        edit = _send_frame(conv, unique_name("e"), {"seq": sent["seq"], "text": text_}, "edit")
        assert (await alice_ws.request(edit))["t"] == "ack"
    recall = _send_frame(conv, unique_name("r"), {"seq": sent["seq"]}, "recall")
    assert (await alice_ws.request(recall))["t"] == "ack"
    seen = [
        await history(rest, bob, conv),
        await bob_ws.pull(conv, after=0),
        await rest.ok("GET", "conversations", token=bob.access),
    ]
    sync = await bob_ws.sync()
    assert [c["conv"] for c in sync["convs"]] == [conv]
    for answer in seen:
        assert "secret" not in repr(answer)
        assert "original words" not in repr(answer)
    items = seen[0]["items"]
    assert items[0]["recalled"] is True
    edits = [(m["recalled"], m["body"]) for m in items if m["kind"] == "edit"]
    assert edits == [(True, {})] * 2
    await alice_ws.close()
    await bob_ws.close()


# --- 3. crafted cursors and numbers


async def test_crafted_sync_cursors_are_invalid_cursor_and_the_socket_stays(rest: Rest) -> None:
    client = await _ws(rest, await register(rest))
    for cursor in ("9999999999999999999", "²", "٣", "1" * 200, "-1"):
        answer = await client.request({"t": "sync", "cursor": cursor})
        assert (answer["t"], answer["code"]) == ("error", INVALID_CURSOR), cursor
    await client.barrier()
    assert (await client.sync())["t"] == "sync"
    await client.close()


async def test_crafted_list_cursors_and_numbers_get_4xx(rest: Rest) -> None:
    alice, bob, _ = await _pair(rest)
    gid = (await create_group(rest, alice, [bob]))["id"]
    token = alice.access
    for cursor in ("1.99999999999999999999999.x", "0.².c_1", "1.5.c\u200b"):
        params = {"cursor": cursor}
        await rest.fails("GET", "conversations", 400, INVALID_CURSOR, token=token, params=params)
    for cursor in ("99999999999999999999.u", "²³.u_1", "5.u\u00a0x"):
        params = {"cursor": cursor}
        await rest.fails(
            "GET", f"groups/{gid}/members", 400, INVALID_CURSOR, token=token, params=params
        )
    member = f"groups/{gid}/members/{bob.id}"
    for until in (2**63, 2**64 + 1, 2**53, -1):  # written by hand: beyond what orjson encodes
        await rest.fails(
            "PATCH",
            member,
            400,
            NUMBER_OUT_OF_RANGE,
            token=token,
            data=f'{{"muted_until": {until}}}',
            headers={"Content-Type": "application/json"},
        )
    assert (await rest.ok("PATCH", member, token=token, json={"muted_until": 2**53 - 1}))[
        "muted_until"
    ] == 2**53 - 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_json_numbers_are_refused_everywhere(rest: Rest, constant: str) -> None:
    alice, bob, conv = await _pair(rest)
    gid = (await create_group(rest, alice, [bob]))["id"]
    json_header = {"Content-Type": "application/json"}
    bodies = [
        ("POST", f"conversations/{conv}/messages",
         f'{{"cid": "c1", "kind": "text", "body": {{"text": "x", "n": {constant}}}}}'),
        ("POST", f"conversations/{conv}/messages",
         f'{{"cid": "c2", "kind": "text", "body": {{"text": "x"}}, "reply_to": {constant}}}'),
        ("PUT", f"conversations/{conv}/read", f'{{"seq": {constant}}}'),
        ("PATCH", f"groups/{gid}/members/{bob.id}", f'{{"muted_until": {constant}}}'),
        ("PATCH", "users/me", f'{{"display_name": "x", "extra": [{constant}]}}'),
    ]  # fmt: skip
    for method, path, raw in bodies:
        await rest.fails(
            method, path, 400, NUMBER_OUT_OF_RANGE, token=alice.access, data=raw,
            headers=json_header,
        )  # fmt: skip
    assert (await history(rest, bob, conv))["items"] == []


async def test_a_reply_to_outside_the_seq_range_gets_one_code_on_both_transports(
    rest: Rest,
) -> None:
    """Seqs start at 1: ``reply_to`` 0, a negative or an oversized one is 40009 everywhere."""
    alice, bob, conv = await _pair(rest)
    alice_ws = await _ws(rest, alice)
    for reply_to in (0, -1, 2**53):
        cid = unique_name("c")
        frame = {**_send_frame(conv, cid, {"text": "x"}), "reply_to": reply_to}
        assert (await alice_ws.request(frame))["code"] == NUMBER_OUT_OF_RANGE
        await rest.fails(
            "POST",
            f"conversations/{conv}/messages",
            400,
            NUMBER_OUT_OF_RANGE,
            token=alice.access,
            json={"cid": cid, "kind": "text", "body": {"text": "x"}, "reply_to": reply_to},
        )
    assert (await history(rest, bob, conv))["items"] == []


# --- 4. non-ASCII query strings


@pytest.mark.parametrize("prefix", ["北京", "東京", "🐦鸽", "Zoë"])
async def test_search_finds_non_ascii_names(rest: Rest, prefix: str) -> None:
    found_user = await register(rest)
    display = f"{prefix}用户{secrets.token_hex(2)}"
    await rest.ok("PATCH", "users/me", token=found_user.access, json={"display_name": display})
    title = f"{prefix}の部屋 {secrets.token_hex(2)}"
    group = await create_group(rest, found_user, title=title, visibility="public")
    searcher = await register(rest)
    for query in (prefix, display):
        users = await rest.ok(
            "GET", "users", token=searcher.access, params={"q": query, "limit": 100}
        )
        assert found_user.id in [u["id"] for u in users["items"]], query
    for query in (prefix, title[-6:]):
        groups = await rest.ok(
            "GET", "groups", token=searcher.access, params={"q": query, "limit": 100}
        )
        assert group["id"] in [g["id"] for g in groups["items"]], query
