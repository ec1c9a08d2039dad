"""The permission matrix of groups: every group endpoint, the conversation endpoints and
the WebSocket frames (send, pull, read, typing), each tried by every kind of caller.

Callers (one cast per test, one private group per cell where the action changes who
is who): ``owner``; ``admin``; ``member``; ``muted`` (a member muted for a long time);
``blocked`` (a member the owner has blocked — blocks govern direct conversations and
invitations, not an existing group membership, so it acts as a plain member);
``removed`` (was a member, removed by the owner: keeps reading history up to the
removal, nothing else); ``stranger`` (never a member: exactly the error of a
conversation that does not exist, 40402, same status and message).

Each table cell is the expected envelope code, 0 meaning success.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .people import (
    CONVERSATION_NOT_FOUND,
    FORBIDDEN,
    MISSING_CONV,
    MUTED,
    NOT_ADMIN,
    create_group,
    make_admin,
    mute,
    remove,
)
from .wsclient import Account, Frame, Rest, WsClient, connect, register

ROLES = ("owner", "admin", "member", "muted", "blocked", "removed", "stranger")
GONE = CONVERSATION_NOT_FOUND  # what the removed and strangers get for most things
FAR_FUTURE = 2**42  # ms since epoch, about the year 2109


@dataclass
class Cast:
    people: dict[str, Account]
    target: Account  # a plain member that actions aim at
    newcomer: Account  # someone to add

    def __getitem__(self, role: str) -> Account:
        return self.people[role]


_CASTS: dict[str, Cast] = {}  # by server data directory: one cast per server


async def _cast(rest: Rest) -> Cast:
    """The people of the matrix; each test builds its own groups around them."""
    key = str(rest.server.data_dir)
    if key not in _CASTS:
        people = {role: await register(rest, role[:3]) for role in ROLES}
        await rest.ok("PUT", f"blocks/{people['blocked'].id}", token=people["owner"].access)
        _CASTS[key] = Cast(people, await register(rest, "tgt"), await register(rest, "new"))
    return _CASTS[key]


async def _group(rest: Rest, cast: Cast, visibility: str = "private") -> str:
    """A group where every role of the cast holds; the stranger was never in it."""
    owner = cast["owner"]
    joined = [cast[r] for r in ("admin", "member", "muted", "blocked", "removed")]
    conv = str(
        (await create_group(rest, owner, [*joined, cast.target], visibility=visibility))["id"]
    )
    await make_admin(rest, owner, conv, cast["admin"])
    await mute(rest, owner, conv, cast["muted"], FAR_FUTURE)
    await remove(rest, owner, conv, cast["removed"])
    return conv


def _row(
    owner: int,
    admin: int,
    member: int,
    muted: int | None = None,
    blocked: int | None = None,
    removed: int = GONE,
    stranger: int = GONE,
) -> dict[str, int]:
    """One table row; ``muted`` and ``blocked`` default to the member's code."""
    return {
        "owner": owner,
        "admin": admin,
        "member": member,
        "muted": member if muted is None else muted,
        "blocked": member if blocked is None else blocked,
        "removed": removed,
        "stranger": stranger,
    }


@dataclass(frozen=True)
class Action:
    name: str
    method: str
    path: str  # "{conv}" and "{target}" are filled in
    expected: dict[str, int]
    body: Callable[[Cast], Any] | None = None
    fresh_group_per_caller: bool = False
    visibility: str = "private"


def _text(_: Cast) -> Any:
    return {"cid": unique_name("c"), "kind": "text", "body": {"text": "hi"}}


ACTIONS = [
    Action("get group", "GET", "groups/{conv}", _row(0, 0, 0)),
    Action(
        "update group",
        "PATCH",
        "groups/{conv}",
        _row(0, 0, NOT_ADMIN),
        body=lambda _: {"announcement": unique_name("news")},
    ),
    Action(
        "dissolve",
        "DELETE",
        "groups/{conv}",
        _row(0, FORBIDDEN, FORBIDDEN),
        fresh_group_per_caller=True,
    ),
    Action("list members", "GET", "groups/{conv}/members", _row(0, 0, 0)),
    Action(
        "add members",
        "POST",
        "groups/{conv}/members",
        _row(0, 0, NOT_ADMIN),
        body=lambda cast: {"user_ids": [cast.newcomer.id]},
        fresh_group_per_caller=True,
    ),
    Action(
        "remove member",
        "DELETE",
        "groups/{conv}/members/{target}",
        _row(0, 0, NOT_ADMIN),
        fresh_group_per_caller=True,
    ),
    Action(
        "mute member",
        "PATCH",
        "groups/{conv}/members/{target}",
        _row(0, 0, NOT_ADMIN),
        body=lambda _: {"muted_until": FAR_FUTURE},
        fresh_group_per_caller=True,
    ),
    Action(
        "change role",
        "PATCH",
        "groups/{conv}/members/{target}",
        _row(0, FORBIDDEN, NOT_ADMIN),
        body=lambda _: {"role": "admin"},
        fresh_group_per_caller=True,
    ),
    Action(
        "transfer",
        "POST",
        "groups/{conv}/transfer",
        _row(0, FORBIDDEN, FORBIDDEN),
        body=lambda cast: {"user_id": cast.target.id},
        fresh_group_per_caller=True,
    ),
    # Joining a private group: members are in already; everyone else finds nothing.
    Action("join private", "POST", "groups/{conv}/join", _row(0, 0, 0)),
    Action(
        "leave", "POST", "groups/{conv}/leave", _row(FORBIDDEN, 0, 0), fresh_group_per_caller=True
    ),
    Action("online list", "GET", "groups/{conv}/online", _row(0, 0, 0)),
    # A removed member reads the history up to the removal.
    Action("history", "GET", "conversations/{conv}/messages", _row(0, 0, 0, removed=0)),
    Action(
        "send (REST)",
        "POST",
        "conversations/{conv}/messages",
        _row(0, 0, 0, muted=MUTED),
        body=_text,
    ),
    Action(
        "mark read (REST)",
        "PUT",
        "conversations/{conv}/read",
        _row(0, 0, 0),
        body=lambda _: {"seq": 1},
    ),
    Action(
        "conversation settings",
        "PATCH",
        "conversations/{conv}",
        _row(0, 0, 0),
        body=lambda _: {"pinned": True},
    ),
    # A public room: anyone may look and join, a removed member may come back.
    Action(
        "get public",
        "GET",
        "groups/{conv}",
        _row(0, 0, 0, removed=0, stranger=0),
        visibility="public",
    ),
    Action(
        "join public",
        "POST",
        "groups/{conv}/join",
        _row(0, 0, 0, removed=0, stranger=0),
        fresh_group_per_caller=True,
        visibility="public",
    ),
    Action("public online list", "GET", "groups/{conv}/online", _row(0, 0, 0), visibility="public"),
]


async def _try(rest: Rest, action: Action, cast: Cast, role: str, conv: str) -> tuple[int, Any]:
    """The code one caller gets; for a refusal as a stranger would, also the whole
    reply next to the reply about a conversation that does not exist."""
    body = action.body(cast) if action.body else None

    async def call(on: str) -> Any:
        path = action.path.format(conv=on, target=cast.target.id)
        return await rest.call(action.method, path, token=cast[role].access, json=body)

    reply = await call(conv)
    assert isinstance(reply.body, dict), reply.text
    assert reply.status == (200 if reply.code == 0 else reply.code // 100), reply.text
    if reply.code != CONVERSATION_NOT_FOUND:
        return reply.code, None
    missing = await call(MISSING_CONV)
    return reply.code, ((reply.status, reply.body), (missing.status, missing.body))


@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
async def test_rest_permission_matrix(rest: Rest, action: Action) -> None:
    cast = await _cast(rest)
    shared = None if action.fresh_group_per_caller else await _group(rest, cast, action.visibility)
    actual: dict[str, int] = {}
    for role in ROLES:
        conv = shared or await _group(rest, cast, action.visibility)
        actual[role], look_alike = await _try(rest, action, cast, role, conv)
        if look_alike is not None:
            seen, nonexistent = look_alike
            assert seen == nonexistent, (role, action.name)
    assert actual == action.expected


# --- WebSocket frames

WS_EXPECTED = {
    "send": _row(0, 0, 0, muted=MUTED),
    "pull": _row(0, 0, 0, removed=0),
    "read": _row(0, 0, 0),
    "typing": _row(0, 0, 0),
}


def _ws_frame(kind: str, conv: str) -> Frame:
    if kind == "send":
        return {
            "t": "send",
            "cid": unique_name("c"),
            "conv": conv,
            "kind": "text",
            "body": {"text": "x"},
        }
    if kind == "pull":
        return {"t": "pull", "conv": conv, "after": 0}
    if kind == "read":
        return {"t": "read", "conv": conv, "seq": 1}
    return {"t": "typing", "conv": conv, "on": True}


async def _ws_outcome(client: WsClient, frame: Frame) -> Frame | None:
    """The error frame a request got, or None if it succeeded.

    ``read`` and ``typing`` have no reply: a ping behind them is the barrier after
    which any refusal has arrived.
    """
    if frame["t"] in ("send", "pull"):
        answer = await client.request(frame)
        assert answer["t"] in ("error", "ack", "messages"), answer
        return answer if answer["t"] == "error" else None
    rid = unique_name("r")
    await client.send({**frame, "rid": rid})
    await client.barrier()
    refusals = [f for f in client.taken("error") if f.get("rid") == rid]
    assert len(refusals) <= 1, refusals
    return refusals[0] if refusals else None


async def test_websocket_permission_matrix(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    cast = await _cast(rest)
    conv = await _group(rest, cast)
    sockets = {role: (await connect(http, shared_server, cast[role]))[0] for role in ROLES}
    try:
        actual: dict[str, dict[str, int]] = {}
        for kind in WS_EXPECTED:
            actual[kind] = {}
            for role in ROLES:
                client = sockets[role]
                refusal = await _ws_outcome(client, _ws_frame(kind, conv))
                actual[kind][role] = 0 if refusal is None else int(refusal["code"])
                if refusal is not None and refusal["code"] == CONVERSATION_NOT_FOUND:
                    nonexistent = await _ws_outcome(client, _ws_frame(kind, MISSING_CONV))
                    assert nonexistent is not None
                    assert refusal["message"] == nonexistent["message"], (kind, role)
        assert actual == WS_EXPECTED
    finally:
        for client in sockets.values():
            await client.close()
