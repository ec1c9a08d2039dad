"""Groups, public rooms and channels against a real server: lifecycle, roles, mutes,
system messages, catch-up by sync, the size limit, history from the join point, the
directory and the online list, and channel posting without per-subscriber writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from harness import ServerProcess, unique_name

from .people import (
    BLOCKED,
    CONVERSATION_NOT_FOUND,
    FORBIDDEN,
    GROUP_FULL,
    LOBBY_ID,
    MISSING_CONV,
    MUTED,
    create_group,
    make_admin,
    members_of,
    mute,
    query_db,
    remove,
    sync_entry,
    system_events,
    text_of,
)
from .wsclient import (
    Account,
    Rest,
    WsClient,
    all_history,
    eventually,
    pull_everything,
    register,
    send_rest,
)


async def _people(rest: Rest, *names: str) -> list[Account]:
    return [await register(rest, name) for name in names]


# --- lifecycle and roles


async def test_create_with_members_sets_roles_and_narrates_it(rest: Rest) -> None:
    owner, ann, ben = await _people(rest, "own", "ann", "ben")
    group = await create_group(rest, owner, [ann, ben], title="  Team  ")
    assert group["kind"] == "group"
    assert group["title"] == "Team"
    assert group["owner"] == owner.id
    assert group["member_count"] == 3
    assert group["visibility"] == "private"
    conv = group["id"]
    assert await members_of(rest, ann, conv) == {
        owner.id: "owner",
        ann.id: "member",
        ben.id: "member",
    }
    [created] = await system_events(rest, ben, conv)
    assert created["event"] == "group_created"
    assert created["actor"] == owner.id
    assert sorted(created["users"]) == sorted([ann.id, ben.id])
    fetched = await rest.ok("GET", f"groups/{conv}", token=ann.access)
    assert fetched == group


async def test_every_change_is_a_system_message_in_the_stream(rest: Rest) -> None:
    owner, ann, ben, cid_ = await _people(rest, "own", "ann", "ben", "cid")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [ben.id]})
    await make_admin(rest, owner, conv, ann)
    await rest.ok(
        "PATCH",
        f"groups/{conv}",
        token=ann.access,
        json={"title": "Renamed", "announcement": "hi"},
    )
    until = 2**42
    await mute(rest, ann, conv, ben, until)
    await mute(rest, ann, conv, ben, None)
    await rest.ok("POST", f"groups/{conv}/members", token=ann.access, json={"user_ids": [cid_.id]})
    await remove(rest, ann, conv, cid_)
    await rest.ok("POST", f"groups/{conv}/leave", token=ben.access)
    await rest.ok("POST", f"groups/{conv}/transfer", token=owner.access, json={"user_id": ann.id})

    events = await system_events(rest, ann, conv)
    assert [(e["event"], e["actor"]) for e in events] == [
        ("group_created", owner.id),
        ("member_added", owner.id),
        ("member_updated", owner.id),
        ("group_updated", ann.id),
        ("member_updated", ann.id),
        ("member_updated", ann.id),
        ("member_added", ann.id),
        ("member_removed", ann.id),
        ("member_left", ben.id),
        ("owner_transferred", owner.id),
    ]
    assert events[1]["users"] == [ben.id]
    assert events[2]["role"] == "admin"
    assert events[3]["changes"] == {"title": "Renamed", "announcement": "hi"}
    assert events[4]["muted_until"] == until
    assert events[5]["muted_until"] is None
    assert events[7]["users"] == [cid_.id]
    assert events[9]["users"] == [ann.id]

    group = await rest.ok("GET", f"groups/{conv}", token=owner.access)
    assert (group["title"], group["avatar"], group["announcement"]) == ("Renamed", None, "hi")
    assert group["owner"] == ann.id
    assert group["member_count"] == 2
    assert await members_of(rest, owner, conv) == {ann.id: "owner", owner.id: "admin"}


async def test_adding_nobody_new_changes_nothing(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    conv = (await create_group(rest, owner, [ann]))["id"]
    for user_ids in ([], [ann.id], [ann.id, owner.id]):
        group = await rest.ok(
            "POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": user_ids}
        )
        assert group["member_count"] == 2
    assert [e["event"] for e in await system_events(rest, ann, conv)] == ["group_created"]


async def test_system_messages_are_pushed_to_online_members(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, ann, ben = await _people(rest, "own", "ann", "ben")
    conv = (await create_group(rest, owner, [ann]))["id"]
    ann_ws: WsClient = await online(ann)
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [ben.id]})
    pushed = await ann_ws.expect("msg", conv=conv, kind="system")
    assert pushed["body"]["event"] == "member_added"
    await remove(rest, owner, conv, ann)
    # The departing member is told too: it is the last message they can read.
    gone = await ann_ws.expect("msg", conv=conv, kind="system")
    assert gone["body"] == {"event": "member_removed", "actor": owner.id, "users": [ann.id]}


async def test_live_delivery_follows_membership_at_once(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    """On one node a membership change holds for live delivery from the moment it is
    committed: a member added gets the very next post, one removed gets none after."""
    owner, ann, ben = await _people(rest, "own", "ann", "ben")
    conv = (await create_group(rest, owner, [ann]))["id"]
    owner_ws: WsClient = await online(owner)
    ann_ws: WsClient = await online(ann)
    ben_ws: WsClient = await online(ben)
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [ben.id]})
    first = await owner_ws.send_text(conv, "to ann and ben")
    await ben_ws.expect("msg", conv=conv, seq=first["seq"])
    await ann_ws.expect("msg", conv=conv, seq=first["seq"])
    await remove(rest, owner, conv, ann)
    after = await owner_ws.send_text(conv, "ann has gone")
    await ben_ws.expect("msg", conv=conv, seq=after["seq"])
    await ann_ws.barrier()
    assert not [f for f in ann_ws.backlog if f.get("t") == "msg" and f["seq"] >= after["seq"]]


async def test_dissolve_ends_the_group_for_everyone(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await send_rest(rest, ann, conv, "before the end", unique_name("c"))
    await rest.fails("DELETE", f"groups/{conv}", 403, FORBIDDEN, token=ann.access)
    await rest.ok("DELETE", f"groups/{conv}", token=owner.access)
    for person in (owner, ann):
        await rest.fails("GET", f"groups/{conv}", 404, CONVERSATION_NOT_FOUND, token=person.access)
        await rest.fails(
            "POST",
            f"conversations/{conv}/messages",
            404,
            CONVERSATION_NOT_FOUND,
            token=person.access,
            json={"cid": unique_name("c"), "kind": "text", "body": {"text": "x"}},
        )
        # History stays readable up to the notice of the end.
        events = await system_events(rest, person, conv)
        assert events[-1]["event"] == "group_dissolved"
        assert await text_of(rest, person, conv) == ["before the end"]
    listed = await rest.ok("GET", "conversations", token=ann.access, params={"limit": 200})
    assert conv not in [c["id"] for c in listed["items"]]


async def test_owner_cannot_leave_and_transfer_needs_a_member(rest: Rest) -> None:
    owner, ann, stranger = await _people(rest, "own", "ann", "str")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await rest.fails("POST", f"groups/{conv}/leave", 403, FORBIDDEN, token=owner.access)
    await rest.fails(
        "POST",
        f"groups/{conv}/transfer",
        404,
        40401,
        token=owner.access,
        json={"user_id": stranger.id},
    )
    await rest.ok("POST", f"groups/{conv}/transfer", token=owner.access, json={"user_id": ann.id})
    await rest.ok("POST", f"groups/{conv}/leave", token=owner.access)
    assert await members_of(rest, ann, conv) == {ann.id: "owner"}


async def test_inviting_someone_who_blocked_you_is_refused(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    await rest.ok("PUT", f"blocks/{owner.id}", token=ann.access)
    reply = await rest.fails(
        "POST", "groups", 403, BLOCKED, token=owner.access, json={"title": "t", "members": [ann.id]}
    )
    assert reply.body["data"] == {"user_ids": [ann.id]}
    conv = (await create_group(rest, owner))["id"]
    await rest.fails(
        "POST",
        f"groups/{conv}/members",
        403,
        BLOCKED,
        token=owner.access,
        json={"user_ids": [ann.id]},
    )


# --- mutes


async def test_a_muted_member_can_send_again_once_the_mute_runs_out(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, ann = await _people(rest, "own", "ann")
    conv = (await create_group(rest, owner, [ann]))["id"]
    ann_ws: WsClient = await online(ann)
    # Refusals are checked under a mute that cannot run out meanwhile, however slow the
    # machine; then a short mute replaces it and must run out by itself.
    member = await mute(rest, owner, conv, ann, 2**42)
    assert member["muted_until"] == 2**42

    cid = unique_name("c")
    frame = {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": "free"}}
    refused = await ann_ws.request(frame)
    assert refused["t"] == "error"
    assert refused["code"] == MUTED
    assert refused["cid"] == cid
    await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        403,
        MUTED,
        token=ann.access,
        json={"cid": cid, "kind": "text", "body": {"text": "free"}},
    )
    server_now = (await ann_ws.request({"t": "ping"}, reply="pong"))["ts"]
    until = server_now + 1500
    member = await mute(rest, owner, conv, ann, until)
    assert member["muted_until"] == until

    async def can_send() -> bool:
        answer = await ann_ws.request(frame)
        assert answer["t"] == "ack" or answer["code"] == MUTED, answer
        return bool(answer["t"] == "ack")

    await eventually(can_send, what="the mute expiring")
    assert await text_of(rest, owner, conv) == ["free"]


async def test_an_admin_lifts_a_mute_early(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await mute(rest, owner, conv, ann, 2**42)
    body = {"cid": unique_name("c"), "kind": "text", "body": {"text": "x"}}
    await rest.fails(
        "POST", f"conversations/{conv}/messages", 403, MUTED, token=ann.access, json=body
    )
    assert (await mute(rest, owner, conv, ann, None))["muted_until"] is None
    await rest.ok("POST", f"conversations/{conv}/messages", token=ann.access, json=body)


# --- sync catch-up and history windows


async def test_offline_members_catch_up_on_membership_by_sync(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, ann, ben, cat = await _people(rest, "own", "ann", "ben", "cat")
    conv = (await create_group(rest, owner, [ann, ben, cat]))["id"]
    ann_ws: WsClient = await online(ann)
    ben_ws: WsClient = await online(ben)
    cat_ws: WsClient = await online(cat)
    ann_cursor = (await ann_ws.sync())["cursor"]
    ben_cursor = (await ben_ws.sync())["cursor"]
    cat_cursor = (await cat_ws.sync())["cursor"]
    await ann_ws.close()
    await ben_ws.close()
    await cat_ws.close()

    newcomer = await register(rest, "new")
    await rest.ok(
        "POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [newcomer.id]}
    )
    await remove(rest, owner, conv, ben)
    await rest.ok("POST", f"groups/{conv}/leave", token=cat.access)

    ann_ws = await online(ann)
    changed = await ann_ws.sync(ann_cursor)
    entry = sync_entry(changed, conv)
    assert entry is not None
    assert "removed" not in entry
    caught_up = await pull_everything(ann_ws, conv, after=1)
    assert [m["body"]["event"] for m in caught_up] == [
        "member_added",
        "member_removed",
        "member_left",
    ]
    assert entry["last_seq"] == caught_up[-1]["seq"]
    assert entry["unread"] == 0  # narration is not unread

    ben_ws = await online(ben)
    first = await ben_ws.sync(ben_cursor)
    entry = sync_entry(first, conv)
    assert entry is not None
    assert entry["removed"] is True
    again = await ben_ws.sync(first["cursor"])
    assert sync_entry(again, conv) is None
    fresh = await ben_ws.sync()
    assert sync_entry(fresh, conv) is None
    cat_ws = await online(cat)
    first = await cat_ws.sync(cat_cursor)
    entry = sync_entry(first, conv)
    assert entry is not None
    assert entry["removed"] is True
    assert sync_entry(await cat_ws.sync(first["cursor"]), conv) is None
    # Ben reads up to the notice of his removal and nothing after it.
    await send_rest(rest, owner, conv, "after ben", unique_name("c"))
    seen = await pull_everything(ben_ws, conv)
    assert seen[-1]["body"]["event"] == "member_removed"
    assert seen[-1]["body"]["users"] == [ben.id]
    assert all(m["kind"] != "text" for m in seen)


async def test_a_member_who_left_keeps_history_up_to_leaving(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await send_rest(rest, owner, conv, "one", unique_name("c"))
    await rest.ok("POST", f"groups/{conv}/leave", token=ann.access)
    await send_rest(rest, owner, conv, "two", unique_name("c"))
    assert await text_of(rest, ann, conv) == ["one"]
    assert (await system_events(rest, ann, conv))[-1]["event"] == "member_left"
    assert await text_of(rest, owner, conv) == ["one", "two"]


async def test_a_member_sees_history_from_joining_not_before(rest: Rest) -> None:
    owner, ann, ben = await _people(rest, "own", "ann", "ben")
    conv = (await create_group(rest, owner, [ann]))["id"]
    await send_rest(rest, owner, conv, "before ben", unique_name("c"))
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [ben.id]})
    await send_rest(rest, ann, conv, "after ben", unique_name("c"))

    seen = await all_history(rest, ben, conv)
    assert seen[0]["kind"] == "system"
    assert seen[0]["body"]["event"] == "member_added"
    assert [m["body"]["text"] for m in seen if m["kind"] == "text"] == ["after ben"]
    # Asking for older pages finds nothing more.
    older = await rest.ok(
        "GET", f"conversations/{conv}/messages", token=ben.access, params={"before": seen[0]["seq"]}
    )
    assert older == {"items": [], "more": False}
    # A member removed and added again sees only the time since rejoining.
    await remove(rest, owner, conv, ben)
    await send_rest(rest, owner, conv, "while away", unique_name("c"))
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [ben.id]})
    assert await text_of(rest, ben, conv) == []


# --- size limit


async def test_the_member_limit_holds_at_the_edge(
    server_factory: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, server_factory("small", env={"PIGEON_MAX_GROUP_MEMBERS": "3"}))
    limits = (await rest.ok("GET", "config"))["limits"]
    assert limits["max_group_members"] == 3
    owner, a, b, c = await _people(rest, "own", "a", "b", "c")

    await rest.fails(
        "POST",
        "groups",
        409,
        GROUP_FULL,
        token=owner.access,
        json={"title": "t", "members": [a.id, b.id, c.id]},
    )
    full = await create_group(rest, owner, [a, b])
    assert full["member_count"] == 3
    conv = full["id"]
    await rest.fails(
        "POST",
        f"groups/{conv}/members",
        409,
        GROUP_FULL,
        token=owner.access,
        json={"user_ids": [c.id]},
    )
    await remove(rest, owner, conv, b)
    await rest.ok("POST", f"groups/{conv}/members", token=owner.access, json={"user_ids": [c.id]})
    assert await members_of(rest, owner, conv) == {
        owner.id: "owner",
        a.id: "member",
        c.id: "member",
    }

    room = await create_group(rest, owner, [a], visibility="public")
    await rest.ok("POST", f"groups/{room['id']}/join", token=b.access)
    await rest.fails("POST", f"groups/{room['id']}/join", 409, GROUP_FULL, token=c.access)


# --- public rooms and the directory


async def test_a_fresh_server_has_the_lobby(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, server)
    ann = await register(rest, "ann")
    directory = await rest.ok("GET", "groups", token=ann.access)
    assert [g["id"] for g in directory["items"]] == [LOBBY_ID]
    lobby = directory["items"][0]
    assert (lobby["title"], lobby["kind"], lobby["visibility"]) == ("lobby", "group", "public")
    joined = await rest.ok("POST", f"groups/{LOBBY_ID}/join", token=ann.access)
    assert joined["member_count"] == 1
    await send_rest(rest, ann, LOBBY_ID, "hello lobby", unique_name("c"))
    assert await text_of(rest, ann, LOBBY_ID) == ["hello lobby"]


async def test_directory_search_finds_public_groups_only(rest: Rest) -> None:
    owner = await register(rest, "own")
    word = unique_name("zq")
    public = await create_group(rest, owner, title=f"Birds {word} club", visibility="public")
    channel = await create_group(
        rest, owner, title=f"{word.upper()} news", visibility="public", kind="channel"
    )
    private = await create_group(rest, owner, title=f"secret {word}")
    found = await rest.ok("GET", "groups", token=owner.access, params={"q": word})
    assert sorted(g["id"] for g in found["items"]) == sorted([public["id"], channel["id"]])
    assert found["more"] is False
    assert private["id"] not in [g["id"] for g in found["items"]]
    # Wildcards are literal text, not patterns.
    nothing = await rest.ok("GET", "groups", token=owner.access, params={"q": "%_%"})
    assert nothing["items"] == []
    # Becoming private removes a room from the directory.
    await rest.ok(
        "PATCH", f"groups/{public['id']}", token=owner.access, json={"visibility": "private"}
    )
    found = await rest.ok("GET", "groups", token=owner.access, params={"q": word})
    assert [g["id"] for g in found["items"]] == [channel["id"]]


async def test_anyone_joins_and_leaves_a_public_room(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    room = (await create_group(rest, owner, visibility="public"))["id"]
    seen = await rest.ok("GET", f"groups/{room}", token=ann.access)
    assert seen["member_count"] == 1
    assert (await rest.ok("POST", f"groups/{room}/join", token=ann.access))["member_count"] == 2
    again = await rest.ok("POST", f"groups/{room}/join", token=ann.access)
    assert again["member_count"] == 2
    await send_rest(rest, ann, room, "hi room", unique_name("c"))
    await rest.ok("POST", f"groups/{room}/leave", token=ann.access)
    events = [e["event"] for e in await system_events(rest, owner, room)]
    assert events == ["group_created", "member_joined", "member_left"]
    assert await text_of(rest, owner, room) == ["hi room"]
    assert (await rest.ok("GET", f"groups/{room}", token=owner.access))["member_count"] == 1


async def test_private_groups_cannot_be_found_or_joined(rest: Rest) -> None:
    owner, ann = await _people(rest, "own", "ann")
    private = (await create_group(rest, owner))["id"]
    for conv in (private, MISSING_CONV):
        missing = await rest.fails(
            "GET", f"groups/{conv}", 404, CONVERSATION_NOT_FOUND, token=ann.access
        )
        refused = await rest.fails(
            "POST", f"groups/{conv}/join", 404, CONVERSATION_NOT_FOUND, token=ann.access
        )
        assert missing.body == refused.body
    assert await members_of(rest, owner, private) == {owner.id: "owner"}


async def test_the_online_list_shows_members_connected_now(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, ann, ben, outsider = await _people(rest, "own", "ann", "ben", "out")
    room = (await create_group(rest, owner, [ann, ben], visibility="public"))["id"]
    await rest.fails(
        "GET", f"groups/{room}/online", 404, CONVERSATION_NOT_FOUND, token=outsider.access
    )

    async def online_ids() -> set[str]:
        page = await rest.ok("GET", f"groups/{room}/online", token=owner.access)
        return {u["id"] for u in page["items"]}

    ann_ws: WsClient = await online(ann)
    await online(outsider)
    assert await online_ids() == {ann.id}
    await online(ben)
    assert await online_ids() == {ann.id, ben.id}
    await ann_ws.close()

    async def ann_gone() -> bool:
        return await online_ids() == {ben.id}

    await eventually(ann_gone, what="ann leaving the online list")


# --- channels


async def test_channel_owner_and_admins_post_subscribers_read(
    rest: Rest, online: Callable[[Account], Any]
) -> None:
    owner, editor, reader, late = await _people(rest, "own", "ed", "rd", "late")
    channel = await create_group(rest, owner, [editor], kind="channel", visibility="public")
    conv = channel["id"]
    assert channel["kind"] == "channel"
    await make_admin(rest, owner, conv, editor)
    joined = await rest.ok("POST", f"groups/{conv}/join", token=reader.access)
    assert joined["member_count"] == 3
    reader_ws: WsClient = await online(reader)

    await send_rest(rest, owner, conv, "from the owner", unique_name("c"))
    await send_rest(rest, editor, conv, "from an admin", unique_name("c"))
    assert (await reader_ws.expect("msg", conv=conv))["body"]["text"] == "from the owner"
    assert (await reader_ws.expect("msg", conv=conv))["body"]["text"] == "from an admin"

    refused = await reader_ws.request(
        {"t": "send", "cid": unique_name("c"), "conv": conv, "kind": "text", "body": {"text": "x"}}
    )
    assert (refused["t"], refused["code"]) == ("error", FORBIDDEN)
    await rest.fails(
        "POST",
        f"conversations/{conv}/messages",
        403,
        FORBIDDEN,
        token=reader.access,
        json={"cid": unique_name("c"), "kind": "text", "body": {"text": "x"}},
    )

    # Subscribing and unsubscribing write no notice into the stream.
    before = (await rest.ok("GET", f"conversations/{conv}/messages", token=owner.access))["items"]
    await rest.ok("POST", f"groups/{conv}/join", token=late.access)
    await rest.ok("POST", f"groups/{conv}/leave", token=late.access)
    await rest.ok("POST", f"groups/{conv}/leave", token=reader.access)
    after = (await rest.ok("GET", f"conversations/{conv}/messages", token=owner.access))["items"]
    assert after == before
    assert (await rest.ok("GET", f"groups/{conv}", token=owner.access))["member_count"] == 2
    await send_rest(rest, owner, conv, "gone", unique_name("c"))
    await reader_ws.barrier()
    assert reader_ws.taken("msg") == []
    assert await text_of(rest, reader, conv) == ["from the owner", "from an admin"]


async def test_a_channel_post_writes_nothing_per_subscriber(
    rest: Rest, shared_server: ServerProcess
) -> None:
    owner = await register(rest, "own")
    subscribers = await _people(rest, *["sub"] * 6)
    channel = await create_group(rest, owner, subscribers, kind="channel")
    conv = channel["id"]

    def member_rows() -> list[tuple[Any, ...]]:
        return query_db(
            shared_server,
            "SELECT user_id, role, state, read_seq, recv_seq, change_id, muted, pinned"
            " FROM members WHERE conv_id = ? ORDER BY user_id",
            (conv,),
        )

    def total_members() -> int:
        return int(query_db(shared_server, "SELECT COUNT(*) FROM members")[0][0])

    rows_before = member_rows()
    count_before = total_members()
    ack = await send_rest(rest, owner, conv, "broadcast", unique_name("c"))
    rows_after = member_rows()
    assert total_members() == count_before
    assert len(rows_after) == len(subscribers) + 1
    others_before = [r for r in rows_before if r[0] != owner.id]
    others_after = [r for r in rows_after if r[0] != owner.id]
    assert others_after == others_before  # no read_seq, recv_seq or change_id moved
    [owner_row] = [r for r in rows_after if r[0] == owner.id]
    assert owner_row[3] == ack["seq"]  # the sender's own read watermark, and only that
    stored = query_db(
        shared_server,
        "SELECT COUNT(*) FROM messages WHERE conv_id = ? AND seq = ?",
        (conv, ack["seq"]),
    )
    assert stored == [(1,)]
    # Subscribers still learn of the post: it is unread for them.
    listed = await rest.ok("GET", "conversations", token=subscribers[0].access)
    [item] = [c for c in listed["items"] if c["id"] == conv]
    assert item["unread"] == 1
