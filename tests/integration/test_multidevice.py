"""One user on several devices against a real server: a device that was offline
through messages, recalls, edits, read changes and membership changes converges
by ``sync`` + ``pull`` to exactly the stored history; devices are listed and can be
logged out one at a time."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp

from harness import ServerProcess

from .live import (
    CLOSE_REVOKED,
    TOKEN_REVOKED,
    Devices,
    amend,
    device_online,
    in_touch,
)
from .people import create_group, remove
from .wsclient import (
    Account,
    Frame,
    Rest,
    WsClient,
    all_history,
    direct,
    login,
    pull_everything,
    register,
)


class Replica:
    """What one device keeps: every message it pulled, amended as entries arrive.

    This is the whole client algorithm the contract asks for: remember the sync
    cursor, pull after the highest seq held, and apply ``recall``/``edit`` entries
    to the messages they name.
    """

    def __init__(self) -> None:
        self.messages: dict[str, dict[int, Frame]] = {}
        self.read_seq: dict[str, int] = {}
        self.removed: set[str] = set()
        self.cursor: str | None = None

    def highest(self, conv: str) -> int:
        return max(self.messages.get(conv, {}), default=0)

    def take(self, conv: str, items: list[Frame]) -> None:
        held = self.messages.setdefault(conv, {})
        for item in items:
            assert item["seq"] not in held, f"seq {item['seq']} of {conv} pulled twice"
            held[item["seq"]] = copy.deepcopy(item)
            target = (
                held.get(item["body"].get("seq", -1))
                if item["kind"] in ("recall", "edit")
                else None
            )
            if target is None:
                continue
            if item["kind"] == "recall":  # a recalled message keeps no trace of its edits
                target["body"], target["recalled"] = {}, True
                target.pop("edited_at", None)
            else:
                target["body"] = {**target["body"], "text": item["body"]["text"]}
                target["edited_at"] = item["ts"]

    def history(self, conv: str) -> list[Frame]:
        return [self.messages[conv][seq] for seq in sorted(self.messages[conv])]

    async def catch_up(self, client: WsClient) -> dict[str, Frame]:
        """Sync from the saved cursor, then pull what each changed conversation holds."""
        changed: dict[str, Frame] = {}
        for _ in range(1000):
            page = await client.sync(self.cursor)
            self.cursor = page["cursor"]
            changed.update({entry["conv"]: entry for entry in page["convs"]})
            if not page["more"]:
                break
        for conv, entry in changed.items():
            self.take(conv, await pull_everything(client, conv, after=self.highest(conv)))
            self.read_seq[conv] = entry["read_seq"]
            if entry.get("removed"):
                self.removed.add(conv)
        return changed


async def _text(client: WsClient, conv: str, text: str) -> int:
    return int((await client.send_text(conv, text))["seq"])


async def _amend_ok(client: WsClient, conv: str, kind: str, body: Frame) -> int:
    answer = await amend(client, conv, kind, body)
    assert answer["t"] == "ack", answer
    return int(answer["seq"])


async def _list_item(rest: Rest, account: Account, conv: str) -> dict[str, Any] | None:
    listed = await rest.ok("GET", "conversations", token=account.access, params={"limit": 200})
    found = [c for c in listed["items"] if c["id"] == conv]
    return found[0] if found else None


async def test_an_offline_device_converges_to_exactly_the_stored_history(
    rest: Rest, devices: Devices
) -> None:
    me = await register(rest, "me", device="phone")
    tablet_login = await login(rest, me, device="tablet")
    peer, owner, other = [await register(rest, n) for n in ("peer", "owner", "other")]
    chat = await direct(rest, me, peer)
    group = (await create_group(rest, owner, [me, other]))["id"]
    leaving = (await create_group(rest, owner, [me]))["id"]
    phone = await devices.open(me)
    peer_ws, owner_ws = await devices.open(peer), await devices.open(owner)

    # Before the tablet goes away there is history it holds.
    mine_early = await _text(phone, chat, "first draft")
    peers_early = await _text(peer_ws, chat, "hello")
    mine_in_group = await _text(phone, group, "group draft")
    await _text(owner_ws, leaving, "you will not stay long")

    tablet = Replica()
    tablet_ws = await devices.open(tablet_login)
    await tablet.catch_up(tablet_ws)
    assert {chat, group, leaving} <= set(tablet.messages)
    await tablet_ws.close()

    # While the tablet is off: new messages, recalls, edits, reads, membership.
    await _text(peer_ws, chat, "are you there?")
    await _amend_ok(phone, chat, "edit", {"seq": mine_early, "text": "final text"})
    recalled_new = await _text(phone, chat, "oops")
    await _amend_ok(phone, chat, "recall", {"seq": recalled_new})
    await _amend_ok(peer_ws, chat, "recall", {"seq": peers_early})
    last_in_chat = await _text(peer_ws, chat, "never mind")
    await phone.send({"t": "read", "conv": chat, "seq": last_in_chat})
    await _amend_ok(phone, group, "edit", {"seq": mine_in_group, "text": "group final"})
    await _text(owner_ws, group, "owner speaks")
    await _amend_ok(owner_ws, group, "recall", {"seq": mine_in_group})  # the owner recalls
    await remove(rest, owner, leaving, me)
    await _text(owner_ws, leaving, "after you left")
    added = (await create_group(rest, owner, [me, peer]))["id"]
    await _text(owner_ws, added, "welcome")
    await phone.barrier()

    tablet_ws = await devices.open(tablet_login)
    changed = await tablet.catch_up(tablet_ws)
    assert {chat, group, leaving, added} <= set(changed)
    assert changed[leaving].get("removed") is True
    assert tablet.removed == {leaving}

    for conv in (chat, group, leaving, added):
        assert tablet.history(conv) == await all_history(rest, me, conv), conv
    for conv in (chat, group, added):
        item = await _list_item(rest, me, conv)
        assert item is not None, conv
        assert item["read_seq"] == tablet.read_seq[conv], (conv, item)
    assert tablet.read_seq[chat] == last_in_chat
    assert await _list_item(rest, me, leaving) is None
    # The outcome the user sees on the tablet.
    by_seq = {m["seq"]: m for m in tablet.history(chat)}
    assert by_seq[mine_early]["body"] == {"text": "final text"}
    assert "edited_at" in by_seq[mine_early]
    assert by_seq[peers_early]["recalled"] is True
    assert by_seq[peers_early]["body"] == {}
    assert by_seq[recalled_new]["recalled"] is True
    assert "after you left" not in str(tablet.history(leaving))

    # A second catch-up with nothing new changes nothing.
    again = await tablet.catch_up(tablet_ws)
    assert again == {}


async def test_the_other_devices_follow_sends_and_reads(rest: Rest, devices: Devices) -> None:
    me, peer = await register(rest, "me"), await register(rest, "peer")
    chat = await direct(rest, me, peer)
    phone, laptop = await devices.open(me, "phone"), await devices.open(me, "laptop")
    peer_ws = await devices.open(peer)

    sent = await phone.send_text(chat, "from my phone")
    mine = await laptop.expect("msg", conv=chat, seq=sent["seq"])
    assert (mine["from"], mine["cid"], mine["id"]) == (me.id, sent["cid"], sent["id"])
    reply = await peer_ws.send_text(chat, "got it")
    await phone.expect("msg", conv=chat, seq=reply["seq"])
    await laptop.expect("msg", conv=chat, seq=reply["seq"])
    await phone.send({"t": "read", "conv": chat, "seq": reply["seq"]})
    own = await laptop.expect("receipt", conv=chat, user=me.id)
    assert own["read"] == reply["seq"]
    await phone.barrier()
    assert phone.taken("msg") == []
    assert phone.taken("receipt") == []


async def test_devices_are_listed_and_one_logout_closes_only_its_sockets(
    rest: Rest, http: aiohttp.ClientSession, shared_server: ServerProcess, devices: Devices
) -> None:
    phone = await register(rest, "me", device="phone")
    laptop = await login(rest, phone, device="laptop")
    tablet = await login(rest, phone, device="tablet")
    peer = await register(rest, "peer")
    chat = await in_touch(rest, peer, phone)
    phone_ws, phone_ws_2 = await devices.open(phone), await devices.open(phone)
    laptop_ws = await devices.open(laptop)
    peer_ws = await devices.open(peer)

    listed = await rest.ok("GET", "users/me/devices", token=laptop.access)
    by_device = {item["device"]: item for item in listed["items"]}
    assert set(by_device) == {"phone", "laptop", "tablet"}
    assert {d: by_device[d]["online"] for d in by_device} == {
        "phone": True,
        "laptop": True,
        "tablet": False,
    }
    assert by_device["tablet"]["session"] == tablet.session
    assert len({item["session"] for item in listed["items"]}) == 3

    await rest.ok("DELETE", "users/me/devices/phone", token=laptop.access)
    assert await phone_ws.closed() == CLOSE_REVOKED
    assert await phone_ws_2.closed() == CLOSE_REVOKED
    # The laptop is untouched: it keeps receiving, and the user stays online.
    sent = await peer_ws.send_text(chat, "still there?")
    await laptop_ws.expect("msg", conv=chat, seq=sent["seq"])
    seen = await rest.ok("GET", "presence", token=peer.access, params={"users": phone.id})
    assert seen["items"][0]["online"] is True
    assert await device_online(rest, laptop, "laptop") is True

    listed = await rest.ok("GET", "users/me/devices", token=tablet.access)
    assert {item["device"] for item in listed["items"]} == {"laptop", "tablet"}
    # The logged-out device's token no longer opens a socket.
    retry = await WsClient.open(http, shared_server)
    refused = await retry.request({"t": "auth", "token": phone.access})
    assert (refused["t"], refused["code"]) == ("error", TOKEN_REVOKED)
    assert await retry.closed() == CLOSE_REVOKED
