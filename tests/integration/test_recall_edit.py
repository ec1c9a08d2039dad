"""Recall and edit against a real server with a short recall window: who may change
which message, when, and what history and pulls show afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness import ServerProcess, unique_name

from .live import (
    CONFLICT,
    FORBIDDEN,
    INVALID_BODY,
    MESSAGE_NOT_FOUND,
    Devices,
    amend,
    run_server,
    wait_server_time_past,
)
from .people import create_group, make_admin
from .wsclient import Frame, Rest, WsClient, all_history, direct, register

# Short, so tests can wait it out; long enough that a recall sent right after its
# message's ack is inside it even when a loaded machine stretches each round trip.
RECALL_WINDOW_S = 5


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"PIGEON_RECALL_WINDOW_S": str(RECALL_WINDOW_S)}
    yield from run_server(tmp_path_factory.mktemp("recall"), env)


async def _accepted(
    client: WsClient, conv: str, kind: str, body: Frame, cid: str | None = None
) -> Frame:
    answer = await amend(client, conv, kind, body, cid)
    assert answer["t"] == "ack", answer
    return answer


async def _refused(client: WsClient, conv: str, kind: str, body: Frame, code: int) -> None:
    cid = unique_name("a")
    answer = await amend(client, conv, kind, body, cid)
    assert answer["t"] == "error", answer
    assert (answer["code"], answer["cid"]) == (code, cid), answer


async def _by_seq(rest: Rest, viewer: Any, conv: str) -> dict[int, Frame]:
    return {m["seq"]: m for m in await all_history(rest, viewer, conv)}


async def _past_the_window(client: WsClient, sent: Frame) -> None:
    """Wait (bounded) until the server's clock says ``sent`` is out of the window."""
    await wait_server_time_past(client, sent["ts"] + RECALL_WINDOW_S * 1000)


async def test_the_window_is_published(rest: Rest) -> None:
    config = await rest.ok("GET", "config")
    assert config["limits"]["recall_window_s"] == RECALL_WINDOW_S


async def test_the_sender_recalls_inside_the_window_and_not_after(
    rest: Rest, devices: Devices
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)

    quick = await alice_ws.send_text(conv, "sent by mistake")
    recall_cid = unique_name("a")
    recall = await _accepted(alice_ws, conv, "recall", {"seq": quick["seq"]}, recall_cid)
    assert recall["seq"] == quick["seq"] + 1  # an entry of the stream, with its own seq
    pushed = await bob_ws.expect("msg", conv=conv, seq=recall["seq"])
    assert (pushed["kind"], pushed["body"], pushed["from"]) == (
        "recall",
        {"seq": quick["seq"]},
        alice.id,
    )

    late = await alice_ws.send_text(conv, "stays")
    await _past_the_window(alice_ws, late)
    await _refused(alice_ws, conv, "recall", {"seq": late["seq"]}, FORBIDDEN)
    # A retry of the recall made in time returns its original ack, window or not.
    retried = await _accepted(alice_ws, conv, "recall", {"seq": quick["seq"]}, recall_cid)
    assert (retried["seq"], retried["id"]) == (recall["seq"], recall["id"])
    # Editing has no window.
    edit = await _accepted(alice_ws, conv, "edit", {"seq": late["seq"], "text": "stays, edited"})

    history = await _by_seq(rest, bob, conv)
    assert sorted(history) == [quick["seq"], recall["seq"], late["seq"], edit["seq"]]
    assert history[quick["seq"]]["recalled"] is True
    assert history[quick["seq"]]["body"] == {}
    assert history[late["seq"]]["body"] == {"text": "stays, edited"}
    assert history[late["seq"]]["edited_at"] == edit["ts"]
    assert "recalled" not in history[late["seq"]]
    pulled = await bob_ws.pull(conv, after=0)
    assert pulled["items"] == list(history.values())


async def test_group_admins_recall_anyones_message_any_time(rest: Rest, devices: Devices) -> None:
    owner, admin, member, other = [
        await register(rest, n) for n in ("owner", "admin", "member", "other")
    ]
    conv = (await create_group(rest, owner, [admin, member, other]))["id"]
    await make_admin(rest, owner, conv, admin)
    owner_ws, admin_ws = await devices.open(owner), await devices.open(admin)
    member_ws, other_ws = await devices.open(member), await devices.open(other)
    by_member = await member_ws.send_text(conv, "regrettable")
    by_other = await other_ws.send_text(conv, "also regrettable")
    await _past_the_window(member_ws, by_other)

    await _refused(member_ws, conv, "recall", {"seq": by_member["seq"]}, FORBIDDEN)
    await _refused(other_ws, conv, "recall", {"seq": by_member["seq"]}, FORBIDDEN)
    by_admin = await _accepted(admin_ws, conv, "recall", {"seq": by_member["seq"]})
    by_owner = await _accepted(owner_ws, conv, "recall", {"seq": by_other["seq"]})
    for client in (member_ws, other_ws):
        await client.expect("msg", conv=conv, seq=by_admin["seq"], kind="recall")
        await client.expect("msg", conv=conv, seq=by_owner["seq"], kind="recall")
    # An admin may recall, but not edit, what others wrote.
    await _refused(admin_ws, conv, "edit", {"seq": by_other["seq"], "text": "x"}, CONFLICT)
    fresh = await other_ws.send_text(conv, "fresh")
    await _refused(admin_ws, conv, "edit", {"seq": fresh["seq"], "text": "x"}, FORBIDDEN)

    history = await _by_seq(rest, member, conv)
    for seq in (by_member["seq"], by_other["seq"]):
        assert (history[seq]["recalled"], history[seq]["body"]) == (True, {})
    assert history[by_admin["seq"]]["from"] == admin.id


async def test_only_the_sender_edits_and_only_text(rest: Rest, devices: Devices) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)
    text = await alice_ws.send_text(conv, "typo")
    custom = await alice_ws.request(
        {"t": "send", "cid": unique_name("c"), "conv": conv, "kind": "custom", "body": {"x": 1}}
    )
    assert custom["t"] == "ack", custom

    await _refused(bob_ws, conv, "edit", {"seq": text["seq"], "text": "mine now"}, FORBIDDEN)
    await _refused(bob_ws, conv, "recall", {"seq": text["seq"]}, FORBIDDEN)  # no admins here
    await _refused(alice_ws, conv, "edit", {"seq": custom["seq"], "text": "x"}, INVALID_BODY)

    first = await _accepted(alice_ws, conv, "edit", {"seq": text["seq"], "text": "type"})
    second = await _accepted(alice_ws, conv, "edit", {"seq": text["seq"], "text": "typed"})
    pushed = await bob_ws.expect("msg", conv=conv, seq=first["seq"])
    assert pushed["body"] == {"seq": text["seq"], "text": "type"}
    await bob_ws.expect("msg", conv=conv, seq=second["seq"])
    history = await _by_seq(rest, alice, conv)
    assert history[text["seq"]]["body"] == {"text": "typed"}  # the latest edit wins
    assert history[text["seq"]]["edited_at"] == second["ts"]
    assert history[first["seq"]]["kind"] == "edit"
    # Entries themselves cannot be amended; neither can what is not there.
    await _refused(alice_ws, conv, "edit", {"seq": first["seq"], "text": "x"}, MESSAGE_NOT_FOUND)
    await _refused(alice_ws, conv, "recall", {"seq": second["seq"]}, MESSAGE_NOT_FOUND)
    await _refused(alice_ws, conv, "recall", {"seq": 10_000}, MESSAGE_NOT_FOUND)
    stored = len(history)
    assert len(await all_history(rest, alice, conv)) == stored  # refusals stored nothing


async def test_a_recalled_message_cannot_be_changed_again(rest: Rest, devices: Devices) -> None:
    owner, member = await register(rest, "owner"), await register(rest, "member")
    conv = (await create_group(rest, owner, [member]))["id"]
    member_ws = await devices.open(member)
    created = await all_history(rest, member, conv)
    system_seq = created[-1]["seq"]
    sent = await member_ws.send_text(conv, "going away")
    await _accepted(member_ws, conv, "recall", {"seq": sent["seq"]})
    await _refused(member_ws, conv, "recall", {"seq": sent["seq"]}, CONFLICT)
    await _refused(member_ws, conv, "edit", {"seq": sent["seq"], "text": "back"}, CONFLICT)
    # System messages are the server's own: nobody recalls them.
    await _refused(member_ws, conv, "recall", {"seq": system_seq}, MESSAGE_NOT_FOUND)
    # The same rules hold over REST.
    reply = await rest.call(
        "POST",
        f"conversations/{conv}/messages",
        token=owner.access,
        json={"cid": unique_name("a"), "kind": "recall", "body": {"seq": system_seq}},
    )
    assert (reply.status, reply.code) == (404, MESSAGE_NOT_FOUND), reply.text
