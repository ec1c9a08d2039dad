"""The WebSocket protocol against a real server (docs/protocol.md, "WebSocket /ws"): auth,
send/ack/msg fan-out, pull and sync, watermarks and receipts, typing, limits and the close
codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .wsclient import (
    Account,
    Frame,
    RawSocket,
    Rest,
    WsClient,
    connect,
    direct,
    pull_everything,
    register,
)

BAD_REQUEST, MALFORMED_FRAME, UNKNOWN_TYPE, INVALID_BODY = 40000, 40001, 40002, 40003
NUMBER_OUT_OF_RANGE = 40009
NOT_AUTHENTICATED, CONVERSATION_NOT_FOUND, ALREADY_AUTHENTICATED = 40100, 40402, 40902
MESSAGE_TOO_LARGE, RATE_LIMITED = 41301, 42900
MISSING_CONV = "c_01doesnotexist00000000000"


async def _pair(rest: Rest) -> tuple[Account, Account, str]:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    return alice, bob, await direct(rest, alice, bob)


def _text(conv: str, text: str, cid: str | None = None) -> Frame:
    return {
        "t": "send",
        "cid": cid or unique_name("c"),
        "conv": conv,
        "kind": "text",
        "body": {"text": text},
    }


@pytest.fixture
async def sockets(http: aiohttp.ClientSession) -> AsyncIterator[list[WsClient]]:
    """Sockets a test opened; all closed afterwards whatever happened (before ``http``,
    which they depend on, closes its session)."""
    opened: list[WsClient] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
def open_socket(
    http: aiohttp.ClientSession, shared_server: ServerProcess, sockets: list[WsClient]
) -> Callable[..., Any]:
    async def make(account: Account, device: str | None = None) -> WsClient:
        client, _ = await connect(http, shared_server, account, device)
        sockets.append(client)
        return client

    return make


# --- authentication


async def test_ready_describes_the_connection(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess, sockets: list[WsClient]
) -> None:
    account = await register(rest, device="desk")
    client = await WsClient.open(http, shared_server)
    sockets.append(client)
    ready = await client.request({"t": "auth", "token": account.access}, reply="ready")
    assert ready["user"] == account.id
    assert ready["device"] == "desk"
    assert ready["session"] == account.session
    assert ready["heartbeat"] == 25
    assert isinstance(ready["server_time"], int)
    assert ready["server_time"] > 1_600_000_000_000  # milliseconds, not seconds

    other = await WsClient.open(http, shared_server)
    sockets.append(other)
    named = await other.request({"t": "auth", "token": account.access, "device": "tablet"})
    assert named["t"] == "ready"
    assert named["device"] == "desk"  # the login's name; an auth frame's device is ignored


async def test_the_first_frame_must_be_auth(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess, sockets: list[WsClient]
) -> None:
    account = await register(rest)
    client = await WsClient.open(http, shared_server)
    sockets.append(client)
    refused = await client.request({"t": "ping"})
    assert refused["t"] == "error"
    assert refused["code"] == NOT_AUTHENTICATED
    garbage = await client.request({"t": "no-such-type"})
    assert garbage["code"] == UNKNOWN_TYPE
    await client.request({"t": "auth", "token": account.access}, reply="ready")
    again = await client.request({"t": "auth", "token": account.access})
    assert again["t"] == "error"
    assert again["code"] == ALREADY_AUTHENTICATED
    await client.barrier()


@pytest.fixture(scope="module")
def fast_timers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with a 1 s auth timeout and a 1 s heartbeat (closes after 2 s of silence)."""
    server = ServerProcess(
        tmp_path_factory.mktemp("timers"),
        env={"PIGEON_AUTH_TIMEOUT_S": "1", "PIGEON_HEARTBEAT_S": "1"},
    )
    server.start()
    yield server
    server.stop()


async def test_no_auth_in_time_closes_with_4002(
    http: aiohttp.ClientSession, fast_timers_server: ServerProcess
) -> None:
    client = await WsClient.open(http, fast_timers_server)
    try:
        assert await client.closed() == 4002
    finally:
        await client.close()


async def test_a_silent_connection_is_closed_with_4010(
    http: aiohttp.ClientSession, fast_timers_server: ServerProcess
) -> None:
    account = await register(Rest(http, fast_timers_server))
    client, ready = await connect(http, fast_timers_server, account)
    try:
        assert ready["heartbeat"] == 1
        assert await client.closed() == 4010
    finally:
        await client.close()


async def test_pings_keep_a_connection_alive(
    http: aiohttp.ClientSession, fast_timers_server: ServerProcess
) -> None:
    account = await register(Rest(http, fast_timers_server))
    client, _ = await connect(http, fast_timers_server, account)
    try:
        # Pinging well inside the heartbeat, as a client should, for longer than the
        # 2 s silence limit: the socket stays open throughout.
        for _ in range(12):
            pong = await client.request({"t": "ping"}, reply="pong")
            assert isinstance(pong["ts"], int)
            await asyncio.sleep(0.25)
        await client.barrier()
    finally:
        await client.close()


# --- sending


async def test_send_acks_with_gapless_seqs_and_fans_out_to_every_other_device(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, bob, conv = await _pair(rest)
    sender = await open_socket(alice, "a-phone")
    alice_other = await open_socket(alice, "a-laptop")
    bob_devices = [await open_socket(bob, "b-phone"), await open_socket(bob, "b-laptop")]

    acks = [await sender.request(_text(conv, f"hello {n}", f"cid-{n}")) for n in range(1, 6)]
    for n, ack in enumerate(acks, start=1):
        assert ack["t"] == "ack"
        assert ack["seq"] == n
        assert ack["cid"] == f"cid-{n}"
        assert ack["conv"] == conv
        assert isinstance(ack["id"], str)
        assert isinstance(ack["ts"], int)
    assert len({ack["id"] for ack in acks}) == 5

    for receiver in [alice_other, *bob_devices]:
        for n, ack in enumerate(acks, start=1):
            msg = await receiver.expect("msg", conv=conv, seq=n)
            assert msg["id"] == ack["id"]
            assert msg["ts"] == ack["ts"]
            assert msg["from"] == alice.id
            assert msg["cid"] == f"cid-{n}"
            assert msg["kind"] == "text"
            assert msg["body"] == {"text": f"hello {n}"}
    await sender.barrier()
    assert sender.taken("msg") == []  # the sending connection gets acks, not its own msgs


async def test_a_resent_cid_returns_the_original_and_is_not_pushed_again(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, bob, conv = await _pair(rest)
    sender, receiver = await open_socket(alice), await open_socket(bob)
    first = await sender.request(_text(conv, "once", "same-cid"))
    again = await sender.request(_text(conv, "a different body", "same-cid"))
    assert {k: again[k] for k in ("seq", "id", "ts", "cid")} == {
        k: first[k] for k in ("seq", "id", "ts", "cid")
    }
    await receiver.expect("msg", conv=conv, seq=first["seq"])
    nxt = await sender.request(_text(conv, "next"))
    assert nxt["seq"] == first["seq"] + 1
    await receiver.expect("msg", conv=conv, seq=nxt["seq"])
    assert receiver.taken("msg") == []
    items = (await receiver.pull(conv))["items"]
    assert [m["body"]["text"] for m in items] == ["once", "next"]


async def test_unknown_fields_are_ignored(rest: Rest, open_socket: Callable[..., Any]) -> None:
    alice, _, conv = await _pair(rest)
    client = await open_socket(alice)
    ack = await client.request({**_text(conv, "hi"), "x-extension": {"any": 1}, "priority": 9})
    assert ack["t"] == "ack"
    pong = await client.request({"t": "ping", "extra": True})
    assert pong["t"] == "pong"


async def test_a_body_over_the_limit_is_refused_and_nothing_is_stored(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, _, conv = await _pair(rest)
    client = await open_socket(alice)
    too_long = await client.request(_text(conv, "x" * 4001, "long-text"))
    assert too_long["t"] == "error"
    assert too_long["code"] == MESSAGE_TOO_LARGE
    assert too_long["cid"] == "long-text"
    big = {"t": "send", "cid": "big", "conv": conv, "kind": "custom", "body": {"b": "y" * 20_000}}
    too_big = await client.request(big)
    assert too_big["code"] == MESSAGE_TOO_LARGE
    assert too_big["cid"] == "big"
    page = await client.pull(conv)
    assert page["items"] == []
    [entry] = [c for c in (await client.sync())["convs"] if c["conv"] == conv]
    assert entry["last_seq"] == 0
    # The refused cid was not consumed: it can carry a valid message now.
    assert (await client.send_text(conv, "fits", "big"))["seq"] == 1


async def test_invalid_bodies_and_kinds_are_refused(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, _, conv = await _pair(rest)
    client = await open_socket(alice)
    for kind, body in (
        ("text", {}),
        ("text", {"text": "   "}),
        ("image", {"file_id": "f", "width": 0, "height": 5}),
        ("file", {"file_id": "f"}),
        ("system", {"text": "forged"}),
        ("recall-all", {"seq": 1}),
    ):
        answer = await client.request(
            {"t": "send", "cid": unique_name(), "conv": conv, "kind": kind, "body": body}
        )
        assert answer["t"] == "error", (kind, body)
        assert answer["code"] == INVALID_BODY, (kind, body, answer)
    assert (await client.pull(conv))["items"] == []


# --- pull and sync


async def test_pull_pages_like_history(rest: Rest, open_socket: Callable[..., Any]) -> None:
    alice, bob, conv = await _pair(rest)
    client = await open_socket(alice)
    for n in range(1, 8):
        await client.send_text(conv, f"m{n}")
    reader = await open_socket(bob)

    def seqs(page: Frame) -> list[int]:
        return [m["seq"] for m in page["items"]]

    latest = await reader.pull(conv, limit=3)
    assert seqs(latest) == [5, 6, 7]
    assert latest["more"] is True
    assert latest["conv"] == conv
    before = await reader.pull(conv, before=5, limit=3)
    assert seqs(before) == [2, 3, 4]
    assert before["more"] is True
    after = await reader.pull(conv, after=4, limit=10)
    assert seqs(after) == [5, 6, 7]
    assert after["more"] is False
    assert [m["body"]["text"] for m in await pull_everything(reader, conv)] == [
        f"m{n}" for n in range(1, 8)
    ]
    item = latest["items"][0]
    assert set(item) >= {"conv", "seq", "id", "from", "kind", "body", "ts", "cid"}
    assert "t" not in item


async def test_sync_by_cursor_lists_only_what_changed(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    me = await register(rest)
    peers = [await register(rest) for _ in range(3)]
    convs = [await direct(rest, me, peer) for peer in peers]
    mine = await open_socket(me)

    full = await mine.sync()
    assert {c["conv"] for c in full["convs"]} == set(convs)
    assert full["more"] is False
    for entry in full["convs"]:
        assert entry == {
            "conv": entry["conv"],
            "kind": "direct",
            "last_seq": 0,
            "read_seq": 0,
            "unread": 0,
        }

    quiet = await mine.sync(full["cursor"])
    assert quiet["convs"] == []

    talker = await open_socket(peers[1])
    await talker.send_text(convs[1], "one")
    await talker.send_text(convs[1], "two")
    changed = await mine.sync(quiet["cursor"])
    assert [c["conv"] for c in changed["convs"]] == [convs[1]]
    [entry] = changed["convs"]
    assert entry["last_seq"] == 2
    assert entry["read_seq"] == 0
    assert entry["unread"] == 2
    caught_up = await pull_everything(mine, convs[1], after=0)
    assert [m["body"]["text"] for m in caught_up] == ["one", "two"]

    # The user's own read watermark is a change too (other devices converge on it).
    await mine.send({"t": "read", "conv": convs[1], "seq": 2})
    await mine.barrier()
    read = await mine.sync(changed["cursor"])
    assert [(c["conv"], c["read_seq"], c["unread"]) for c in read["convs"]] == [(convs[1], 2, 0)]
    assert (await mine.sync(read["cursor"]))["convs"] == []


async def test_a_foreign_or_bad_cursor_is_an_error_frame(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    client = await open_socket(await register(rest))
    for cursor in ("not-a-cursor", "-5", "1" * 40):
        answer = await client.request({"t": "sync", "cursor": cursor})
        assert answer["t"] == "error"
        assert answer["code"] == 40008  # INVALID_CURSOR
    await client.barrier()


# --- watermarks, receipts and typing


async def test_read_and_recv_marks_move_forward_and_push_receipts(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, bob, conv = await _pair(rest)
    alice_socket = await open_socket(alice)
    for n in range(4):
        await alice_socket.send_text(conv, f"m{n}")
    bob_reader, bob_other = await open_socket(bob), await open_socket(bob)

    await bob_reader.send({"t": "recv", "conv": conv, "seq": 2})
    receipt = await alice_socket.expect("receipt", conv=conv, user=bob.id)
    assert receipt.get("recv") == 2
    assert "read" not in receipt
    assert (await bob_other.expect("receipt", conv=conv, user=bob.id))["recv"] == 2

    await bob_reader.send({"t": "read", "conv": conv, "seq": 3})
    receipt = await alice_socket.expect("receipt", conv=conv, user=bob.id)
    assert receipt["read"] == 3
    assert receipt["recv"] == 3  # reading implies delivery

    # Backwards and repeated marks change nothing and push nothing.
    for frame in ({"t": "read", "conv": conv, "seq": 1}, {"t": "recv", "conv": conv, "seq": 2}):
        await bob_reader.send(frame)
    await bob_reader.barrier()
    await bob_reader.send({"t": "read", "conv": conv, "seq": 4})
    receipt = await alice_socket.expect("receipt", conv=conv, user=bob.id)
    assert receipt["read"] == 4  # the next receipt alice sees is the forward one

    await bob_reader.barrier()
    assert bob_reader.taken("receipt") == []  # the marking connection hears nothing back
    entry = next(c for c in (await bob_other.sync())["convs"] if c["conv"] == conv)
    assert entry["read_seq"] == 4
    assert entry["unread"] == 0


async def test_marks_beyond_the_stream_are_capped(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, bob, conv = await _pair(rest)
    alice_socket = await open_socket(alice)
    await alice_socket.send_text(conv, "only")
    bob_socket = await open_socket(bob)
    await bob_socket.send({"t": "read", "conv": conv, "seq": 10**9})
    receipt = await alice_socket.expect("receipt", conv=conv, user=bob.id)
    assert receipt["read"] == 1


async def test_ping_is_a_barrier_after_commands_without_replies(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, _, conv = await _pair(rest)
    client = await open_socket(alice)
    await client.send({"t": "typing", "conv": MISSING_CONV, "on": True, "rid": "t1"})
    await client.send({"t": "read", "conv": MISSING_CONV, "seq": 1, "rid": "r1"})
    await client.send({"t": "recv", "conv": conv, "seq": 0, "rid": "ok"})
    pong = await client.request({"t": "ping"}, reply="pong")
    assert isinstance(pong["ts"], int)
    # Both refusals were answered before the pong; the valid recv had no reply.
    errors = client.taken("error")
    assert [(e["rid"], e["code"]) for e in errors] == [
        ("t1", CONVERSATION_NOT_FOUND),
        ("r1", CONVERSATION_NOT_FOUND),
    ]
    assert client.backlog == []


async def test_typing_is_relayed_to_the_peer_only(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, bob, conv = await _pair(rest)
    alice_socket, bob_socket = await open_socket(alice), await open_socket(bob)
    await alice_socket.send({"t": "typing", "conv": conv, "on": True})
    seen = await bob_socket.expect("typing", conv=conv, user=alice.id)
    assert seen["on"] is True
    await alice_socket.send({"t": "typing", "conv": conv, "on": False})
    assert (await bob_socket.expect("typing", conv=conv, user=alice.id))["on"] is False
    await alice_socket.barrier()
    assert alice_socket.taken("typing") == []


# --- malformed input


async def test_malformed_frames_get_errors_and_the_connection_stays_open(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, _, conv = await _pair(rest)
    client = await open_socket(alice)
    for raw, code in (
        ("{not json", MALFORMED_FRAME),
        ("[1, 2, 3]", MALFORMED_FRAME),
        ('"just a string"', MALFORMED_FRAME),
        ('{"no_t": 1}', MALFORMED_FRAME),
        ('{"t": 42}', MALFORMED_FRAME),
        ('{"t": "dance"}', UNKNOWN_TYPE),
    ):
        await client.send_raw(raw)
        answer = await client.expect("error")
        assert answer["code"] == code, (raw, answer)
    await client.ws.send_bytes(b"\x00\x01binary")
    assert (await client.expect("error"))["code"] == MALFORMED_FRAME
    wrong_types: list[Frame] = [
        {"t": "send", "cid": 5, "conv": conv, "kind": "text", "body": {"text": "x"}},
        {"t": "send", "cid": "", "conv": conv, "kind": "text", "body": {"text": "x"}},
        {"t": "send", "cid": "c" * 65, "conv": conv, "kind": "text", "body": {"text": "x"}},
        {"t": "send", "cid": "ok", "conv": conv, "kind": "text", "body": "text"},
        {
            "t": "send",
            "cid": "ok",
            "conv": conv,
            "kind": "text",
            "body": {"text": "x"},
            "mentions": "all",
        },
        {"t": "pull", "conv": conv, "limit": "ten"},
        {"t": "pull", "conv": conv, "limit": 0},
        {"t": "pull", "conv": conv, "after": 1.5},
        {"t": "pull"},
        {"t": "read", "conv": conv, "seq": True},
        {"t": "typing", "conv": conv, "on": "yes"},
        {"t": "sync", "cursor": 12},
    ]
    for frame in wrong_types:
        answer = await client.request(frame)
        assert answer["t"] == "error", frame
        assert answer["code"] == BAD_REQUEST, (frame, answer)
        assert "Traceback" not in answer["message"]
    out_of_range: list[Frame] = [
        {"t": "send", "cid": "ok", "conv": conv, "kind": "text", "body": {}, "reply_to": -1},
        {"t": "recv", "conv": conv, "seq": -3},
    ]
    for frame in out_of_range:  # the integer rule REST applies too: docs/protocol.md
        assert (await client.request(frame))["code"] == NUMBER_OUT_OF_RANGE, frame
    answer = await client.request(
        {"t": "send", "cid": "named", "conv": conv, "kind": "text", "body": 1}
    )
    assert answer["cid"] == "named"  # an error about a send names the send
    assert (await client.send_text(conv, "still here"))["seq"] == 1


async def test_a_frame_over_the_limit_closes_with_1009(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess
) -> None:
    account = await register(rest)
    client, _ = await connect(http, shared_server, account)
    try:
        limit = (await rest.ok("GET", "config"))["limits"]["max_frame_bytes"]
        await client.send({"t": "ping", "pad": "x" * (limit + 1)})
        assert await client.closed() == 1009
    finally:
        await client.close()


# --- strangers


async def test_a_stranger_gets_exactly_the_error_of_a_missing_conversation(
    rest: Rest, open_socket: Callable[..., Any]
) -> None:
    alice, _, conv = await _pair(rest)
    owner = await open_socket(alice)
    await owner.send_text(conv, "private")
    stranger = await open_socket(await register(rest))
    for template in (
        {"t": "pull", "conv": "{}"},
        {"t": "pull", "conv": "{}", "after": 0},
        {"t": "send", "cid": "s1", "conv": "{}", "kind": "text", "body": {"text": "hi"}},
        {
            "t": "send",
            "cid": "s2",
            "conv": "{}",
            "kind": "text",
            "body": {"text": "hi"},
            "reply_to": 1,
        },
        {"t": "read", "conv": "{}", "seq": 1},
        {"t": "recv", "conv": "{}", "seq": 1},
        {"t": "typing", "conv": "{}", "on": True},
    ):
        real = await stranger.request({**template, "conv": conv})
        missing = await stranger.request({**template, "conv": MISSING_CONV})
        for answer in (real, missing):
            answer.pop("rid")
        assert real["t"] == "error", template
        assert real["code"] == CONVERSATION_NOT_FOUND, template
        assert real == missing, template
    entries = (await stranger.sync())["convs"]
    assert entries == []
    assert [m["body"] for m in (await owner.pull(conv))["items"]] == [{"text": "private"}]


# --- limits that close the connection


async def test_send_rate_limit_errors_then_closes_with_4008(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    # A bucket that refills once per 100 s: the third send inside the test is always
    # over the limit, however slow the machine.
    server = server_factory(
        env={
            "PIGEON_SEND_RATE_PER_S": "0.01",
            "PIGEON_SEND_BURST": "2",
            "PIGEON_RATE_VIOLATIONS_BEFORE_CLOSE": "3",
        }
    )
    rest = Rest(http, server)
    alice, _, conv = await _pair(rest)
    client, _ = await connect(http, server, alice)
    try:
        for n in (1, 2):
            assert (await client.send_text(conv, f"ok {n}"))["seq"] == n
        for _ in range(2):
            refused = await client.request(_text(conv, "too fast"))
            assert refused["t"] == "error"
            assert refused["code"] == RATE_LIMITED
            assert "cid" in refused
        await client.send(_text(conv, "still too fast"))
        assert await client.closed() == 4008
    finally:
        await client.close()
    items = (await rest.ok("GET", f"conversations/{conv}/messages", token=alice.access))["items"]
    assert [m["seq"] for m in items] == [1, 2]


async def test_a_slow_consumer_is_closed_with_4009_and_recovers_by_sync(
    http: aiohttp.ClientSession, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(
        env={
            "PIGEON_SEND_QUEUE_BYTES": "200000",
            "PIGEON_SEND_RATE_PER_S": "100000",
            "PIGEON_SEND_BURST": "100000",
            "PIGEON_MAX_TEXT_CHARS": "60000",
            "PIGEON_MAX_BODY_BYTES": "61000",
        }
    )
    rest = Rest(http, server)
    alice, bob, conv = await _pair(rest)
    sender, _ = await connect(http, server, alice)
    slow = await RawSocket.open(server)
    try:
        await slow.send({"t": "auth", "token": bob.access, "device": "stalled"})
        assert (await slow.read_frame())["t"] == "ready"
        # bob's socket now reads nothing; alice keeps sending big messages until the
        # server gives up on bob (its dropped-push counter moves).
        sent = 0
        for _ in range(2000):
            await sender.send_text(conv, f"{sent:06d}" + "z" * 50_000)
            sent += 1
            if await _pushes_dropped(rest) > 0:
                break
        assert await _pushes_dropped(rest) > 0, f"no push dropped after {sent} messages"
        pushed, code = await slow.drain_until_close()
        assert code == 4009
        assert len(pushed) < sent
    finally:
        slow.close()
        await sender.close()

    recovering, _ = await connect(http, server, bob)
    try:
        [entry] = (await recovering.sync())["convs"]
        assert entry["last_seq"] == sent
        items = await pull_everything(recovering, conv)
        assert [m["seq"] for m in items] == list(range(1, sent + 1))
        assert [m["body"]["text"][:6] for m in items] == [f"{n:06d}" for n in range(sent)]
    finally:
        await recovering.close()


async def _pushes_dropped(rest: Rest) -> float:
    reply = await rest.call("GET", "/metrics")
    for line in reply.text.splitlines():
        if line.startswith("pigeon_pushes_dropped_total "):
            return float(line.split()[1])
    return 0.0
