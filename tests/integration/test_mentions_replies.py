"""Replies and mentions against a real server: which ``reply_to`` and ``mentions``
are accepted, who may mention ``@all``, the conversation list's ``mentioned`` flag,
and retries of a cid the checks would now refuse."""

from __future__ import annotations

from typing import Any

from harness import unique_name

from .live import (
    BAD_REQUEST,
    MESSAGE_NOT_FOUND,
    NOT_ADMIN,
    NUMBER_OUT_OF_RANGE,
    Devices,
    send_ok,
    send_refused,
    text_frame,
)
from .people import create_group, make_admin, remove
from .wsclient import Account, Rest, all_history, direct, register, send_rest

ALL = "@all"


async def _list_item(rest: Rest, account: Account, conv: str) -> dict[str, Any]:
    listed = await rest.ok("GET", "conversations", token=account.access, params={"limit": 200})
    found: list[dict[str, Any]] = [c for c in listed["items"] if c["id"] == conv]
    assert len(found) == 1, listed
    return found[0]


async def _mentioned(rest: Rest, account: Account, conv: str) -> bool:
    return bool((await _list_item(rest, account, conv))["mentioned"])


async def _read(rest: Rest, account: Account, conv: str, seq: int) -> None:
    await rest.ok("PUT", f"conversations/{conv}/read", token=account.access, json={"seq": seq})


# --- replies


async def test_reply_to_must_be_a_visible_message_of_the_conversation(
    rest: Rest, devices: Devices
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)
    question = await alice_ws.send_text(conv, "lunch?")
    answer = await send_ok(bob_ws, text_frame(conv, "yes", reply_to=question["seq"]))
    pushed = await alice_ws.expect("msg", conv=conv, seq=answer["seq"])
    assert pushed["reply_to"] == question["seq"]
    [stored] = [m for m in await all_history(rest, alice, conv) if m["seq"] == answer["seq"]]
    assert stored["reply_to"] == question["seq"]

    for bad in (answer["seq"] + 1, 10_000):
        await send_refused(bob_ws, text_frame(conv, "?", reply_to=bad), MESSAGE_NOT_FOUND)
    for out_of_range in (0, -1):  # seqs start at 1: the integer rule, as over REST
        await send_refused(
            bob_ws, text_frame(conv, "?", reply_to=out_of_range), NUMBER_OUT_OF_RANGE
        )
    for malformed in ("1", 1.5, True):
        await send_refused(bob_ws, text_frame(conv, "?", reply_to=malformed), BAD_REQUEST)
    # A seq that exists elsewhere is still not a message of this conversation.
    other = await direct(rest, alice, await register(rest, "carol"))
    for i in range(answer["seq"] + 3):
        await send_rest(rest, alice, other, f"filler {i}", unique_name("c"))
    await send_refused(
        alice_ws, text_frame(conv, "?", reply_to=answer["seq"] + 2), MESSAGE_NOT_FOUND
    )
    assert [m["seq"] for m in await all_history(rest, bob, conv)] == [
        question["seq"],
        answer["seq"],
    ]


async def test_a_late_member_replies_only_to_what_it_can_see(rest: Rest, devices: Devices) -> None:
    owner, late = await register(rest, "owner"), await register(rest, "late")
    conv = (await create_group(rest, owner))["id"]
    owner_ws = await devices.open(owner)
    before = await owner_ws.send_text(conv, "before you came")
    await rest.ok(
        "POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [late.id]}
    )
    after = await owner_ws.send_text(conv, "welcome")
    late_ws = await devices.open(late)
    await send_refused(
        late_ws, text_frame(conv, "re: before", reply_to=before["seq"]), MESSAGE_NOT_FOUND
    )
    await send_ok(late_ws, text_frame(conv, "thanks", reply_to=after["seq"]))


# --- mentions


async def test_mentions_must_be_members_and_all_is_for_admins(rest: Rest, devices: Devices) -> None:
    owner, admin, member, other, gone, stranger = [
        await register(rest, n) for n in ("owner", "admin", "member", "other", "gone", "eve")
    ]
    conv = (await create_group(rest, owner, [admin, member, other, gone]))["id"]
    await make_admin(rest, owner, conv, admin)
    await remove(rest, owner, conv, gone)
    owner_ws, admin_ws = await devices.open(owner), await devices.open(admin)
    member_ws, other_ws = await devices.open(member), await devices.open(other)

    named = await send_ok(member_ws, text_frame(conv, "hey other", mentions=[other.id]))
    pushed = await other_ws.expect("msg", conv=conv, seq=named["seq"])
    assert pushed["mentions"] == [other.id]
    for outsider in (stranger.id, gone.id, "u_nobody"):
        frame = text_frame(conv, "hey", mentions=[other.id, outsider])
        await send_refused(member_ws, frame, BAD_REQUEST)
    await send_refused(member_ws, text_frame(conv, "everyone!", mentions=[ALL]), NOT_ADMIN)
    for malformed in ("u_x", [1], [""], [f"u{i}" for i in range(1000)]):
        await send_refused(member_ws, text_frame(conv, "?", mentions=malformed), BAD_REQUEST)
    await send_ok(admin_ws, text_frame(conv, "everyone, admin here", mentions=[ALL]))
    await send_ok(owner_ws, text_frame(conv, "everyone, owner here", mentions=[ALL, member.id]))

    # Over REST the refusal names who is not a member.
    refused = await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        400,
        BAD_REQUEST,
        token=member.access,
        json={
            "cid": unique_name("c"),
            "kind": "text",
            "body": {"text": "x"},
            "mentions": [stranger.id, other.id],
        },
    )
    assert refused.body["data"] == {"user_ids": [stranger.id]}
    texts = [m["body"]["text"] for m in await all_history(rest, owner, conv) if m["kind"] == "text"]
    assert texts == ["hey other", "everyone, admin here", "everyone, owner here"]


async def test_direct_chats_mention_the_peer_but_never_all(rest: Rest, devices: Devices) -> None:
    alice, bob, carol = [await register(rest, n) for n in ("alice", "bob", "carol")]
    conv = await direct(rest, alice, bob)
    alice_ws = await devices.open(alice)
    await send_ok(alice_ws, text_frame(conv, "@bob", mentions=[bob.id]))
    await send_refused(alice_ws, text_frame(conv, "@all", mentions=[ALL]), NOT_ADMIN)
    await send_refused(alice_ws, text_frame(conv, "@carol", mentions=[carol.id]), BAD_REQUEST)
    assert await _mentioned(rest, bob, conv) is True


async def test_the_mentioned_flag_lasts_while_a_mention_is_unread(
    rest: Rest, devices: Devices
) -> None:
    owner, member, other = [await register(rest, n) for n in ("owner", "member", "other")]
    conv = (await create_group(rest, owner, [member, other]))["id"]
    member_ws, owner_ws = await devices.open(member), await devices.open(owner)
    for account in (owner, member, other):
        assert await _mentioned(rest, account, conv) is False

    to_other = await send_ok(member_ws, text_frame(conv, "@other", mentions=[other.id]))
    later = await member_ws.send_text(conv, "no mention here")
    item = await _list_item(rest, other, conv)
    assert (item["mentioned"], item["unread"]) == (True, 2)
    assert await _mentioned(rest, member, conv) is False  # one's own mention of others
    assert await _mentioned(rest, owner, conv) is False  # someone else was mentioned
    await _read(rest, other, conv, to_other["seq"] - 1)
    assert await _mentioned(rest, other, conv) is True  # read up to just before it
    await _read(rest, other, conv, later["seq"])
    assert await _mentioned(rest, other, conv) is False

    everyone = await send_ok(owner_ws, text_frame(conv, "all hands", mentions=[ALL]))
    assert await _mentioned(rest, member, conv) is True
    assert await _mentioned(rest, other, conv) is True
    assert await _mentioned(rest, owner, conv) is False
    await member_ws.send({"t": "read", "conv": conv, "seq": everyone["seq"]})
    await member_ws.barrier()
    assert await _mentioned(rest, member, conv) is False
    assert await _mentioned(rest, other, conv) is True  # each member's flag is its own
    await _read(rest, other, conv, everyone["seq"])

    # A mention recalled before it was read no longer counts.
    oops = await send_ok(member_ws, text_frame(conv, "@other oops", mentions=[other.id]))
    assert await _mentioned(rest, other, conv) is True
    recall = {
        "t": "send",
        "cid": unique_name("a"),
        "conv": conv,
        "kind": "recall",
        "body": {"seq": oops["seq"]},
    }
    await send_ok(member_ws, recall)
    assert await _mentioned(rest, other, conv) is False


async def test_a_retried_cid_returns_the_original_even_if_now_refused(
    rest: Rest, devices: Devices
) -> None:
    owner, member, other = [await register(rest, n) for n in ("owner", "member", "other")]
    conv = (await create_group(rest, owner, [member, other]))["id"]
    member_ws = await devices.open(member)
    first = await member_ws.send_text(conv, "first")
    frame = text_frame(conv, "@other, re: first", mentions=[other.id], reply_to=first["seq"])
    original = await send_ok(member_ws, frame)

    await remove(rest, owner, conv, other)  # the mention would now be refused
    retried = await send_ok(member_ws, frame)
    assert {k: retried[k] for k in ("cid", "conv", "seq", "id", "ts")} == {
        k: original[k] for k in ("cid", "conv", "seq", "id", "ts")
    }
    # Even with a reply_to that was never valid: the cid names the stored message.
    retried = await send_ok(member_ws, {**frame, "reply_to": 10_000})
    assert retried["seq"] == original["seq"]
    await send_refused(member_ws, {**frame, "cid": unique_name("c")}, BAD_REQUEST)
    stored = [m for m in await all_history(rest, owner, conv) if m.get("cid") == frame["cid"]]
    assert len(stored) == 1
    assert (stored[0]["mentions"], stored[0]["reply_to"]) == ([other.id], first["seq"])
