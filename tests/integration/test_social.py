"""Friends, friend requests, blocks and the direct-message policy against a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import unique_name

from .live import in_touch
from .people import (
    BLOCKED,
    CONFLICT,
    FRIENDS_ONLY,
    NOT_FOUND,
    USER_NOT_FOUND,
)
from .wsclient import Account, Rest, WsClient, direct, register, send_rest


async def _ask(rest: Rest, sender: Account, to: Account, note: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": to.id}
    if note is not None:
        body["note"] = note
    request: dict[str, Any] = await rest.ok(
        "POST", "friends/requests", status=201, token=sender.access, json=body
    )
    return request


async def _friend_ids(rest: Rest, account: Account) -> list[str]:
    page = await rest.ok("GET", "friends", token=account.access)
    return [u["id"] for u in page["items"]]


async def _requests(rest: Rest, account: Account) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await rest.ok("GET", "friends/requests", token=account.access))[
        "items"
    ]
    return items


def _message_body(text: str) -> dict[str, Any]:
    return {"cid": unique_name("c"), "kind": "text", "body": {"text": text}}


# --- friend requests


async def test_request_and_accept_with_direction_and_pushes(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    ann, ben = await register(rest, "ann"), await register(rest, "ben")
    ann_ws: WsClient = await online(ann)
    ben_ws: WsClient = await online(ben)
    sent = await _ask(rest, ann, ben, note="hi, it's ann")
    assert sent["from"] == ann.id
    assert sent["to"] == ben.id
    assert (sent["status"], sent["direction"], sent["note"]) == ("pending", "out", "hi, it's ann")

    [incoming] = await _requests(rest, ben)
    assert incoming == {**sent, "direction": "in"}
    [outgoing] = await _requests(rest, ann)
    assert outgoing == sent
    pushed = await ben_ws.expect("friend_request", id=sent["id"])
    assert (pushed["status"], pushed["direction"]) == ("pending", "in")
    # Asking twice is idempotent: the same pending request.
    assert await _ask(rest, ann, ben) == sent

    # Only the addressee answers.
    await rest.fails(
        "POST", f"friends/requests/{sent['id']}/accept", 404, NOT_FOUND, token=ann.access
    )
    accepted = await rest.ok("POST", f"friends/requests/{sent['id']}/accept", token=ben.access)
    assert (accepted["status"], accepted["direction"]) == ("accepted", "in")
    told = await ann_ws.expect("friend_request", id=sent["id"], status="accepted")
    assert told["direction"] == "out"
    assert await _friend_ids(rest, ann) == [ben.id]
    assert await _friend_ids(rest, ben) == [ann.id]
    assert await _requests(rest, ben) == []
    await rest.fails(
        "POST", f"friends/requests/{sent['id']}/decline", 409, CONFLICT, token=ben.access
    )
    await rest.fails(
        "POST", "friends/requests", 409, 40904, token=ben.access, json={"user_id": ann.id}
    )


async def test_decline_leaves_them_strangers(rest: Rest) -> None:
    ann, ben = await register(rest, "ann"), await register(rest, "ben")
    sent = await _ask(rest, ann, ben)
    declined = await rest.ok("POST", f"friends/requests/{sent['id']}/decline", token=ben.access)
    assert declined["status"] == "declined"
    assert await _friend_ids(rest, ann) == []
    assert await _friend_ids(rest, ben) == []
    assert await _requests(rest, ann) == []
    await rest.fails(
        "POST", f"friends/requests/{sent['id']}/accept", 409, CONFLICT, token=ben.access
    )
    # A new request after a decline is a new request.
    again = await _ask(rest, ann, ben)
    assert again["id"] != sent["id"]
    assert again["status"] == "pending"


async def test_mutual_requests_accept_each_other(rest: Rest) -> None:
    ann, ben = await register(rest, "ann"), await register(rest, "ben")
    first = await _ask(rest, ann, ben)
    second = await _ask(rest, ben, ann)
    assert second["id"] == first["id"]
    assert (second["status"], second["direction"]) == ("accepted", "in")
    assert await _friend_ids(rest, ann) == [ben.id]
    assert await _friend_ids(rest, ben) == [ann.id]
    assert await _requests(rest, ann) == []


async def test_unfriend_works_from_either_side_once(rest: Rest) -> None:
    ann, ben, cat = [await register(rest, name) for name in ("ann", "ben", "cat")]
    for other in (ben, cat):
        request = await _ask(rest, ann, other)
        await rest.ok("POST", f"friends/requests/{request['id']}/accept", token=other.access)
    assert sorted(await _friend_ids(rest, ann)) == sorted([ben.id, cat.id])
    await rest.ok("DELETE", f"friends/{ann.id}", token=ben.access)
    assert await _friend_ids(rest, ann) == [cat.id]
    assert await _friend_ids(rest, ben) == []
    await rest.fails("DELETE", f"friends/{ben.id}", 404, NOT_FOUND, token=ann.access)


async def test_requests_to_nobody_or_oneself_are_refused(rest: Rest) -> None:
    ann = await register(rest, "ann")
    await rest.fails(
        "POST",
        "friends/requests",
        404,
        USER_NOT_FOUND,
        token=ann.access,
        json={"user_id": "u_nobody"},
    )
    await rest.fails(
        "POST", "friends/requests", 400, 40011, token=ann.access, json={"user_id": ann.id}
    )
    await rest.fails("POST", "friends/requests/f_nothing/accept", 404, NOT_FOUND, token=ann.access)


# --- blocks


async def test_a_blocked_user_cannot_reach_the_blocker(rest: Rest) -> None:
    ann, troll = await register(rest, "ann"), await register(rest, "troll")
    conv = await direct(rest, troll, ann)
    await send_rest(rest, troll, conv, "before", unique_name("c"))
    pending = await _ask(rest, troll, ann)
    await rest.ok("PUT", f"blocks/{troll.id}", token=ann.access)
    await rest.ok("PUT", f"blocks/{troll.id}", token=ann.access)  # idempotent
    blocked = await rest.ok("GET", "blocks", token=ann.access)
    assert [u["id"] for u in blocked["items"]] == [troll.id]
    # Blocking declines what was pending between them.
    assert await _requests(rest, ann) == []
    await rest.fails(
        "POST", f"friends/requests/{pending['id']}/accept", 409, CONFLICT, token=ann.access
    )

    for reply in (
        await rest.fails(
            "POST",
            "conversations/direct",
            403,
            BLOCKED,
            token=troll.access,
            json={"user_id": ann.id},
        ),
        await rest.fails(
            "POST",
            f"conversations/{conv}/messages",
            403,
            BLOCKED,
            token=troll.access,
            json=_message_body("let me in"),
        ),
        await rest.fails(
            "POST", "friends/requests", 403, BLOCKED, token=troll.access, json={"user_id": ann.id}
        ),
    ):
        assert "does not accept" in reply.body["message"]
    # The blocker is told why its own attempts fail, too.
    reply = await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        403,
        BLOCKED,
        token=ann.access,
        json=_message_body("hm"),
    )
    assert "unblock" in reply.body["message"]

    await rest.ok("DELETE", f"blocks/{troll.id}", token=ann.access)
    await rest.fails("DELETE", f"blocks/{troll.id}", 404, NOT_FOUND, token=ann.access)
    assert (await rest.ok("GET", "blocks", token=ann.access))["items"] == []
    await send_rest(rest, troll, conv, "after", unique_name("c"))


async def test_a_blocked_user_cannot_write_over_the_websocket(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    ann, troll = await register(rest, "ann"), await register(rest, "troll")
    conv = await direct(rest, troll, ann)
    await rest.ok("PUT", f"blocks/{troll.id}", token=ann.access)
    ann_ws: WsClient = await online(ann)
    troll_ws: WsClient = await online(troll)
    cid = unique_name("c")
    refused = await troll_ws.request(
        {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": "x"}}
    )
    assert (refused["t"], refused["code"], refused["cid"]) == ("error", BLOCKED, cid)
    assert "does not accept" in refused["message"]
    await ann_ws.barrier()
    assert ann_ws.taken("msg") == []


async def test_a_blocked_user_sees_nothing_of_the_blockers_presence(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    ann, troll, pal = [await register(rest, name) for name in ("ann", "troll", "pal")]
    await in_touch(rest, troll, ann)  # a peer ann wrote to normally hears about presence
    await in_touch(rest, pal, ann)
    await rest.ok("PUT", f"blocks/{troll.id}", token=ann.access)
    troll_ws: WsClient = await online(troll)
    pal_ws: WsClient = await online(pal)

    await online(ann)
    # One announcement goes to the whole audience at once: once the control
    # recipient has it, a copy for the blocked user would be queued already.
    announced = await pal_ws.expect("presence", user=ann.id)
    assert announced["online"] is True
    await troll_ws.barrier()
    assert [f for f in troll_ws.taken("presence") if f["user"] == ann.id] == []

    seen_by_troll = await rest.ok("GET", "presence", token=troll.access, params={"users": ann.id})
    assert seen_by_troll["items"] == [{"user": ann.id, "online": False, "last_seen": None}]
    seen_by_pal = await rest.ok("GET", "presence", token=pal.access, params={"users": ann.id})
    [item] = seen_by_pal["items"]
    assert item["online"] is True
    # Presence is hidden across a block both ways: the blocker no longer sees the blocked.
    await online(troll)
    seen_by_ann = await rest.ok("GET", "presence", token=ann.access, params={"users": troll.id})
    assert seen_by_ann["items"] == [{"user": troll.id, "online": False, "last_seen": None}]


# --- the direct-message policy


async def test_friends_only_policy_for_opening_and_sending(rest: Rest) -> None:
    ann, ben, stranger = [await register(rest, name) for name in ("ann", "ben", "str")]
    conv = await direct(rest, stranger, ann)
    profile = await rest.ok("PATCH", "users/me", token=ann.access, json={"dm_policy": "friends"})
    assert profile["dm_policy"] == "friends"

    reply = await rest.fails(
        "POST",
        "conversations/direct",
        403,
        FRIENDS_ONLY,
        token=ben.access,
        json={"user_id": ann.id},
    )
    assert "friends" in reply.body["message"]
    await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        403,
        FRIENDS_ONLY,
        token=stranger.access,
        json=_message_body("hello?"),
    )
    # The policy binds others, not its owner.
    await send_rest(rest, ann, conv, "I may write", unique_name("c"))

    request = await _ask(rest, ben, ann)
    await rest.ok("POST", f"friends/requests/{request['id']}/accept", token=ann.access)
    friend_conv = await direct(rest, ben, ann)
    await send_rest(rest, ben, friend_conv, "hi friend", unique_name("c"))

    await rest.ok("DELETE", f"friends/{ann.id}", token=ben.access)
    await rest.fails(
        "POST",
        f"conversations/{friend_conv}/messages",
        403,
        FRIENDS_ONLY,
        token=ben.access,
        json=_message_body("still there?"),
    )
    await rest.ok("PATCH", "users/me", token=ann.access, json={"dm_policy": "anyone"})
    await send_rest(rest, stranger, conv, "now open", unique_name("c"))
