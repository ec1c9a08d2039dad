"""Helpers for tests about groups, channels, rooms and people: groups, bulk sign-ups,
system messages, and a read-only look into the server's SQLite file.

Built on the plain REST/WebSocket helpers of ``wsclient`` (aiohttp, the public wire
protocol), not on the Python SDK.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any

from harness import WAIT_S, ServerProcess, unique_name

from .wsclient import PASSWORD, Account, Frame, Rest, account_from, all_history

# Error codes of the public contract (src/pigeon/protocol/errors.py).
BAD_REQUEST = 40000
FORBIDDEN = 40300
BLOCKED = 40302
FRIENDS_ONLY = 40303
MUTED = 40304
NOT_ADMIN = 40305
NOT_FOUND = 40400
USER_NOT_FOUND = 40401
CONVERSATION_NOT_FOUND = 40402
CONFLICT = 40900
GROUP_FULL = 40903
ALREADY_EXISTS = 40904

LOBBY_ID = "c_lobby"
MISSING_CONV = "c_01doesnotexist00000000000"

# Membership lists in one request are capped by the server (POST /groups, /members).
ADD_BATCH = 500


async def create_group(
    rest: Rest,
    owner: Account,
    members: Sequence[Account] = (),
    *,
    title: str | None = None,
    visibility: str = "private",
    kind: str = "group",
) -> dict[str, Any]:
    """A new group (or channel) owned by ``owner``; ``members`` may be any length."""
    body = {
        "title": title or unique_name("g"),
        "members": [m.id for m in members[: ADD_BATCH - 1]],
        "visibility": visibility,
        "kind": kind,
    }
    group: dict[str, Any] = await rest.ok(
        "POST", "groups", status=201, token=owner.access, json=body
    )
    rest_of = list(members[ADD_BATCH - 1 :])
    for start in range(0, len(rest_of), ADD_BATCH):
        batch = [m.id for m in rest_of[start : start + ADD_BATCH]]
        group = await rest.ok(
            "POST", f"groups/{group['id']}/members", token=owner.access, json={"user_ids": batch}
        )
    return group


async def make_admin(rest: Rest, owner: Account, conv: str, user: Account) -> None:
    await rest.ok(
        "PATCH", f"groups/{conv}/members/{user.id}", token=owner.access, json={"role": "admin"}
    )


async def mute(rest: Rest, actor: Account, conv: str, user: Account, until: int | None) -> Any:
    return await rest.ok(
        "PATCH",
        f"groups/{conv}/members/{user.id}",
        token=actor.access,
        json={"muted_until": until},
    )


async def remove(rest: Rest, actor: Account, conv: str, user: Account) -> None:
    await rest.ok("DELETE", f"groups/{conv}/members/{user.id}", token=actor.access)


async def members_of(rest: Rest, viewer: Account, conv: str) -> dict[str, str]:
    """Every active member's id and role, following the member-list cursor."""
    roles: dict[str, str] = {}
    params: dict[str, str | int] = {"limit": 500}
    for _ in range(1000):
        page = await rest.ok("GET", f"groups/{conv}/members", token=viewer.access, params=params)
        roles.update({m["user"]["id"]: m["role"] for m in page["items"]})
        if not page["more"]:
            return roles
        params = {"limit": 500, "cursor": page["cursor"]}
    raise AssertionError("member list did not end")


async def system_events(rest: Rest, viewer: Account, conv: str) -> list[dict[str, Any]]:
    """The bodies of the ``system`` messages ``viewer`` can read, in stream order."""
    return [m["body"] for m in await all_history(rest, viewer, conv) if m["kind"] == "system"]


async def text_of(rest: Rest, viewer: Account, conv: str) -> list[str]:
    """The texts of the ``text`` messages ``viewer`` can read, in stream order."""
    items = await all_history(rest, viewer, conv)
    return [m["body"]["text"] for m in items if m["kind"] == "text"]


def sync_entry(sync: Frame, conv: str) -> dict[str, Any] | None:
    found = [c for c in sync["convs"] if c["conv"] == conv]
    assert len(found) <= 1, sync
    return found[0] if found else None


async def register_many(
    rest: Rest, count: int, prefix: str = "p", parallel: int = 16
) -> list[Account]:
    """``count`` new accounts, signed up with at most ``parallel`` requests in flight."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> Account:
        async with gate:
            body = {"username": unique_name(prefix), "password": PASSWORD}
            grant = await rest.ok("POST", "auth/register", status=201, json=body)
            return account_from(grant, PASSWORD)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def query_db(server: ServerProcess, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows from the server's SQLite file, opened read-only next to the running server."""
    path = (server.data_dir / "pigeon.db").resolve()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=WAIT_S)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()
