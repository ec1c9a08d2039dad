"""The REST API against a real server: envelope, users, conversations, history, send, read."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .wsclient import (
    Account,
    Rest,
    assert_error,
    connect,
    direct,
    history,
    register,
    send_rest,
)

BAD_REQUEST, NOT_AUTHENTICATED, NOT_FOUND = 40000, 40100, 40400
USER_NOT_FOUND, CONVERSATION_NOT_FOUND, MESSAGE_NOT_FOUND = 40401, 40402, 40403
INVALID_BODY, TOO_LARGE, MESSAGE_TOO_LARGE = 40003, 41300, 41301
BLANK_TEXT, INVALID_CURSOR, NUMBER_OUT_OF_RANGE = 40007, 40008, 40009


async def _pair(rest: Rest) -> tuple[Account, Account, str]:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    return alice, bob, await direct(rest, alice, bob)


async def _fill(rest: Rest, sender: Account, conv: str, count: int) -> None:
    for n in range(1, count + 1):
        await send_rest(rest, sender, conv, f"m{n}", unique_name("fill"))


def _seqs(page: dict[str, Any]) -> list[int]:
    return [item["seq"] for item in page["items"]]


# --- discovery and the envelope


async def test_config_needs_no_auth_and_points_at_the_websocket(
    rest: Rest, shared_server: ServerProcess
) -> None:
    config = await rest.ok("GET", "config")
    assert config["ws_url"] == shared_server.ws_url
    assert isinstance(config["version"], str)
    assert isinstance(config["features"], list)
    for limit in (
        "max_frame_bytes",
        "max_text_chars",
        "max_body_bytes",
        "max_upload_bytes",
        "max_group_members",
        "recall_window_s",
        "send_rate_per_s",
    ):
        assert isinstance(config["limits"][limit], int | float), limit


async def test_unknown_path_is_a_404_envelope(rest: Rest) -> None:
    await rest.fails("GET", "no/such/thing", 404, NOT_FOUND)


async def test_malformed_json_is_a_400_envelope(rest: Rest) -> None:
    account = await register(rest)
    for data in (b"{not json", b"", b"[1, 2", b"\xff\xfe"):
        await rest.fails(
            "POST",
            "auth/login",
            400,
            BAD_REQUEST,
            data=data,
            headers={"Content-Type": "application/json"},
        )
    await rest.fails(
        "PATCH",
        "users/me",
        400,
        BAD_REQUEST,
        data=b'{"display_name": ',
        token=account.access,
        headers={"Content-Type": "application/json"},
    )


async def test_a_body_over_the_request_limit_is_413(rest: Rest) -> None:
    account = await register(rest)
    huge = {"username": "x" * (1024 * 1024 + 10), "password": "y"}
    await rest.fails("POST", "auth/login", 413, TOO_LARGE, json=huge)
    await rest.fails("PATCH", "users/me", 413, TOO_LARGE, json=huge, token=account.access)


async def test_hostile_query_values_get_envelopes_not_crashes(rest: Rest) -> None:
    alice, _, conv = await _pair(rest)
    path = f"conversations/{conv}/messages"
    for params in (
        {"before": "-1"},
        {"after": "x"},
        {"limit": "0"},
        {"after": str(2**64)},
        {"limit": "ten"},
    ):
        await rest.fails("GET", path, 400, BAD_REQUEST, token=alice.access, params=params)
    await rest.fails(
        "GET", "conversations", 400, BAD_REQUEST, token=alice.access, params={"cursor": "9" * 300}
    )  # longer than any cursor: refused by the schema
    for cursor in ("garbage", "1.2", "1.x.c_1"):
        await rest.fails(
            "GET",
            "conversations",
            400,
            INVALID_CURSOR,
            token=alice.access,
            params={"cursor": cursor},
        )


# --- users


async def test_profile_read_and_update(rest: Rest) -> None:
    account = await register(rest)
    me = await rest.ok("GET", "users/me", token=account.access)
    assert me == {
        "id": account.id,
        "username": account.username,
        "display_name": account.username,
        "avatar": None,
        "bot": False,
        "deleted": False,
        "dm_policy": "anyone",
        "admin": False,
    }
    changed = await rest.ok(
        "PATCH",
        "users/me",
        token=account.access,
        json={"display_name": "  Grace H.  "},
    )
    assert changed["display_name"] == "Grace H."
    assert changed["avatar"] is None
    changed = await rest.ok(
        "PATCH", "users/me", token=account.access, json={"dm_policy": "friends"}
    )
    assert changed["dm_policy"] == "friends"
    assert changed["display_name"] == "Grace H."
    changed = await rest.ok("PATCH", "users/me", token=account.access, json={"avatar": None})
    assert changed["avatar"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"dm_policy": "nobody"}, BAD_REQUEST),
        ({"display_name": "   "}, BLANK_TEXT),
        ({"display_name": "n" * 65}, BAD_REQUEST),
    ],
)
async def test_invalid_profile_changes_are_400(rest: Rest, body: dict[str, Any], code: int) -> None:
    account = await register(rest)
    await rest.fails("PATCH", "users/me", 400, code, token=account.access, json=body)
    me = await rest.ok("GET", "users/me", token=account.access)
    assert me["display_name"] == account.username
    assert me["dm_policy"] == "anyone"


async def test_user_by_id_is_public(rest: Rest) -> None:
    alice, bob = await register(rest), await register(rest)
    seen = await rest.ok("GET", f"users/{bob.id}", token=alice.access)
    assert seen == {
        "id": bob.id,
        "username": bob.username,
        "display_name": bob.username,
        "avatar": None,
        "bot": False,
        "deleted": False,
    }
    await rest.fails("GET", "users/u_nobody", 404, USER_NOT_FOUND, token=alice.access)


async def test_user_search_by_prefix_with_limit(rest: Rest) -> None:
    prefix = unique_name("srch")
    accounts = [await register(rest, prefix) for _ in range(3)]
    found = await rest.ok("GET", "users", token=accounts[0].access, params={"q": prefix})
    assert {u["id"] for u in found["items"]} == {a.id for a in accounts}
    assert found["more"] is False
    page = await rest.ok("GET", "users", token=accounts[0].access, params={"q": prefix, "limit": 2})
    assert len(page["items"]) == 2
    assert page["more"] is True
    upper = await rest.ok("GET", "users", token=accounts[0].access, params={"q": prefix.upper()})
    assert len(upper["items"]) == 3
    none = await rest.ok("GET", "users", token=accounts[0].access, params={"q": unique_name("zz")})
    assert none == {"items": [], "cursor": None, "more": False}


# --- conversations


async def test_direct_conversation_is_idempotent_from_both_sides(rest: Rest) -> None:
    alice, bob = await register(rest), await register(rest)
    first = await rest.ok(
        "POST", "conversations/direct", token=alice.access, json={"user_id": bob.id}
    )
    again = await rest.ok(
        "POST", "conversations/direct", token=alice.access, json={"user_id": bob.id}
    )
    other = await rest.ok(
        "POST", "conversations/direct", token=bob.access, json={"user_id": alice.id}
    )
    assert first["id"] == again["id"] == other["id"]
    assert first["kind"] == "direct"
    assert first["member_count"] == 2
    assert first["peer"]["id"] == bob.id
    assert other["peer"]["id"] == alice.id
    assert first["last_seq"] == 0
    assert first["last_message"] is None
    assert first["unread"] == 0
    await rest.fails(
        "POST",
        "conversations/direct",
        404,
        USER_NOT_FOUND,
        token=alice.access,
        json={"user_id": "u_none"},
    )


async def test_conversation_list_reports_last_message_unread_and_watermarks(rest: Rest) -> None:
    alice, bob, conv = await _pair(rest)
    await send_rest(rest, bob, conv, "b1", "b1")
    await send_rest(rest, bob, conv, "b2", "b2")
    await send_rest(rest, alice, conv, "a1", "a1")  # sending reads everything before it
    await send_rest(rest, bob, conv, "b3", "b3")

    [mine] = (await rest.ok("GET", "conversations", token=alice.access))["items"]
    assert mine["id"] == conv
    assert mine["kind"] == "direct"
    assert mine["last_seq"] == 4
    assert mine["read_seq"] == 3
    assert mine["unread"] == 1
    assert mine["last_message"]["seq"] == 4
    assert mine["last_message"]["body"] == {"text": "b3"}
    assert mine["last_message"]["from"] == bob.id
    assert mine["peer"]["id"] == bob.id
    assert mine["pinned"] is False
    assert mine["muted"] is False

    [theirs] = (await rest.ok("GET", "conversations", token=bob.access))["items"]
    # bob's own send of b3 moved his read mark past alice's a1
    assert theirs["read_seq"] == 4
    assert theirs["unread"] == 0

    marked = await rest.ok("PUT", f"conversations/{conv}/read", token=alice.access, json={"seq": 4})
    assert marked == {"conv": conv, "read_seq": 4, "recv_seq": 4}
    [mine] = (await rest.ok("GET", "conversations", token=alice.access))["items"]
    assert mine["read_seq"] == 4
    assert mine["unread"] == 0


async def test_unread_counts_only_others_messages(rest: Rest) -> None:
    alice, bob, conv = await _pair(rest)
    for n in range(3):
        await send_rest(rest, alice, conv, f"a{n}", unique_name())
    [bobs] = (await rest.ok("GET", "conversations", token=bob.access))["items"]
    [alices] = (await rest.ok("GET", "conversations", token=alice.access))["items"]
    assert bobs["unread"] == 3
    assert bobs["read_seq"] == 0
    assert alices["unread"] == 0
    assert alices["read_seq"] == 3


async def test_conversation_list_puts_pinned_first_then_latest_activity(rest: Rest) -> None:
    me = await register(rest)
    peers = [await register(rest) for _ in range(4)]
    convs = [await direct(rest, me, peer) for peer in peers]
    for conv, peer in zip(convs, peers, strict=True):  # activity in list order: last is newest
        await send_rest(rest, peer, conv, "hi", unique_name())
    await rest.ok("PATCH", f"conversations/{convs[0]}", token=me.access, json={"pinned": True})
    await rest.ok("PATCH", f"conversations/{convs[2]}", token=me.access, json={"muted": True})

    listed = (await rest.ok("GET", "conversations", token=me.access))["items"]
    assert next(c["id"] for c in listed) == convs[0]
    assert listed[0]["pinned"] is True
    keys = [(c["pinned"], c["last_ts"], c["id"]) for c in listed]
    assert keys == sorted(keys, reverse=True)
    assert {c["id"] for c in listed} == set(convs)
    assert next(c for c in listed if c["id"] == convs[2])["muted"] is True

    paged: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        page = await rest.ok("GET", "conversations", token=me.access, params=params)
        paged += [c["id"] for c in page["items"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
        assert cursor
    assert paged == [c["id"] for c in listed]


async def test_conversation_settings_of_a_stranger_look_like_nothing(rest: Rest) -> None:
    _, _, conv = await _pair(rest)
    stranger = await register(rest)
    one = await rest.fails(
        "PATCH",
        f"conversations/{conv}",
        404,
        CONVERSATION_NOT_FOUND,
        token=stranger.access,
        json={"pinned": True},
    )
    two = await rest.fails(
        "PATCH",
        "conversations/c_nothing",
        404,
        CONVERSATION_NOT_FOUND,
        token=stranger.access,
        json={"pinned": True},
    )
    assert one.body == two.body


# --- history


async def test_history_windows_follow_the_contract(rest: Rest) -> None:
    alice, bob, conv = await _pair(rest)
    await _fill(rest, alice, conv, 10)

    latest = await history(rest, bob, conv, limit=3)
    assert _seqs(latest) == [8, 9, 10]
    assert latest["more"] is True
    everything = await history(rest, bob, conv)
    assert _seqs(everything) == list(range(1, 11))
    assert everything["more"] is False

    before = await history(rest, bob, conv, before=6, limit=3)
    assert _seqs(before) == [3, 4, 5]
    assert before["more"] is True
    oldest = await history(rest, bob, conv, before=3, limit=3)
    assert _seqs(oldest) == [1, 2]
    assert oldest["more"] is False
    nothing_older = await history(rest, bob, conv, before=1)
    assert nothing_older["items"] == []
    assert nothing_older["more"] is False

    after = await history(rest, bob, conv, after=4, limit=3)
    assert _seqs(after) == [5, 6, 7]
    assert after["more"] is True
    newest = await history(rest, bob, conv, after=7, limit=3)
    assert _seqs(newest) == [8, 9, 10]
    assert newest["more"] is False
    beyond = await history(rest, bob, conv, after=10)
    assert beyond["items"] == []
    assert beyond["more"] is False

    item = everything["items"][0]
    assert item["conv"] == conv
    assert item["from"] == alice.id
    assert item["kind"] == "text"
    assert item["body"] == {"text": "m1"}
    assert isinstance(item["ts"], int)
    assert item["cid"]
    assert isinstance(item["id"], str)


async def test_history_limit_is_capped_by_the_server(rest: Rest) -> None:
    alice, _, conv = await _pair(rest)
    await _fill(rest, alice, conv, 3)
    page = await history(rest, alice, conv, limit=10_000)
    assert _seqs(page) == [1, 2, 3]
    assert page["more"] is False


# --- send and read over REST


async def test_rest_send_dedups_by_cid_and_reaches_the_peer_socket(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    alice, bob, conv = await _pair(rest)
    bob_socket, _ = await connect(http, shared_server, bob)
    alice_socket, _ = await connect(http, shared_server, alice)
    try:
        ack = await send_rest(rest, alice, conv, "hello", "cid-1")
        assert set(ack) == {"conv", "seq", "id", "ts", "cid"}
        assert ack["conv"] == conv
        assert ack["seq"] == 1
        assert ack["cid"] == "cid-1"
        pushed = await bob_socket.expect("msg", conv=conv, seq=1)
        assert pushed["from"] == alice.id
        assert pushed["id"] == ack["id"]
        assert pushed["body"] == {"text": "hello"}
        assert pushed["cid"] == "cid-1"
        assert pushed["ts"] == ack["ts"]
        # REST is not a socket: alice's live device hears about her own message too.
        await alice_socket.expect("msg", conv=conv, seq=1)

        retry = await send_rest(rest, alice, conv, "changed body, same cid", "cid-1")
        assert retry == ack
        second = await send_rest(rest, alice, conv, "next", "cid-2")
        assert second["seq"] == 2
        await bob_socket.expect("msg", conv=conv, seq=2)
        await bob_socket.barrier()
        assert bob_socket.taken("msg") == []  # the retry was not pushed again
    finally:
        await bob_socket.close()
        await alice_socket.close()
    items = (await history(rest, bob, conv))["items"]
    assert [(m["seq"], m["body"]["text"]) for m in items] == [(1, "hello"), (2, "next")]


async def test_rest_send_validates_the_body(rest: Rest) -> None:
    alice, _, conv = await _pair(rest)
    path = f"conversations/{conv}/messages"
    cases: list[tuple[dict[str, Any], int, int]] = [
        ({"cid": "a", "kind": "text", "body": {}}, 400, INVALID_BODY),
        ({"cid": "b", "kind": "shout", "body": {"text": "x"}}, 400, INVALID_BODY),
        ({"cid": "c", "kind": "text", "body": {"text": "x" * 5000}}, 413, MESSAGE_TOO_LARGE),
        ({"cid": "d", "kind": "custom", "body": {"blob": "x" * 20_000}}, 413, MESSAGE_TOO_LARGE),
        ({"cid": "", "kind": "text", "body": {"text": "x"}}, 400, BAD_REQUEST),
        ({"cid": "e" * 65, "kind": "text", "body": {"text": "x"}}, 400, BAD_REQUEST),
        ({"cid": "f", "kind": "text", "body": "plain"}, 400, BAD_REQUEST),
        (
            {"cid": "g", "kind": "text", "body": {"text": "x"}, "reply_to": 7},
            404,
            MESSAGE_NOT_FOUND,
        ),
    ]
    for body, status, code in cases:
        await rest.fails("POST", path, status, code, token=alice.access, json=body)
    assert (await history(rest, alice, conv))["items"] == []


async def test_read_mark_only_moves_forward_and_is_pushed(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    alice, bob, conv = await _pair(rest)
    await _fill(rest, alice, conv, 5)
    alice_socket, _ = await connect(http, shared_server, alice)
    try:
        path = f"conversations/{conv}/read"
        marked = await rest.ok("PUT", path, token=bob.access, json={"seq": 3})
        assert marked == {"conv": conv, "read_seq": 3, "recv_seq": 3}
        receipt = await alice_socket.expect("receipt", conv=conv, user=bob.id)
        assert receipt["read"] == 3
        assert (await rest.ok("PUT", path, token=bob.access, json={"seq": 1}))["read_seq"] == 3
        capped = await rest.ok("PUT", path, token=bob.access, json={"seq": 99})
        assert capped["read_seq"] == 5  # never past the last message
        assert (await alice_socket.expect("receipt", conv=conv, user=bob.id))["read"] == 5
        await rest.fails("PUT", path, 400, NUMBER_OUT_OF_RANGE, token=bob.access, json={"seq": -1})
        await alice_socket.barrier()
        assert alice_socket.taken("receipt") == []  # the no-op mark pushed nothing
    finally:
        await alice_socket.close()


# --- strangers see nothing


async def test_a_stranger_gets_exactly_the_not_found_of_a_missing_conversation(rest: Rest) -> None:
    alice, _, conv = await _pair(rest)
    await send_rest(rest, alice, conv, "secret", unique_name())
    stranger = await register(rest)
    send = {"cid": unique_name(), "kind": "text", "body": {"text": "x"}}
    reply_send = {**send, "reply_to": 1}
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "conversations/{}/messages", None),
        ("POST", "conversations/{}/messages", send),
        ("POST", "conversations/{}/messages", reply_send),
        ("PUT", "conversations/{}/read", {"seq": 1}),
        ("PATCH", "conversations/{}", {"muted": True}),
    ]
    for method, template, body in calls:
        real = await rest.call(method, template.format(conv), token=stranger.access, json=body)
        missing = await rest.call(
            method, template.format("c_01doesnotexist00000000000"), token=stranger.access, json=body
        )
        assert_error(real, 404, CONVERSATION_NOT_FOUND)
        assert real.status == missing.status, (method, template)
        assert real.body == missing.body, (method, template)
    assert len((await history(rest, alice, conv))["items"]) == 1


async def test_every_conversation_route_needs_a_token(rest: Rest) -> None:
    _, _, conv = await _pair(rest)
    for method, path in (
        ("GET", f"conversations/{conv}/messages"),
        ("POST", f"conversations/{conv}/messages"),
        ("PUT", f"conversations/{conv}/read"),
        ("POST", "conversations/direct"),
        ("GET", "users"),
    ):
        await rest.fails(method, path, 401, NOT_AUTHENTICATED, json={})
