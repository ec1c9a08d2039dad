"""Forwarding through a real server, on SQLite and on PostgreSQL.

A forwarded copy names its original's author and time in history, live pushes and
sync; an image travels by its file id, which the forwarder and the target's members
may then download while a stranger still cannot reference it; a conversation the
caller may not read answers exactly like a missing message; a retried cid gives the
first copy back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .backends import BACKENDS, serve_on
from .people import create_group, remove
from .test_files import describe, fetch, jpeg_photo, upload
from .wsclient import Account, Rest, connect, direct, history, register, send_rest

BAD_REQUEST, NOT_FORWARDABLE, MESSAGE_NOT_FOUND, FILE_NOT_FOUND = 40000, 40085, 40403, 40404


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_on(request.param, tmp_path_factory, "forward")


@pytest.fixture
def rest(http: aiohttp.ClientSession, backend_server: ServerProcess) -> Rest:
    return Rest(http, backend_server)


async def _forward(rest: Rest, who: Account, conv: str, seq: int, to: str, cid: str) -> Any:
    return await rest.call(
        "POST",
        f"conversations/{conv}/messages/{seq}/forward",
        token=who.access,
        json={"cid": cid, "to": to},
    )


async def _people(rest: Rest) -> tuple[Account, Account, Account]:
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    return alice, bob, carol


async def test_a_text_forwarded_over_the_websocket_is_attributed_everywhere(
    rest: Rest, http: aiohttp.ClientSession, backend_server: ServerProcess
) -> None:
    alice, bob, carol = await _people(rest)
    source = (await create_group(rest, alice, [bob]))["id"]
    target = await direct(rest, bob, carol)
    original = await send_rest(rest, alice, source, "meet at noon", unique_name("c"))
    bob_ws, _ = await connect(http, backend_server, bob)
    carol_ws, _ = await connect(http, backend_server, carol)
    try:
        cid = unique_name("f")
        frame = {"t": "send", "cid": cid, "conv": target}
        refused = await bob_ws.request(
            {**frame, "kind": "text", "forward": {"conv": source, "seq": original["seq"]}}
        )
        assert (refused["t"], refused["code"], refused["cid"]) == ("error", BAD_REQUEST, cid)
        ack = await bob_ws.request(
            {**frame, "forward": {"conv": source, "seq": original["seq"]}}, reply="ack"
        )
        pushed = await carol_ws.expect("msg", conv=target, seq=ack["seq"])
        attribution = {"from": alice.id, "ts": original["ts"]}
        assert (pushed["from"], pushed["kind"], pushed["body"]) == (
            bob.id,
            "text",
            {"text": "meet at noon"},
        )
        assert pushed["forwarded"] == attribution
        assert "conv" not in pushed["forwarded"]  # the source is never shown
        page = await carol_ws.pull(target, after=0)
        assert page["items"][-1]["forwarded"] == attribution
        # the same cid again, over REST this time: the first copy's ack, nothing new
        again = await _forward(rest, bob, source, original["seq"], target, cid)
        assert (again.status, again.data["seq"], again.data["id"]) == (200, ack["seq"], ack["id"])
        latest = await history(rest, carol, target)
        assert [m["seq"] for m in latest["items"]] == [ack["seq"]]
        assert latest["items"][0]["forwarded"] == attribution
    finally:
        await bob_ws.close()
        await carol_ws.close()


async def test_an_image_is_forwarded_by_its_file_id_and_strangers_still_cannot_use_it(
    rest: Rest, http: aiohttp.ClientSession
) -> None:
    alice, bob, carol = await _people(rest)
    dave = await register(rest, "dave")
    source = (await create_group(rest, alice, [bob]))["id"]
    target = await direct(rest, bob, carol)
    photo = await upload(rest, alice, jpeg_photo(), "photo.jpg")
    body = {"file_id": photo["id"], "width": photo["width"], "height": photo["height"]}
    payload = {"cid": unique_name("c"), "kind": "image", "body": body}
    sent = await rest.ok(
        "POST", f"conversations/{source}/messages", token=alice.access, json=payload
    )
    await rest.fails("GET", f"files/{photo['id']}", 404, FILE_NOT_FOUND, token=carol.access)

    copy = await _forward(rest, bob, source, sent["seq"], target, unique_name("f"))
    assert copy.status == 200, copy.text
    item = (await history(rest, carol, target))["items"][-1]
    assert (item["kind"], item["body"]["file_id"]) == ("image", photo["id"])
    for reader in (bob, carol):  # the forwarder and the target's member download it
        status, content, _ = await fetch(http, (await describe(rest, reader, photo["id"]))["url"])
        assert (status, len(content) > 0) == (200, True)

    # Referencing a file still needs an upload of one's own, or a forward of a message
    # one reads: not for dave, who reads neither conversation, nor for bob by hand.
    dave_conv = await direct(rest, dave, carol)
    for who, conv in ((dave, dave_conv), (bob, target)):
        stolen = {"cid": unique_name("s"), "kind": "image", "body": body}
        await rest.fails(
            "POST",
            f"conversations/{conv}/messages",
            404,
            FILE_NOT_FOUND,
            token=who.access,
            json=stolen,
        )
    await rest.fails("GET", f"files/{photo['id']}", 404, FILE_NOT_FOUND, token=dave.access)


async def test_what_the_caller_may_not_read_is_not_found_and_recalls_are_refused(
    rest: Rest,
) -> None:
    alice, bob, carol = await _people(rest)
    source = (await create_group(rest, alice, [bob]))["id"]
    target = await direct(rest, bob, carol)
    kept = await send_rest(rest, alice, source, "before bob leaves", unique_name("c"))
    gone = await send_rest(rest, alice, source, "to be recalled", unique_name("c"))
    recall = await rest.ok(
        "POST",
        f"conversations/{source}/messages",
        token=alice.access,
        json={"cid": unique_name("r"), "kind": "recall", "body": {"seq": gone["seq"]}},
    )
    for seq in (gone["seq"], recall["seq"]):
        reply = await _forward(rest, bob, source, seq, target, unique_name("f"))
        assert (reply.status, reply.code) == (400, NOT_FORWARDABLE), reply.text

    # carol never was in the group; seq 9999 does not exist: the same answer
    outsider = await _forward(rest, carol, source, kept["seq"], target, unique_name("f"))
    missing = await _forward(rest, bob, source, 9999, target, unique_name("f"))
    await remove(rest, alice, source, bob)
    departed = await _forward(rest, bob, source, kept["seq"], target, unique_name("f"))
    for reply in (outsider, missing, departed):
        assert (reply.status, reply.code) == (404, MESSAGE_NOT_FOUND), reply.text
    assert departed.body["message"] == missing.body["message"]
