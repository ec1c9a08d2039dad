"""Server administration through a real server, on SQLite and on PostgreSQL.

Admins are made with the real `pigeon admin grant`; then the admin API works for them
and answers everyone else (and a disabled admin) 403. Group bans keep a user out of a
public group until unbanned; a deleted message reads recalled on another device after
sync; disabling closes the user's socket; stats count what the test made; every act
lands in the audit log with its actor, action and target.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .backends import BACKENDS, serve_on
from .people import create_group
from .wsclient import (
    PASSWORD,
    Account,
    Rest,
    connect,
    direct,
    eventually,
    login,
    pull_everything,
    register,
    send_rest,
)

ACCOUNT_DISABLED, NOT_ADMIN, NOT_SERVER_ADMIN, BANNED = 40301, 40305, 40350, 40351
FORBIDDEN, NOT_FOUND, INVALID_CURSOR = 40300, 40400, 40008


@pytest.fixture(scope="module", params=BACKENDS)
def admin_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_on(request.param, tmp_path_factory, "admin")


@pytest.fixture
def rest(http: aiohttp.ClientSession, admin_server: ServerProcess) -> Rest:
    return Rest(http, admin_server)


async def make_admin(rest: Rest) -> Account:
    account = await register(rest, "adm")
    status, out, err = await rest.server.cli("admin", "grant", account.username)
    assert status == 0, err
    assert f"{account.username} is a server admin" in out
    return account


async def audit(rest: Rest, admin: Account, **params: str | int) -> list[dict[str, Any]]:
    page = await rest.ok("GET", "admin/audit", token=admin.access, params=params)
    items: list[dict[str, Any]] = page["items"]
    return items


def _routes(user: str, conv: str) -> list[tuple[str, str, Any]]:
    """Every admin route, with a valid request to it."""
    reason = {"reason": "spam"}
    return [
        ("GET", "admin/stats", None),
        ("GET", "admin/users", None),
        ("POST", f"admin/users/{user}/disable", reason),
        ("POST", f"admin/users/{user}/enable", reason),
        ("POST", f"admin/users/{user}/logout", None),
        ("DELETE", f"admin/conversations/{conv}/messages/1", None),
        ("DELETE", f"admin/groups/{conv}", None),
        ("GET", f"admin/groups/{conv}/bans", None),
        ("POST", f"admin/groups/{conv}/bans/{user}", reason),
        ("DELETE", f"admin/groups/{conv}/bans/{user}", None),
        ("GET", "admin/audit", None),
    ]


async def test_only_enabled_server_admins_use_the_admin_api(rest: Rest) -> None:
    plain, victim = await register(rest), await register(rest)
    group = await create_group(rest, victim, [plain])
    routes = _routes(victim.id, group["id"])
    for method, path, body in routes:
        await rest.fails(method, path, 403, NOT_SERVER_ADMIN, token=plain.access, json=body)

    admin = await make_admin(rest)
    me = await rest.ok("GET", "users/me", token=admin.access)
    assert me["admin"] is True
    assert (await rest.ok("GET", "users/me", token=plain.access))["admin"] is False
    assert "admin" not in await rest.ok("GET", f"users/{admin.id}", token=plain.access)
    await rest.ok("GET", "admin/stats", token=admin.access)

    status, _, err = await rest.server.cli("user", "disable", admin.username)
    assert status == 0, err
    status, out, err = await rest.server.cli("admin", "audit", "--target", admin.id)
    assert status == 0, err
    acts = [line.split("\t")[2:4] for line in out.splitlines()]  # newest first
    assert acts == [["operator", "user_disabled"], ["operator", "admin_granted"]]
    for method, path, body in routes:
        await rest.fails(method, path, 403, ACCOUNT_DISABLED, token=admin.access, json=body)
    # Nothing happened to the group or the user on the way.
    assert (await rest.ok("GET", f"groups/{group['id']}", token=victim.access))["member_count"] == 2

    status, out, err = await rest.server.cli("admin", "revoke", admin.username)
    assert status == 0, err
    assert "is not a server admin" in out
    status, out, _ = await rest.server.cli("admin", "list")
    assert admin.username not in out


async def test_a_banned_user_cannot_come_back_until_unbanned(rest: Rest) -> None:
    owner, helper, bob, carol = [await register(rest, p) for p in ("own", "hlp", "bob", "car")]
    group = await create_group(rest, owner, [helper, bob, carol], visibility="public")
    conv = group["id"]
    await rest.ok(
        "PATCH", f"groups/{conv}/members/{helper.id}", token=owner.access, json={"role": "admin"}
    )

    # A plain member may not ban; an admin may not ban the owner; the admin bans bob.
    await rest.fails(
        "POST", f"groups/{conv}/bans/{bob.id}", 403, NOT_ADMIN, token=carol.access, json={}
    )
    await rest.fails(
        "POST", f"groups/{conv}/bans/{owner.id}", 403, FORBIDDEN, token=helper.access, json={}
    )
    await rest.ok(
        "POST", f"groups/{conv}/bans/{bob.id}", token=helper.access, json={"reason": "flooding"}
    )
    members = await rest.ok("GET", f"groups/{conv}/members", token=owner.access)
    assert bob.id not in {m["user"]["id"] for m in members["items"]}

    await rest.fails("POST", f"groups/{conv}/join", 403, BANNED, token=bob.access)
    await rest.fails(
        "POST",
        f"groups/{conv}/members",
        403,
        BANNED,
        token=owner.access,
        json={"user_ids": [bob.id]},
    )
    bans = await rest.ok("GET", f"groups/{conv}/bans", token=owner.access)
    assert [(b["user"]["id"], b["reason"], b["actor"]) for b in bans["items"]] == [
        (bob.id, "flooding", helper.id)
    ]
    await rest.fails("GET", f"groups/{conv}/bans", 403, NOT_ADMIN, token=carol.access)

    await rest.ok("DELETE", f"groups/{conv}/bans/{bob.id}", token=owner.access)
    await rest.fails("DELETE", f"groups/{conv}/bans/{bob.id}", 404, NOT_FOUND, token=owner.access)
    await rest.ok("POST", f"groups/{conv}/join", token=bob.access)

    # A server admin bans from any group, member or not, and the log names them all.
    admin = await make_admin(rest)
    await rest.ok(
        "POST", f"admin/groups/{conv}/bans/{carol.id}", token=admin.access, json={"reason": "abuse"}
    )
    await rest.fails("POST", f"groups/{conv}/join", 403, BANNED, token=carol.access)
    await rest.fails(
        "POST", f"admin/groups/{conv}/bans/{owner.id}", 403, FORBIDDEN, token=admin.access, json={}
    )
    listed = await rest.ok("GET", f"admin/groups/{conv}/bans", token=admin.access)
    assert [b["user"]["id"] for b in listed["items"]] == [carol.id]
    await rest.ok("DELETE", f"admin/groups/{conv}/bans/{carol.id}", token=admin.access)
    await rest.ok("POST", f"groups/{conv}/join", token=carol.access)

    rows = await audit(rest, admin, target=conv)
    assert [(r["actor"], r["action"], r["target_user"]) for r in rows] == [
        (admin.id, "member_unbanned", carol.id),
        (admin.id, "member_banned", carol.id),
        (owner.id, "member_unbanned", bob.id),
        (helper.id, "member_banned", bob.id),
        (owner.id, "role_changed", helper.id),
    ]
    assert rows[1]["detail"] == {"reason": "abuse", "as": "server_admin"}
    assert rows[3]["detail"] == {"reason": "flooding"}


async def test_an_admin_deletion_reads_recalled_on_another_device_after_sync(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    alice, bob = await register(rest, "ali"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    phone, _ = await connect(http, rest.server, await login(rest, bob, "phone"))
    try:
        first = await phone.sync()
        sent = await send_rest(rest, alice, conv, "something awful", unique_name("c"))
        admin = await make_admin(rest)
        path = f"admin/conversations/{conv}/messages/{sent['seq']}"
        await rest.ok("DELETE", path, token=admin.access, params={"reason": "abuse"})
        await rest.fails("DELETE", path, 409, 40900, token=admin.access)
        await rest.fails(
            "DELETE", f"admin/conversations/{conv}/messages/99", 404, 40403, token=admin.access
        )

        # The phone was online; the laptop syncs later. Both converge on the stream.
        laptop, _ = await connect(http, rest.server, await login(rest, bob, "laptop"))
        try:
            changed = await laptop.sync(first["cursor"])
            assert conv in {c["conv"] for c in changed["convs"]}
            stream = await pull_everything(laptop, conv)
        finally:
            await laptop.close()
        target = next(m for m in stream if m["seq"] == sent["seq"])
        assert target["recalled"] is True
        assert target["body"] == {}
        entry = stream[-1]
        assert (entry["kind"], entry["from"]) == ("recall", admin.id)
        assert entry["body"] == {"seq": sent["seq"], "by": "server_admin"}
        pushed = await phone.expect("msg", lambda f: f.get("kind") == "recall")
        assert pushed["body"]["seq"] == sent["seq"]
    finally:
        await phone.close()
    rows = await audit(rest, admin, action="message_deleted", target=conv)
    assert rows[0]["actor"] == admin.id
    assert rows[0]["target_user"] == alice.id
    assert rows[0]["target_message"] == sent["id"]
    assert rows[0]["detail"] == {"seq": sent["seq"], "reason": "abuse"}


async def test_disabling_closes_the_socket_and_refuses_sign_in(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    admin, bob = await make_admin(rest), await register(rest, "bob")
    socket, _ = await connect(http, rest.server, bob)
    await rest.fails(
        "POST", f"admin/users/{admin.id}/disable", 400, 40011, token=admin.access, json={}
    )
    view = await rest.ok(
        "POST", f"admin/users/{bob.id}/disable", token=admin.access, json={"reason": "spam"}
    )
    assert view["disabled"] is True
    assert await socket.closed() == 4003
    body = {"username": bob.username, "password": PASSWORD}
    await rest.fails("POST", "auth/login", 403, ACCOUNT_DISABLED, json=body)
    await rest.ok("POST", f"admin/users/{bob.id}/enable", token=admin.access, json={})
    again = await login(rest, bob)

    # Ending the sessions signs out without disabling.
    socket, _ = await connect(http, rest.server, again)
    ended = await rest.ok("POST", f"admin/users/{bob.id}/logout", token=admin.access)
    assert ended["logins"] >= 1
    assert await socket.closed() == 4003
    await login(rest, bob)

    rows = await audit(rest, admin, target=bob.id)
    assert [(r["actor"], r["action"]) for r in rows] == [
        (admin.id, "sessions_ended"),
        (admin.id, "user_enabled"),
        (admin.id, "user_disabled"),
    ]
    assert rows[2]["detail"] == {"reason": "spam"}
    assert rows[2]["request_id"]


async def test_stats_count_what_was_made(rest: Rest, http: aiohttp.ClientSession) -> None:
    admin = await make_admin(rest)
    before = await rest.ok("GET", "admin/stats", token=admin.access)
    alice, bob = await register(rest, "ali"), await register(rest, "bob")
    await create_group(rest, alice, [bob])  # + one system message
    await create_group(rest, alice, [], kind="channel")  # + one system message
    conv = await direct(rest, alice, bob)
    for n in range(3):
        await send_rest(rest, alice, conv, f"m{n}", unique_name("c"))
    await rest.ok("POST", f"admin/users/{bob.id}/disable", token=admin.access, json={})
    socket, _ = await connect(http, rest.server, alice)
    try:
        after = await rest.ok("GET", "admin/stats", token=admin.access)
    finally:
        await socket.close()
    assert after["users"] - before["users"] == 2
    assert after["disabled_users"] - before["disabled_users"] == 1
    assert after["admins"] == before["admins"]
    assert after["messages"] - before["messages"] == 3 + 2
    kinds = {
        k: after["conversations"].get(k, 0) - before["conversations"].get(k, 0)
        for k in ("direct", "group", "channel")
    }
    assert kinds == {"direct": 1, "group": 1, "channel": 1}
    assert after["signed_in_users"] - before["signed_in_users"] == 1  # alice; bob's revoked
    assert after["online_users"] >= 1
    assert (after["files"], after["file_bytes"]) == (before["files"], before["file_bytes"])


async def test_user_search_pages_with_a_cursor(rest: Rest) -> None:
    admin = await make_admin(rest)
    prefix = unique_name("srch")
    made = sorted([(await register(rest, f"{prefix}{n}")).username for n in range(3)])
    page = await rest.ok("GET", "admin/users", token=admin.access, params={"q": prefix, "limit": 2})
    assert [u["username"] for u in page["items"]] == made[:2]
    assert page["more"]
    rest_of = await rest.ok(
        "GET",
        "admin/users",
        token=admin.access,
        params={"q": prefix, "limit": 2, "cursor": page["cursor"]},
    )
    assert [u["username"] for u in rest_of["items"]] == made[2:]
    assert not rest_of["more"]
    assert rest_of["items"][0]["disabled"] is False
    assert "created_at" in rest_of["items"][0]
    await rest.fails(
        "GET",
        "admin/users",
        400,
        INVALID_CURSOR,
        token=admin.access,
        params={"cursor": "not a cursor"},
    )
    await rest.fails(
        "GET", "admin/audit", 400, INVALID_CURSOR, token=admin.access, params={"cursor": "x1"}
    )
    await rest.fails(
        "GET", "admin/audit", 400, 40000, token=admin.access, params={"action": "nonsense"}
    )


async def test_moderators_acts_are_audited(rest: Rest) -> None:
    owner, helper, bob = [await register(rest, p) for p in ("own", "hlp", "bob")]
    conv = (await create_group(rest, owner, [helper, bob]))["id"]
    said = await send_rest(rest, bob, conv, "hello", unique_name("c"))
    await rest.ok(
        "PATCH",
        f"groups/{conv}/members/{helper.id}",
        token=owner.access,
        json={"muted_until": 4_000_000_000_000},
    )
    recall = {"cid": unique_name("r"), "kind": "recall", "body": {"seq": said["seq"]}}
    await rest.ok("POST", f"conversations/{conv}/messages", token=owner.access, json=recall)
    hook = await rest.ok(
        "POST", f"conversations/{conv}/webhooks", status=201, token=bob.access, json={"name": "ci"}
    )
    await rest.ok("DELETE", f"conversations/{conv}/webhooks/{hook['id']}", token=owner.access)
    await rest.ok("DELETE", f"groups/{conv}/members/{bob.id}", token=owner.access)
    await rest.ok(
        "POST", f"groups/{conv}/transfer", token=owner.access, json={"user_id": helper.id}
    )
    await rest.ok("DELETE", f"groups/{conv}", token=helper.access)

    admin = await make_admin(rest)
    rows = await audit(rest, admin, target=conv)
    assert [(r["actor"], r["action"], r["target_user"]) for r in rows] == [
        (helper.id, "group_dissolved", None),
        (owner.id, "ownership_transferred", helper.id),
        (owner.id, "member_removed", bob.id),
        (owner.id, "webhook_deleted", bob.id),
        (owner.id, "message_recalled", bob.id),
        (owner.id, "member_muted", helper.id),
    ]
    assert rows[4]["target_message"] == said["id"]
    only_owner = await audit(rest, admin, actor=owner.id, action="member_removed")
    assert [r["target_conv"] for r in only_owner][:1] == [conv]
    first = await rest.ok(
        "GET", "admin/audit", token=admin.access, params={"target": conv, "limit": 2}
    )
    assert first["more"]
    assert len(first["items"]) == 2
    second = await rest.ok(
        "GET",
        "admin/audit",
        token=admin.access,
        params={"target": conv, "limit": 10, "cursor": first["cursor"]},
    )
    assert [r["id"] for r in first["items"] + second["items"]] == [r["id"] for r in rows]


async def test_the_admin_commands_print_and_exit_with_their_codes(rest: Rest) -> None:
    server = rest.server
    owner, bob = await register(rest, "own"), await register(rest, "bob")
    conv = (await create_group(rest, owner, [bob], visibility="public"))["id"]
    said = await send_rest(rest, bob, conv, "spam spam", unique_name("c"))

    status, _, err = await server.cli("admin", "grant", "nobody-here")
    assert status == 1
    assert "Error: 40401" in err
    assert "Traceback" not in err
    status, _, err = await server.cli("admin", "ban", conv)  # USERNAME missing
    assert status == 2, err

    status, out, err = await server.cli("admin", "stats")
    assert status == 0, err
    assert "users: " in out
    assert "conversations.group: " in out
    status, out, err = await server.cli("admin", "users", bob.username)
    assert status == 0, err
    assert out.split("\t")[:2] == [bob.id, bob.username]

    for args, printed in (
        (("ban", conv, bob.username, "--reason", "spam"), f"{bob.username} banned from {conv}"),
        (("unban", conv, bob.username), f"{bob.username} unbanned from {conv}"),
        (("delete-message", conv, str(said["seq"])), f"deleted message {said['seq']} of {conv}"),
        (("logout", bob.username), f"{bob.username}: "),
        (("disable", bob.username), f"{bob.username} disabled"),
        (("enable", bob.username), f"{bob.username} enabled"),
        (("dissolve", conv), f"dissolved {conv}"),
    ):
        status, out, err = await server.cli("admin", *args)
        assert status == 0, err
        assert printed in out
    status, _, err = await server.cli("admin", "dissolve", conv)
    assert status == 1
    assert "Error: 40402" in err

    history = await rest.ok("GET", f"conversations/{conv}/messages", token=owner.access)
    assert any(m["kind"] == "recall" and m["from"] == "operator" for m in history["items"])

    status, out, err = await server.cli("admin", "audit", "--target", conv, "--limit", "4")
    assert status == 0, err
    lines = out.splitlines()
    assert [line.split("\t")[2:4] for line in lines] == [
        ["operator", "group_dissolved"],
        ["operator", "message_deleted"],
        ["operator", "member_unbanned"],
        ["operator", "member_banned"],
    ]

    async def signed_out() -> bool:
        reply = await rest.call("GET", "users/me", token=bob.access)
        return reply.status in (401, 403)

    await eventually(signed_out, what="the CLI's logout reaching the server")


async def test_a_reason_may_be_500_characters_and_no_more(rest: Rest) -> None:
    owner, bob = await register(rest, "own"), await register(rest, "bob")
    conv = (await create_group(rest, owner, [bob]))["id"]
    path = f"groups/{conv}/bans/{bob.id}"
    await rest.fails("POST", path, 400, 40000, token=owner.access, json={"reason": "x" * 501})
    await rest.ok("POST", path, token=owner.access, json={"reason": "x" * 500})
    admin = await make_admin(rest)
    await rest.fails(
        "POST",
        f"admin/users/{bob.id}/disable",
        400,
        40000,
        token=admin.access,
        json={"reason": "y" * 501},
    )
    long_reason = {"reason": "z" * 501}
    await rest.fails(
        "DELETE", f"admin/groups/{conv}", 400, 40000, token=admin.access, params=long_reason
    )
    await rest.ok(
        "DELETE", f"admin/groups/{conv}", token=admin.access, params={"reason": "z" * 500}
    )
