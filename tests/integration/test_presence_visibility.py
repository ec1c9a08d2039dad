"""Who may see whose presence (docs/protocol.md, "Presence visibility"), on every path:
the presence endpoint, group online lists and WebSocket pushes — never across a block."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import unique_name

from .live import in_touch, presence_of
from .people import create_group
from .wsclient import Account, Rest, WsClient, direct, eventually, register

HIDDEN = {"online": False, "last_seen": None}


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {"online": item["online"], "last_seen": item["last_seen"]}


async def _until_online(rest: Rest, watcher: Account, target: Account) -> None:
    async def seen() -> bool:
        return bool((await presence_of(rest, watcher, target))[target.id]["online"])

    await eventually(seen, what=f"{target.username} online for {watcher.username}")


async def _online_list(rest: Rest, viewer: Account, conv: str) -> set[str]:
    page = await rest.ok("GET", f"groups/{conv}/online", token=viewer.access)
    return {user["id"] for user in page["items"]}


async def test_a_stranger_sees_what_a_never_seen_user_shows(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    victim, stranger, friend = [await register(rest, n) for n in ("victim", "stranger", "pal")]
    await in_touch(rest, friend, victim)
    await online(victim)
    await _until_online(rest, friend, victim)
    assert _shown((await presence_of(rest, stranger, victim))[victim.id]) == HIDDEN
    # Opening a direct conversation costs nothing and earns nothing; even writing
    # in it does not, until the other side writes back.
    conv = await direct(rest, stranger, victim)
    body = {"cid": unique_name("c"), "kind": "text", "body": {"text": "hello?"}}
    await rest.ok("POST", f"conversations/{conv}/messages", token=stranger.access, json=body)
    assert _shown((await presence_of(rest, stranger, victim))[victim.id]) == HIDDEN
    body = {"cid": unique_name("c"), "kind": "text", "body": {"text": "hi"}}
    await rest.ok("POST", f"conversations/{conv}/messages", token=victim.access, json=body)
    seen = (await presence_of(rest, stranger, victim))[victim.id]
    assert seen["online"] is True
    assert seen["last_seen"] is not None


async def test_group_members_see_online_without_last_seen_and_channels_share_nothing(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, ann, ben = [await register(rest, n) for n in ("owner", "ann", "ben")]
    group = (await create_group(rest, owner, [ann]))["id"]
    channel = (await create_group(rest, owner, [ann, ben], kind="channel"))["id"]
    await online(ann)
    await online(ben)
    await _until_online(rest, owner, ann)  # co-members of the group
    assert (await presence_of(rest, owner, ann))[ann.id]["last_seen"] is None
    # Ben shares only a channel with ann and the owner: subscribers share no room.
    assert _shown((await presence_of(rest, ann, ben))[ben.id]) == HIDDEN
    assert _shown((await presence_of(rest, owner, ben))[ben.id]) == HIDDEN
    assert ben.id not in await _online_list(rest, ann, channel)
    assert ann.id not in await _online_list(rest, ben, channel)
    assert ann.id in await _online_list(rest, owner, group)


async def test_a_block_hides_presence_both_ways_in_online_lists_and_the_endpoint(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, blocker, blocked = [await register(rest, n) for n in ("own", "blocker", "blocked")]
    room = (await create_group(rest, owner, [blocker, blocked], visibility="public"))["id"]
    await rest.ok("PUT", f"blocks/{blocked.id}", token=blocker.access)
    await online(blocker)
    await online(blocked)

    async def both_listed_for_the_owner() -> bool:
        return {blocker.id, blocked.id} <= await _online_list(rest, owner, room)

    await eventually(both_listed_for_the_owner, what="both listed online")
    assert blocker.id not in await _online_list(rest, blocked, room)
    assert blocked.id not in await _online_list(rest, blocker, room)
    assert _shown((await presence_of(rest, blocked, blocker))[blocker.id]) == HIDDEN
    assert _shown((await presence_of(rest, blocker, blocked))[blocked.id]) == HIDDEN


async def test_pushes_go_only_to_those_in_touch_and_never_across_a_block(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    target, pal, opener, blocker = [
        await register(rest, n) for n in ("target", "pal", "opener", "blocker")
    ]
    await in_touch(rest, pal, target)
    await direct(rest, opener, target)  # opened, but the target never wrote there
    await in_touch(rest, blocker, target)
    await rest.ok("PUT", f"blocks/{target.id}", token=blocker.access)  # the watcher blocks
    watchers: list[WsClient] = [await online(w) for w in (pal, opener, blocker)]

    await online(target)
    await watchers[0].expect("presence", user=target.id, online=True)
    # One announcement goes to the whole audience at once: the control recipient
    # has it, so a copy for anyone else would be queued already.
    for watcher in watchers[1:]:
        await watcher.barrier()
        assert [f for f in watcher.taken("presence") if f["user"] == target.id] == []
