"""Protobuf over WebSocket against a real server, from a Python client built on the
``websockets`` library and the codec of ``pigeon.protocol.wire``.

The subprotocol ``pigeon.v1.proto`` selects Protobuf in binary messages; every frame a
Protobuf client sees must decode to the very dict a JSON client sees for the same event
(and that REST history holds), and a fan-out reaches each receiver in its own codec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

import pytest

from harness import ServerProcess
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.pb import pigeon_pb2

from .codecclient import JSON, PROTO, CodecSocket
from .people import MISSING_CONV, create_group
from .wsclient import Account, Frame, Rest, all_history, direct, login, register

Open = Callable[[Sequence[str] | None], Coroutine[Any, Any, CodecSocket]]

# A custom body that only JSON text carries exactly: 2^53 - 1, an integer 1, nesting, null.
CARD = {"n": 2**53 - 1, "one": 1, "half": 0.5, "nested": {"list": [1, "two", None]}}


@pytest.fixture
async def open_socket(shared_server: ServerProcess) -> AsyncIterator[Open]:
    """Open a ``CodecSocket`` to the shared server offering some subprotocols."""
    opened: list[CodecSocket] = []

    async def make(offer: Sequence[str] | None) -> CodecSocket:
        socket = await CodecSocket.open(shared_server, offer)
        opened.append(socket)
        return socket

    yield make
    for socket in opened:
        await socket.close()


async def signed_in(
    open_socket: Open, offer: Sequence[str] | None, account: Account
) -> CodecSocket:
    socket = await open_socket(offer)
    ready = await socket.auth(account.access)
    assert ready["user"] == account.id
    return socket


def send(conv: str, cid: str, body: Frame, kind: str = "text") -> Frame:
    return {"t": "send", "cid": cid, "conv": conv, "kind": kind, "body": body}


def pushed(message: Frame) -> Frame:
    """The ``msg`` push of a stored message (REST history's item)."""
    return {"t": "msg", **message}


async def test_protobuf_client_chats_with_a_json_peer(rest: Rest, open_socket: Open) -> None:
    alice, bob = await register(rest, "pb"), await register(rest, "js")
    conv = await direct(rest, alice, bob)
    proto = await signed_in(open_socket, PROTO, alice)
    json = await signed_in(open_socket, None, bob)
    assert (proto.subprotocol, json.subprotocol) == ("pigeon.v1.proto", None)

    ack = await proto.request(send(conv, "hello-1", {"text": "hello over protobuf"}), "ack")
    assert (ack["cid"], ack["conv"], ack["seq"]) == ("hello-1", conv, 1)
    from_proto = await json.expect("msg", conv=conv, seq=1)
    await json.request(send(conv, "card-1", CARD, kind="custom"), "ack")
    from_json = await proto.expect("msg", conv=conv, seq=2)

    stored = await all_history(rest, bob, conv)
    assert [from_proto, from_json] == [pushed(m) for m in stored]
    assert from_json["body"] == CARD
    assert type(from_json["body"]["one"]) is int

    # Sync from no cursor, then from its cursor: only what changed since.
    first = await proto.request({"t": "sync"}, "sync")
    assert [(c["conv"], c["last_seq"]) for c in first["convs"]] == [(conv, 2)]
    quiet = await proto.request({"t": "sync", "cursor": first["cursor"]}, "sync")
    assert quiet["convs"] == []
    await json.request(send(conv, "later-1", {"text": "while you were away"}), "ack")
    later = await proto.request({"t": "sync", "cursor": first["cursor"]}, "sync")
    assert [(c["conv"], c["last_seq"]) for c in later["convs"]] == [(conv, 3)]

    page = await proto.request({"t": "pull", "conv": conv, "after": 0, "limit": 10}, "messages")
    assert page["items"] == await all_history(rest, alice, conv)
    assert page["more"] is False

    # A refused command names its rid and cid in Protobuf too.
    refused = await proto.request(send(MISSING_CONV, "lost-1", {"text": "anyone?"}))
    assert (refused["t"], refused["code"]) == ("error", ErrorCode.CONVERSATION_NOT_FOUND)
    assert refused["cid"] == "lost-1"


async def test_bad_frames_are_refused_in_either_codec(rest: Rest, open_socket: Open) -> None:
    account = await register(rest, "bad")
    proto = await signed_in(open_socket, PROTO, account)
    newer_frame = bytes([0x9A, 0x06, 0x00])  # field 99, empty: a frame of a newer schema
    server_frame = pigeon_pb2.Envelope(pong=pigeon_pb2.Pong(ts=1)).SerializeToString()
    refusals: list[tuple[str | bytes, ErrorCode]] = [
        (b"\x1a\x7f", ErrorCode.MALFORMED_FRAME),  # not an Envelope: truncated field
        (b"", ErrorCode.MALFORMED_FRAME),  # an Envelope without a frame
        ('{"t": "ping"}', ErrorCode.MALFORMED_FRAME),  # a text message
        (newer_frame, ErrorCode.UNKNOWN_TYPE),
        (server_frame, ErrorCode.UNKNOWN_TYPE),  # not a command
    ]
    for data, code in refusals:
        await proto.send_raw(data)
        error = await proto.expect("error")
        assert error["code"] == code, (data, error)
    await proto.request({"t": "ping"}, "pong")  # still open

    json = await signed_in(open_socket, JSON, account)
    await json.send_raw(pigeon_pb2.Envelope(ping=pigeon_pb2.Ping()).SerializeToString())
    assert (await json.expect("error"))["code"] == ErrorCode.MALFORMED_FRAME
    await json.request({"t": "ping"}, "pong")
    assert proto.backlog == []


async def test_a_bad_token_is_answered_in_protobuf_before_the_close(open_socket: Open) -> None:
    proto = await open_socket(PROTO)
    refused = await proto.request({"t": "auth", "token": "not-a-token"})
    assert (refused["t"], refused["code"]) == ("error", ErrorCode.TOKEN_INVALID)
    assert await proto.closed() == 4001


@pytest.mark.parametrize(
    ("offer", "chosen"),
    [
        (None, None),
        (["pigeon.v9.proto"], None),
        (["pigeon.v9.proto", "pigeon.v1.json"], "pigeon.v1.json"),
        (["pigeon.v9.proto", "pigeon.v1.proto"], "pigeon.v1.proto"),
        # The first offer the server knows wins.
        (["pigeon.v1.json", "pigeon.v1.proto"], "pigeon.v1.json"),
        (["pigeon.v1.proto", "pigeon.v1.json"], "pigeon.v1.proto"),
    ],
)
async def test_the_server_picks_the_codec_from_the_offer(
    rest: Rest, open_socket: Open, offer: list[str] | None, chosen: str | None
) -> None:
    account = await register(rest, "offer")
    socket = await signed_in(open_socket, offer, account)  # frames of the chosen kind only
    assert socket.subprotocol == chosen
    assert (await socket.request({"t": "ping"}, "pong"))["ts"] > 0


async def test_fan_out_reaches_each_receiver_in_its_codec(rest: Rest, open_socket: Open) -> None:
    owner = await register(rest, "own")
    members = [await register(rest, "mem") for _ in range(4)]
    group = await create_group(rest, owner, members)
    conv = group["id"]
    # Two codecs per user too: the owner's second device speaks the other one.
    owner_proto = await signed_in(open_socket, PROTO, owner)
    owner_json = await signed_in(open_socket, JSON, await login(rest, owner))
    receivers = [
        await signed_in(open_socket, PROTO if i % 2 else None, member)
        for i, member in enumerate(members)
    ]

    senders = [(owner_proto, owner_json, "fan-proto"), (owner_json, owner_proto, "fan-json")]
    for sender, own_other_device, cid in senders:
        ack = await sender.request(send(conv, cid, {"text": f"to all from {cid}"}), "ack")
        got = [
            await r.expect("msg", conv=conv, seq=ack["seq"]) for r in [*receivers, own_other_device]
        ]
        stored = [m for m in await all_history(rest, owner, conv) if m["seq"] == ack["seq"]]
        assert got == [pushed(stored[0])] * len(got)

    # History over Protobuf, system notices (their details as JSON text) included.
    page = await receivers[1].request({"t": "pull", "conv": conv, "after": 0}, "messages")
    assert page["items"] == await all_history(rest, members[1], conv)
    assert page["items"][0]["kind"] == "system"
