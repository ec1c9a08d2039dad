"""The conversation list across direct conversations, groups and channels: previews,
unread counts, per-user pinned/muted settings, ordering and cursor pagination."""

from __future__ import annotations

from typing import Any

from harness import unique_name

from .people import create_group, make_admin
from .wsclient import Account, Rest, direct, register, send_rest


async def _listing(rest: Rest, account: Account, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = await rest.ok(
        "GET", "conversations", token=account.access, params=params
    )
    return page


async def _by_id(rest: Rest, account: Account) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in (await _listing(rest, account, limit=200))["items"]}


async def _setting(rest: Rest, account: Account, conv: str, **values: bool) -> dict[str, Any]:
    item: dict[str, Any] = await rest.ok(
        "PATCH", f"conversations/{conv}", token=account.access, json=values
    )
    return item


async def test_one_list_holds_directs_groups_and_channels(rest: Rest) -> None:
    me, pal, boss = [await register(rest, name) for name in ("me", "pal", "boss")]
    chat = await direct(rest, pal, me)
    group = (await create_group(rest, boss, [me, pal], title="Crew"))["id"]
    channel = (await create_group(rest, boss, [me], title="News", kind="channel"))["id"]
    await send_rest(rest, pal, chat, "psst", unique_name("c"))
    await send_rest(rest, pal, group, "hello crew", unique_name("c"))
    ack = await send_rest(rest, boss, channel, "headline", unique_name("c"))

    items = await _by_id(rest, me)
    assert set(items) == {chat, group, channel}
    assert items[chat]["kind"] == "direct"
    assert items[chat]["peer"]["id"] == pal.id
    assert items[chat]["member_count"] == 2
    assert (items[group]["kind"], items[group]["title"], items[group]["member_count"]) == (
        "group",
        "Crew",
        3,
    )
    assert items[group].get("peer") is None
    assert (items[channel]["kind"], items[channel]["title"]) == ("channel", "News")
    preview = items[channel]["last_message"]
    assert (preview["seq"], preview["from"], preview["body"]) == (
        ack["seq"],
        boss.id,
        {"text": "headline"},
    )
    assert items[channel]["last_seq"] == ack["seq"]
    assert items[group]["last_message"]["body"] == {"text": "hello crew"}
    assert items[chat]["last_message"]["body"] == {"text": "psst"}
    for item in items.values():
        assert item["unread"] == 1
        assert (item["pinned"], item["muted"], item["mentioned"]) == (False, False, False)


async def test_unread_counts_others_messages_not_system_ones(rest: Rest) -> None:
    me, pal, boss = [await register(rest, name) for name in ("me", "pal", "boss")]
    group = (await create_group(rest, boss, [me, pal]))["id"]
    await make_admin(rest, boss, group, pal)
    await rest.ok("PATCH", f"groups/{group}", token=boss.access, json={"announcement": "read me"})
    item = (await _by_id(rest, me))[group]
    assert item["unread"] == 0  # three system messages, none unread
    assert item["last_message"]["kind"] == "system"
    assert item["last_seq"] == 3

    await send_rest(rest, pal, group, "one", unique_name("c"))
    await send_rest(rest, boss, group, "two", unique_name("c"))
    await send_rest(rest, me, group, "mine", unique_name("c"))  # sending reads everything
    assert (await _by_id(rest, me))[group]["unread"] == 0
    await send_rest(rest, pal, group, "three", unique_name("c"))
    await rest.ok("PATCH", f"groups/{group}", token=boss.access, json={"title": "later"})
    item = (await _by_id(rest, me))[group]
    assert item["unread"] == 1
    assert item["read_seq"] == item["last_seq"] - 2  # "three" and the rename after it
    await rest.ok(
        "PUT", f"conversations/{group}/read", token=me.access, json={"seq": item["last_seq"]}
    )
    assert (await _by_id(rest, me))[group]["unread"] == 0
    # The actor of a change is the sender of its notice, and sending reads everything.
    assert (await _by_id(rest, boss))[group]["unread"] == 0
    assert (await _by_id(rest, pal))[group]["unread"] == 0  # sent "three" last


async def test_pinned_and_muted_belong_to_one_user(rest: Rest) -> None:
    me, pal = [await register(rest, name) for name in ("me", "pal")]
    group = (await create_group(rest, me, [pal]))["id"]
    item = await _setting(rest, me, group, pinned=True, muted=True)
    assert (item["pinned"], item["muted"]) == (True, True)
    other = (await _by_id(rest, pal))[group]
    assert (other["pinned"], other["muted"]) == (False, False)
    item = await _setting(rest, me, group, muted=False)
    assert (item["pinned"], item["muted"]) == (True, False)
    # Muting silences notifications, not the count.
    await _setting(rest, me, group, muted=True)
    await send_rest(rest, pal, group, "still counted", unique_name("c"))
    item = (await _by_id(rest, me))[group]
    assert (item["muted"], item["unread"]) == (True, 1)


async def test_ordered_by_activity_with_pinned_first(rest: Rest) -> None:
    me = await register(rest, "me")
    pals = [await register(rest, f"p{n}") for n in range(3)]
    chats = [await direct(rest, pal, me) for pal in pals]
    group = (await create_group(rest, me, pals))["id"]
    channel = (await create_group(rest, me, kind="channel"))["id"]

    for conv, sender in [
        (chats[0], pals[0]),
        (group, pals[1]),
        (chats[1], pals[1]),
        (channel, me),
        (chats[2], pals[2]),
    ]:
        await send_rest(rest, sender, conv, "tick", unique_name("c"))
    listed = [c["id"] for c in (await _listing(rest, me))["items"]]
    assert listed == [chats[2], channel, chats[1], group, chats[0]]

    await _setting(rest, me, chats[0], pinned=True)
    await _setting(rest, me, group, pinned=True)
    listed = [c["id"] for c in (await _listing(rest, me))["items"]]
    assert listed == [group, chats[0], chats[2], channel, chats[1]]

    # New activity moves a conversation up within its part of the list.
    await send_rest(rest, pals[1], chats[1], "again", unique_name("c"))
    await send_rest(rest, pals[0], chats[0], "again", unique_name("c"))
    listed = [c["id"] for c in (await _listing(rest, me))["items"]]
    assert listed == [chats[0], group, chats[1], chats[2], channel]
    await _setting(rest, me, chats[0], pinned=False)
    listed = [c["id"] for c in (await _listing(rest, me))["items"]]
    assert listed == [group, chats[0], chats[1], chats[2], channel]


async def test_cursor_pagination_walks_the_whole_list(rest: Rest) -> None:
    me = await register(rest, "me")
    pals = [await register(rest, f"p{n}") for n in range(4)]
    convs = [await direct(rest, pal, me) for pal in pals]
    convs.append((await create_group(rest, me, pals[:2]))["id"])
    convs.append((await create_group(rest, me, kind="channel"))["id"])
    convs.append((await create_group(rest, pals[3], [me], visibility="public"))["id"])
    await _setting(rest, me, convs[1], pinned=True)
    await _setting(rest, me, convs[5], pinned=True)
    whole = [c["id"] for c in (await _listing(rest, me, limit=200))["items"]]
    assert sorted(whole) == sorted(convs)
    assert (await _listing(rest, me, limit=200))["more"] is False

    for size in (1, 2, 3):
        walked: list[str] = []
        params: dict[str, Any] = {"limit": size}
        for _ in range(len(convs) + 1):
            page = await _listing(rest, me, **params)
            assert len(page["items"]) <= size
            walked.extend(c["id"] for c in page["items"])
            if not page["more"]:
                break
            assert page["cursor"]
            params = {"limit": size, "cursor": page["cursor"]}
        assert walked == whole, size

    bad = await rest.call("GET", "conversations", token=me.access, params={"cursor": "nonsense"})
    assert (bad.status, bad.code) == (400, 40008)  # INVALID_CURSOR


async def test_leaving_removes_a_group_from_the_list(rest: Rest) -> None:
    me, boss = [await register(rest, name) for name in ("me", "boss")]
    group = (await create_group(rest, boss, [me]))["id"]
    room = (await create_group(rest, boss, visibility="public"))["id"]
    await rest.ok("POST", f"groups/{room}/join", token=me.access)
    assert set(await _by_id(rest, me)) == {group, room}
    await rest.ok("POST", f"groups/{room}/leave", token=me.access)
    await rest.ok("DELETE", f"groups/{group}/members/{me.id}", token=boss.access)
    assert await _by_id(rest, me) == {}
    await rest.fails(
        "PATCH", f"conversations/{group}", 404, 40402, token=me.access, json={"pinned": True}
    )
