"""Delivered/read receipts against a real server: who is told, and what the
receipts endpoint counts, in direct chats, small groups, a 500-member group and
a channel."""

from __future__ import annotations

from typing import Any

import orjson

from .live import (
    CONVERSATION_NOT_FOUND,
    MESSAGE_NOT_FOUND,
    Devices,
)
from .people import create_group, register_many
from .wsclient import Account, Frame, Rest, WsClient, direct, register

BIG_GROUP = 500
# Every receipt-related frame is a few hundred bytes; one naming 499 readers would not be.
CONSTANT_FRAME_BYTES = 1024


async def _receipts(rest: Rest, viewer: Account, conv: str, seq: int) -> dict[str, Any]:
    found: dict[str, Any] = await rest.ok(
        "GET", f"conversations/{conv}/messages/{seq}/receipts", token=viewer.access
    )
    return found


async def _settle(*clients: WsClient) -> None:
    """Every push caused so far has reached these sockets (ping is a barrier)."""
    for client in clients:
        await client.barrier()


def _receipts_about(client: WsClient, user: Account) -> list[Frame]:
    found = client.taken("receipt")
    assert all(f["user"] == user.id for f in found), found
    return found


# --- direct chats


async def test_direct_receipts_reach_the_peer_and_the_readers_other_device(
    rest: Rest, devices: Devices
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_phone, alice_laptop = (
        await devices.open(alice, "phone"),
        await devices.open(alice, "laptop"),
    )
    bob_phone, bob_tablet = await devices.open(bob, "phone"), await devices.open(bob, "tablet")
    seqs = [(await alice_phone.send_text(conv, f"m{i}"))["seq"] for i in range(3)]
    for client in (bob_phone, bob_tablet):
        for seq in seqs:
            await client.expect("msg", conv=conv, seq=seq)

    await bob_phone.send({"t": "recv", "conv": conv, "seq": seqs[1]})
    for client in (alice_phone, alice_laptop, bob_tablet):
        receipt = await client.expect("receipt", conv=conv, user=bob.id)
        assert receipt == {"t": "receipt", "conv": conv, "user": bob.id, "recv": seqs[1]}

    await bob_phone.send({"t": "read", "conv": conv, "seq": seqs[2]})
    for client in (alice_phone, alice_laptop, bob_tablet):
        receipt = await client.expect("receipt", conv=conv, user=bob.id)
        assert (receipt["read"], receipt["recv"]) == (seqs[2], seqs[2])  # read implies delivered

    await _settle(bob_phone, alice_phone, alice_laptop, bob_tablet)
    assert bob_phone.taken("receipt") == []  # the marking connection hears nothing back

    counted = await _receipts(rest, alice, conv, seqs[2])
    assert counted == {
        "conv": conv,
        "seq": seqs[2],
        "members": 1,
        "read": 1,
        "delivered": 1,
        "read_by": [bob.id],
        "delivered_to": [bob.id],
    }


async def test_direct_watermarks_never_move_backwards(rest: Rest, devices: Devices) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_phone = await devices.open(alice)
    bob_phone = await devices.open(bob)
    for i in range(6):
        await alice_phone.send_text(conv, f"m{i}")

    # A client replaying stale marks, as after a reconnect, in no particular order.
    script = [
        ("recv", 2),
        ("read", 3),
        ("recv", 1),
        ("read", 1),
        ("recv", 3),
        ("recv", 5),
        ("read", 2),
        ("read", 4),
        ("recv", 4),
        ("read", 6),
        ("recv", 6),
        ("read", 5),
    ]
    for kind, seq in script:
        await bob_phone.send({"t": kind, "conv": conv, "seq": seq})
    await _settle(bob_phone, alice_phone)

    seen = _receipts_about(alice_phone, bob)
    read, recv = 0, 0
    for receipt in seen:
        if "read" in receipt:
            assert receipt["read"] > read, seen  # every push moves forward
            read = receipt["read"]
        if "recv" in receipt:
            assert receipt["recv"] > recv, seen
            recv = receipt["recv"]
        assert read <= recv, seen  # nobody has read what was not delivered
    assert (read, recv) == (6, 6)
    # Only the marks that moved something were pushed, never a backward one.
    assert [(r.get("read"), r.get("recv")) for r in seen] == [
        (None, 2),
        (3, 3),
        (None, 5),
        (4, None),
        (6, 6),
    ]
    listed = await rest.ok("GET", "conversations", token=bob.access)
    [item] = [c for c in listed["items"] if c["id"] == conv]
    assert (item["read_seq"], item["unread"]) == (6, 0)
    synced = await bob_phone.sync()
    [entry] = [c for c in synced["convs"] if c["conv"] == conv]
    assert entry["read_seq"] == 6


async def test_the_receipts_endpoint_counts_and_refuses_what_is_not_there(
    rest: Rest,
) -> None:
    alice, bob, stranger = [await register(rest, n) for n in ("alice", "bob", "eve")]
    conv = await direct(rest, alice, bob)
    sent = await rest.ok(
        "POST",
        f"conversations/{conv}/messages",
        token=alice.access,
        json={"cid": "c1", "kind": "text", "body": {"text": "hi"}},
    )
    seq = sent["seq"]
    fresh = await _receipts(rest, alice, conv, seq)
    assert (fresh["members"], fresh["read"], fresh["delivered"]) == (1, 0, 0)
    assert (fresh["read_by"], fresh["delivered_to"]) == ([], [])
    # The counts describe the message's audience (everyone but its sender), whoever asks.
    assert await _receipts(rest, bob, conv, seq) == fresh
    await rest.ok("PUT", f"conversations/{conv}/read", token=bob.access, json={"seq": seq})
    read = await _receipts(rest, alice, conv, seq)
    assert (read["read"], read["delivered"], read["read_by"]) == (1, 1, [bob.id])

    path = f"conversations/{conv}/messages/{seq + 1}/receipts"
    await rest.fails("GET", path, 404, MESSAGE_NOT_FOUND, token=alice.access)
    path = f"conversations/{conv}/messages/{seq}/receipts"
    await rest.fails("GET", path, 404, CONVERSATION_NOT_FOUND, token=stranger.access)


# --- groups


async def test_small_group_receipts_go_to_the_senders_passed_not_to_everyone(
    rest: Rest, devices: Devices
) -> None:
    owner, writer, reader, bystander = [
        await register(rest, n) for n in ("owner", "writer", "reader", "bystander")
    ]
    group = await create_group(rest, owner, [writer, reader, bystander])
    conv = group["id"]
    owner_ws, writer_ws = await devices.open(owner), await devices.open(writer)
    reader_ws, reader_other = await devices.open(reader), await devices.open(reader)
    bystander_ws = await devices.open(bystander)
    first = (await owner_ws.send_text(conv, "from the owner"))["seq"]
    second = (await writer_ws.send_text(conv, "from the writer"))["seq"]
    await reader_ws.expect("msg", conv=conv, seq=second)

    await reader_ws.send({"t": "read", "conv": conv, "seq": second})
    for client in (owner_ws, writer_ws, reader_other):
        receipt = await client.expect("receipt", conv=conv, user=reader.id)
        assert receipt["read"] == second
    await _settle(reader_ws, bystander_ws)
    assert bystander_ws.taken("receipt") == []  # sent nothing the watermark passed

    counted = await _receipts(rest, owner, conv, first)
    # Others than the owner: three. The writer read by sending after it.
    assert (counted["members"], counted["read"], counted["delivered"]) == (3, 2, 2)
    assert counted["read_by"] == sorted([writer.id, reader.id])
    assert counted["delivered_to"] == sorted([writer.id, reader.id])


async def test_a_500_member_group_tells_senders_nothing_and_counts_on_request(
    rest: Rest, devices: Devices
) -> None:
    owner = await register(rest, "owner")
    members = await register_many(rest, BIG_GROUP - 1, prefix="crowd")
    group = await create_group(rest, owner, members)
    assert group["member_count"] == BIG_GROUP
    conv = group["id"]
    readers, writer = members[:3], members[3]
    owner_phone, owner_laptop = await devices.open(owner), await devices.open(owner)
    reader_sockets = [await devices.open(m) for m in readers]
    reader_other_device = await devices.open(readers[0])
    writer_ws = await devices.open(writer)

    posted = (await owner_phone.send_text(conv, "hello, crowd"))["seq"]
    reply = (await writer_ws.send_text(conv, "hello, owner"))["seq"]
    for client in reader_sockets:
        await client.expect("msg", conv=conv, seq=reply)
        await client.send({"t": "recv", "conv": conv, "seq": reply})
    for client in reader_sockets[:2]:
        await client.send({"t": "read", "conv": conv, "seq": reply})
    await _settle(*reader_sockets)

    # The reader's own other device follows its watermarks...
    own = await reader_other_device.expect("receipt", conv=conv, user=readers[0].id)
    assert own["recv"] == reply
    own = await reader_other_device.expect("receipt", conv=conv, user=readers[0].id)
    assert own["read"] == reply
    # ...while the senders of the passed messages are told nothing.
    await _settle(owner_phone, owner_laptop, writer_ws)
    for client in (owner_phone, owner_laptop, writer_ws):
        assert client.taken("receipt") == []
        for frame in client.backlog:
            assert len(orjson.dumps(frame)) < CONSTANT_FRAME_BYTES, frame

    # Counts only, with no names at this size. The writer read the post by replying.
    counted = await _receipts(rest, owner, conv, posted)
    assert _counts(counted) == (BIG_GROUP - 1, 3, 4)
    assert counted.get("read_by") is None, counted
    assert counted.get("delivered_to") is None, counted
    # The owner posted before the reply, so it has neither read nor received it.
    assert _counts(await _receipts(rest, writer, conv, reply)) == (BIG_GROUP - 1, 2, 3)


def _counts(receipts: dict[str, Any]) -> tuple[int, int, int]:
    return receipts["members"], receipts["read"], receipts["delivered"]


async def test_channel_readers_tell_only_their_own_devices(rest: Rest, devices: Devices) -> None:
    owner, subscriber, other = [await register(rest, n) for n in ("owner", "sub", "other")]
    channel = await create_group(rest, owner, [subscriber, other], kind="channel")
    conv = channel["id"]
    owner_ws = await devices.open(owner)
    sub_phone, sub_laptop = await devices.open(subscriber), await devices.open(subscriber)
    other_ws = await devices.open(other)
    post = (await owner_ws.send_text(conv, "news"))["seq"]
    await sub_phone.expect("msg", conv=conv, seq=post)

    await sub_phone.send({"t": "read", "conv": conv, "seq": post})
    assert (await sub_laptop.expect("receipt", conv=conv, user=subscriber.id))["read"] == post
    await _settle(sub_phone, owner_ws, other_ws)
    assert owner_ws.taken("receipt") == []
    assert other_ws.taken("receipt") == []
    counted = await _receipts(rest, owner, conv, post)
    assert _counts(counted) == (2, 1, 1)
