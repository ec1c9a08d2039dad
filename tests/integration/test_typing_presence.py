"""Typing indicators and presence against a real server: throttling and expiry of
typing, the offline debounce, several devices, blocks, last_seen and heartbeats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import aiohttp
import pytest

from harness import ServerProcess

from .live import (
    BAD_REQUEST,
    CLOSE_HEARTBEAT,
    Devices,
    device_online,
    devices_of,
    in_touch,
    keep_alive,
    now_ms,
    presence_of,
    run_server,
)
from .wsclient import Account, Frame, Rest, WsClient, direct, eventually, login, register

# Long enough that a reconnect made right after a drop lands inside it even on a loaded
# machine, where the status poll and the new socket's handshake can each take seconds.
DEBOUNCE_S = 6.0
# The server's typing throttle (src/pigeon/core/typing_indicators.py): one relayed "on" per typer per 3 s.
TYPING_THROTTLE_S = 3.0
# The connection's frame budget is 100 at once then 50/s; the flood stays inside it.
FLOOD_FRAMES = 240
FLOOD_BURST = 80
FLOOD_STEP = 10
FLOOD_STEP_S = 0.25  # 40 frames/s after the burst


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"PIGEON_PRESENCE_DEBOUNCE_S": str(DEBOUNCE_S)}
    yield from run_server(tmp_path_factory.mktemp("presence"), env)


async def _befriend(rest: Rest, one: Account, other: Account) -> None:
    request = await rest.ok(
        "POST", "friends/requests", status=201, token=one.access, json={"user_id": other.id}
    )
    await rest.ok("POST", f"friends/requests/{request['id']}/accept", token=other.access)


def _about(client: WsClient, user: Account) -> list[Frame]:
    """Take the presence frames about ``user`` out of the backlog."""
    presence = client.taken("presence")
    client.backlog.extend(f for f in presence if f["user"] != user.id)
    return [f for f in presence if f["user"] == user.id]


async def _until_processed(rest: Rest, account: Account, device: str, online: bool) -> None:
    """Wait until the server has handled a device's (dis)connection."""

    async def reached() -> bool:
        return await device_online(rest, account, device) is online

    await eventually(reached, what=f"{device} online={online}")


async def _after_a_debounce(
    rest: Rest, devices: Devices, watcher: WsClient, watcher_account: Account
) -> None:
    """Return once an offline announcement debounced after *now* reached ``watcher``.

    A probe user drops out; its offline arrives one debounce later. Any offline
    timer started before it (same debounce) has fired by then, so an announcement
    that was going to be made is in the watcher's backlog.
    """
    probe = await register(rest, "probe", device="probe")
    await in_touch(rest, watcher_account, probe)
    probe_ws = await devices.open(probe)
    await watcher.expect("presence", user=probe.id, online=True)
    await probe_ws.close()
    await watcher.expect("presence", user=probe.id, online=False)


# --- typing


async def test_a_typing_flood_is_relayed_a_few_times_and_ends_by_itself(
    rest: Rest, devices: Devices
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)

    typing_on = {"t": "typing", "conv": conv, "on": True}
    started = time.monotonic()
    for _ in range(FLOOD_BURST):
        await alice_ws.send(typing_on)
    for _ in range((FLOOD_FRAMES - FLOOD_BURST) // FLOOD_STEP):
        await asyncio.sleep(FLOOD_STEP_S)  # pacing the flood, not waiting for anything
        for _ in range(FLOOD_STEP):
            await alice_ws.send(typing_on)
    await alice_ws.barrier()
    flood_s = time.monotonic() - started
    assert alice_ws.taken("error") == []  # within the frame budget: every frame was handled

    # Alice goes quiet: the server itself ends her typing.
    ended = await bob_ws.expect("typing", conv=conv, user=alice.id, on=False)
    relayed = bob_ws.taken("typing")
    assert ended == {"t": "typing", "conv": conv, "user": alice.id, "on": False}
    assert relayed, "the first 'on' is relayed at once"
    assert all(f["on"] is True for f in relayed), relayed
    # At most one relay per throttle period of the flood (+1 for the edges), and
    # in any case a handful, not hundreds.
    assert len(relayed) <= flood_s / TYPING_THROTTLE_S + 2, (len(relayed), flood_s)
    assert len(relayed) < 10

    # Exactly one automatic "off": nothing more follows, up to a later message.
    marker = await alice_ws.send_text(conv, "done typing")
    await bob_ws.expect("msg", conv=conv, seq=marker["seq"])
    assert bob_ws.taken("typing") == []
    assert alice_ws.taken("typing") == []  # the typer never hears itself


async def test_sending_a_message_ends_typing(rest: Rest, devices: Devices) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    alice_ws, bob_ws = await devices.open(alice), await devices.open(bob)
    await alice_ws.send({"t": "typing", "conv": conv, "on": True})
    assert (await bob_ws.expect("typing", conv=conv, user=alice.id))["on"] is True
    sent = await alice_ws.send_text(conv, "typed it")
    await bob_ws.expect("msg", conv=conv, seq=sent["seq"])
    assert (await bob_ws.expect("typing", conv=conv, user=alice.id))["on"] is False
    # An explicit "off" afterwards has nothing left to end.
    await alice_ws.send({"t": "typing", "conv": conv, "on": False})
    again = await alice_ws.send_text(conv, "and again")
    await bob_ws.expect("msg", conv=conv, seq=again["seq"])
    assert bob_ws.taken("typing") == []


# --- presence


async def test_offline_comes_only_after_the_last_device_and_the_debounce(
    rest: Rest, devices: Devices
) -> None:
    user = await register(rest, "user", device="phone")
    laptop_login = await login(rest, user, device="laptop")
    friend = await register(rest, "friend")
    await _befriend(rest, friend, user)
    friend_ws = await devices.open(friend)

    phone = await devices.open(user)
    came = await friend_ws.expect("presence", user=user.id, online=True)
    assert came["last_seen"] is not None
    laptop = await devices.open(laptop_login)
    await _until_processed(rest, user, "laptop", online=True)

    await phone.close()
    await _until_processed(rest, user, "phone", online=False)
    await _after_a_debounce(rest, devices, friend_ws, friend)
    assert _about(friend_ws, user) == []  # one device left: still online, nothing said
    assert (await presence_of(rest, friend, user))[user.id]["online"] is True

    before_leaving = now_ms()
    await laptop.close()
    gone = await friend_ws.expect("presence", user=user.id)
    assert gone["online"] is False
    assert before_leaving <= gone["last_seen"] <= now_ms()
    seen = (await presence_of(rest, friend, user))[user.id]
    assert seen["online"] is False
    assert before_leaving <= seen["last_seen"] <= gone["last_seen"]
    await friend_ws.barrier()
    assert _about(friend_ws, user) == []  # announced once


async def test_a_flapping_connection_announces_nothing(rest: Rest, devices: Devices) -> None:
    user = await register(rest, "flappy", device="phone")
    peer = await register(rest, "peer")
    await in_touch(rest, peer, user)
    peer_ws = await devices.open(peer)
    socket = await devices.open(user)
    await peer_ws.expect("presence", user=user.id, online=True)

    for _ in range(3):
        await socket.close()
        await _until_processed(rest, user, "phone", online=False)
        socket = await devices.open(user)  # ready: the server has seen it come back
    await _after_a_debounce(rest, devices, peer_ws, peer)
    assert _about(peer_ws, user) == []
    assert (await presence_of(rest, peer, user))[user.id]["online"] is True


async def test_blocked_users_hear_nothing_of_the_blocker(rest: Rest, devices: Devices) -> None:
    ann, troll, pal = [await register(rest, n) for n in ("ann", "troll", "pal")]
    await in_touch(rest, troll, ann)
    await in_touch(rest, pal, ann)
    await _befriend(rest, troll, ann)  # friends first, then blocked: still nothing
    await rest.ok("PUT", f"blocks/{troll.id}", token=ann.access)
    troll_ws, pal_ws = await devices.open(troll), await devices.open(pal)

    ann_ws = await devices.open(ann)
    await pal_ws.expect("presence", user=ann.id, online=True)
    await ann_ws.close()
    await pal_ws.expect("presence", user=ann.id, online=False)
    # One announcement goes to the whole audience at once: the control recipient
    # has it, so a copy for the blocked user would be queued already.
    await troll_ws.barrier()
    assert _about(troll_ws, ann) == []
    hidden = await presence_of(rest, troll, ann)
    assert hidden[ann.id] == {"user": ann.id, "online": False, "last_seen": None}


async def test_the_presence_endpoint_reports_online_and_last_seen(
    rest: Rest, devices: Devices
) -> None:
    viewer, never, online_now, left = [
        await register(rest, n) for n in ("viewer", "never", "online", "left")
    ]
    for other in (never, online_now, left):
        await in_touch(rest, viewer, other)
    online_ws = await devices.open(online_now)
    left_ws = await devices.open(left)
    before_leaving = now_ms()
    await left_ws.close()

    async def left_is_offline() -> bool:
        return (await presence_of(rest, viewer, left))[left.id]["online"] is False

    await eventually(left_is_offline, what="the leaver showing offline")
    found = await presence_of(rest, viewer, never, online_now, left)
    assert found[never.id] == {"user": never.id, "online": False, "last_seen": None}
    assert found[online_now.id]["online"] is True
    assert found[left.id]["last_seen"] >= before_leaving
    assert list(found) == [never.id, online_now.id, left.id]  # in the order asked

    unknown = await rest.ok("GET", "presence", token=viewer.access, params={"users": "u_nobody,,"})
    assert unknown["items"] == []
    too_many = ",".join(f"u_{i}" for i in range(201))
    await rest.fails(
        "GET", "presence", 400, BAD_REQUEST, token=viewer.access, params={"users": too_many}
    )
    await online_ws.barrier()


async def test_a_heartbeat_timeout_takes_the_user_offline(
    http: aiohttp.ClientSession,
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(
        "heartbeat", env={"PIGEON_HEARTBEAT_S": "1", "PIGEON_PRESENCE_DEBOUNCE_S": "0.5"}
    )
    local = Rest(http, server)
    silent, watcher = await register(local, "silent", device="quiet"), await register(local, "w")
    await in_touch(local, watcher, silent)
    async with devices_of(http, server) as pool:
        watcher_ws = await pool.open(watcher)
        async with keep_alive(watcher_ws, every_s=0.3):
            silent_ws = await pool.open(silent)
            await watcher_ws.expect("presence", user=silent.id, online=True)
            # No pings from this one: two heartbeats later the server closes it.
            assert await silent_ws.closed() == CLOSE_HEARTBEAT
            gone = await watcher_ws.expect("presence", user=silent.id, online=False)
            assert gone["last_seen"] is not None
        assert await device_online(local, silent, "quiet") is False
