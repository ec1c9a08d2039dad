"""Reactions and pinned messages through a real server, on SQLite and on PostgreSQL.

Toggling, counting across users, an offline device converging by sync, the limits at
their edges, strangers answered as for a missing conversation, who may pin, and a
recall unpinning. The rules in process: tests/unit/test_marks.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .backends import BACKENDS, serve_on
from .live import (
    CONVERSATION_NOT_FOUND,
    INVALID_BODY,
    MESSAGE_NOT_FOUND,
    NOT_ADMIN,
    Devices,
    amend,
    devices_of,
)
from .people import create_group
from .wsclient import Account, Frame, Rest, WsClient, direct, history, pull_everything, register

MAX_REACTIONS, MAX_PINS, EMOJI_CHARS = 3, 2, 8
INVALID_EMOJI, TOO_MANY_REACTIONS, TOO_MANY_PINS = 40080, 40081, 40082
PIN_NOT_FOUND, REACTION_UNCHANGED, ALREADY_PINNED = 40480, 40920, 40921


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    settings = {
        "PIGEON_MAX_REACTIONS_PER_MESSAGE": str(MAX_REACTIONS),
        "PIGEON_MAX_PINS_PER_CONVERSATION": str(MAX_PINS),
        "PIGEON_REACTION_MAX_CHARS": str(EMOJI_CHARS),
    }
    yield from serve_on(request.param, tmp_path_factory, "marks", settings)


@pytest.fixture
def rest(http: aiohttp.ClientSession, backend_server: ServerProcess) -> Rest:
    return Rest(http, backend_server)


@pytest.fixture
async def devices(
    http: aiohttp.ClientSession, backend_server: ServerProcess
) -> AsyncIterator[Devices]:
    async with devices_of(http, backend_server) as pool:
        yield pool


def _reaction_path(conv: str, seq: int, emoji: str) -> str:
    return f"conversations/{conv}/messages/{seq}/reactions/{quote(emoji, safe='')}"


async def _say(rest: Rest, who: Account, conv: str, text: str = "hi") -> int:
    body = {"cid": unique_name("c"), "kind": "text", "body": {"text": text}}
    sent = await rest.ok("POST", f"conversations/{conv}/messages", token=who.access, json=body)
    return int(sent["seq"])


async def _summary(rest: Rest, who: Account, conv: str, seq: int) -> Any:
    page = await history(rest, who, conv, before=seq + 1, limit=1)
    return page["items"][0].get("reactions", [])


async def _toggle(client: WsClient, conv: str, seq: int, emoji: str) -> Frame:
    answer = await amend(client, conv, "react", {"seq": seq, "emoji": emoji})
    assert answer["t"] == "ack", answer
    return answer


async def test_a_toggle_twice_is_off_and_counts_add_up_across_users(
    rest: Rest, devices: Devices
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    seq = await _say(rest, alice, conv)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)

    first = await _toggle(bob_ws, conv, seq, "👍")
    pushed = await alice_ws.expect("msg", conv=conv, seq=first["seq"])
    assert (pushed["kind"], pushed["from"]) == ("react", bob.id)
    assert pushed["body"] == {"seq": seq, "emoji": "👍", "on": True, "count": 1}

    await rest.ok("POST", _reaction_path(conv, seq, "👍"), token=alice.access)
    assert await _summary(rest, bob, conv, seq) == [{"emoji": "👍", "count": 2, "mine": True}]

    second = await _toggle(bob_ws, conv, seq, "👍")  # the same toggle again: off
    pushed = await alice_ws.expect("msg", conv=conv, seq=second["seq"])
    assert pushed["body"] == {"seq": seq, "emoji": "👍", "on": False, "count": 1}
    assert await _summary(rest, bob, conv, seq) == [{"emoji": "👍", "count": 1, "mine": False}]
    assert await _summary(rest, alice, conv, seq) == [{"emoji": "👍", "count": 1, "mine": True}]

    # explicit add/remove that would change nothing: refused, no entry
    await rest.fails(
        "POST", _reaction_path(conv, seq, "👍"), 409, REACTION_UNCHANGED, token=alice.access
    )
    await rest.fails(
        "DELETE", _reaction_path(conv, seq, "👍"), 409, REACTION_UNCHANGED, token=bob.access
    )
    await rest.ok("DELETE", _reaction_path(conv, seq, "👍"), token=alice.access)
    assert await _summary(rest, bob, conv, seq) == []
    # the same refusals over the WebSocket, each with its code and nothing stored
    for body, code in [
        ({"seq": seq, "emoji": "yes"}, INVALID_EMOJI),
        ({"seq": seq, "emoji": "👍", "on": False}, REACTION_UNCHANGED),
        ({"seq": seq + 99, "emoji": "👍"}, MESSAGE_NOT_FOUND),
        ({"seq": seq, "emoji": 5}, INVALID_BODY),
    ]:
        refused = await amend(bob_ws, conv, "react", body)
        assert (refused["t"], refused["code"]) == ("error", code), refused
    assert await _summary(rest, bob, conv, seq) == []
    listed = await rest.ok("GET", "conversations", token=bob.access)
    assert next(c for c in listed["items"] if c["id"] == conv)["unread"] == 1  # the text only


def _apply(summary: dict[str, tuple[int, bool]], entry: Frame, me: str) -> None:
    """What a client does with a react entry: set the count, and 'mine' for its own."""
    body = entry["body"]
    _, mine = summary.get(body["emoji"], (0, False))
    if entry["from"] == me:
        mine = body["on"]
    if body["count"]:
        summary[body["emoji"]] = (body["count"], mine)
    else:
        summary.pop(body["emoji"], None)


async def test_an_offline_device_converges_to_the_same_summary_by_sync(
    rest: Rest, devices: Devices
) -> None:
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    group = await create_group(rest, alice, [bob, carol])
    conv = group["id"]
    seq = await _say(rest, alice, conv)
    laptop = await devices.open(alice)
    start = await laptop.sync()
    known = {e["conv"]: e["last_seq"] for e in start["convs"]}[conv]
    summary: dict[str, tuple[int, bool]] = {}  # the laptop's copy, from history
    for item in await _summary(rest, alice, conv, seq):
        summary[item["emoji"]] = (item["count"], item["mine"])
    await laptop.close()

    bob_ws, carol_ws, phone = (
        await devices.open(bob),
        await devices.open(carol),
        await devices.open(alice),
    )
    for client, emoji in [(bob_ws, "👍"), (carol_ws, "👍"), (phone, "🎉"), (carol_ws, "❤️")]:
        await _toggle(client, conv, seq, emoji)
    await _toggle(bob_ws, conv, seq, "👍")  # bob takes his back
    await _toggle(phone, conv, seq, "👍")

    laptop = await devices.open(alice)
    changed = await laptop.sync(start["cursor"])
    assert conv in {e["conv"] for e in changed["convs"]}
    for entry in await pull_everything(laptop, conv, after=known):
        if entry["kind"] == "react":
            _apply(summary, entry, alice.id)
    truth = await _summary(rest, alice, conv, seq)
    assert {r["emoji"]: (r["count"], r["mine"]) for r in truth} == summary
    assert [r["emoji"] for r in truth] == ["👍", "🎉", "❤️"]  # order of first use
    assert summary == {"👍": (2, True), "🎉": (1, True), "❤️": (1, False)}


async def test_limits_at_their_edges(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    seq = await _say(rest, alice, conv)
    for emoji in ["👍", "🎉", "❤️"][:MAX_REACTIONS]:
        await rest.ok("POST", _reaction_path(conv, seq, emoji), token=alice.access)
    await rest.fails(
        "POST", _reaction_path(conv, seq, "🔥"), 400, TOO_MANY_REACTIONS, token=bob.access
    )
    await rest.ok("POST", _reaction_path(conv, seq, "🎉"), token=bob.access)  # one already there

    other = await _say(rest, bob, conv)
    flag = "🏳️‍⚧️"  # one emoji of five code points; extra selectors lengthen it exactly
    longest = flag + "\ufe0f" * (EMOJI_CHARS - len(flag))
    assert len(longest) == EMOJI_CHARS
    await rest.ok("POST", _reaction_path(conv, other, longest), token=alice.access)
    await rest.fails(
        "POST",
        _reaction_path(conv, other, longest + "\ufe0f"),
        400,
        INVALID_EMOJI,
        token=alice.access,
    )
    for text in ["ok", "👍👍", " ", "a👍"]:
        await rest.fails(
            "POST", _reaction_path(conv, other, text), 400, INVALID_EMOJI, token=alice.access
        )
    config = await rest.ok("GET", "config")
    assert config["limits"]["max_reactions_per_message"] == MAX_REACTIONS
    assert config["limits"]["max_pins_per_conversation"] == MAX_PINS


async def test_a_stranger_gets_the_answer_of_a_missing_conversation(rest: Rest) -> None:
    alice, bob, eve = [await register(rest, p) for p in ("alice", "bob", "eve")]
    conv = await direct(rest, alice, bob)
    seq = await _say(rest, alice, conv)
    for target in (conv, "c_doesnotexist"):
        answers = [
            await rest.fails(
                "POST",
                _reaction_path(target, seq, "👍"),
                404,
                CONVERSATION_NOT_FOUND,
                token=eve.access,
            ),
            await rest.fails(
                "POST",
                f"conversations/{target}/pins",
                404,
                CONVERSATION_NOT_FOUND,
                token=eve.access,
                json={"seq": seq},
            ),
            await rest.fails(
                "GET", f"conversations/{target}/pins", 404, CONVERSATION_NOT_FOUND, token=eve.access
            ),
        ]
        assert {a.body["message"] for a in answers if isinstance(a.body, dict)} == {
            "conversation not found"
        }


async def test_who_pins_the_cap_the_list_and_a_recall_unpinning(
    rest: Rest, devices: Devices
) -> None:
    owner, member, peer = [await register(rest, p) for p in ("owner", "member", "peer")]
    conv = (await create_group(rest, owner, [member]))["id"]
    one, two, three = [await _say(rest, member, conv, t) for t in ("one", "two", "three")]
    pins = f"conversations/{conv}/pins"
    await rest.fails("POST", pins, 403, NOT_ADMIN, token=member.access, json={"seq": one})
    member_ws = await devices.open(member)
    pinned = await rest.ok("POST", pins, token=owner.access, json={"seq": one})
    pushed = await member_ws.expect("msg", conv=conv, seq=pinned["seq"])
    assert (pushed["kind"], pushed["body"], pushed["from"]) == ("pin", {"seq": one}, owner.id)
    await rest.fails("POST", pins, 409, ALREADY_PINNED, token=owner.access, json={"seq": one})
    await rest.ok("POST", pins, token=owner.access, json={"seq": two})
    await rest.fails("POST", pins, 400, TOO_MANY_PINS, token=owner.access, json={"seq": three})

    listed = await rest.ok("GET", pins, token=member.access)
    assert [(p["seq"], p["by"]) for p in listed["items"]] == [(two, owner.id), (one, owner.id)]
    assert listed["items"][0]["message"]["body"] == {"text": "two"}

    await rest.ok(
        "POST",
        f"conversations/{conv}/messages",
        token=owner.access,
        json={"cid": unique_name("r"), "kind": "recall", "body": {"seq": two}},
    )
    listed = await rest.ok("GET", pins, token=member.access)
    assert [p["seq"] for p in listed["items"]] == [one]
    await rest.fails("DELETE", f"{pins}/{three}", 404, PIN_NOT_FOUND, token=owner.access)
    await rest.ok("DELETE", f"{pins}/{one}", token=owner.access)
    assert (await rest.ok("GET", pins, token=member.access))["items"] == []

    chat = await direct(rest, member, peer)  # a direct chat: either party pins
    said = await _say(rest, peer, chat)
    await rest.ok("POST", f"conversations/{chat}/pins", token=member.access, json={"seq": said})
    await rest.ok("DELETE", f"conversations/{chat}/pins/{said}", token=peer.access)
