"""Offline push against a real server: a webhook receiver and a push service on
127.0.0.1 receive what users without a live connection are sent (docs/push.md).

Receivers answer 503 (``refusing``) until a test has sent everything it means to
collapse, so "exactly one notification" never depends on how fast the machine is:
refused attempts keep the notification pending, and pending ones absorb new messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess
from pushkit import WEBHOOK_SECRET, PushServiceReceiver, WebhookReceiver

from .people import create_group, query_db
from .wsclient import Account, Rest, connect, direct, eventually, register, send_rest

PUSH_ENV = {
    "PIGEON_PUSH_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "PIGEON_PUSH_ALLOW_PRIVATE": "127.0.0.1",
    "PIGEON_PUSH_FIRST_DELAY_S": "0",
    "PIGEON_PUSH_RETRY_BASE_S": "0.2",
    "PIGEON_PUSH_RETRY_MAX_S": "1",
    "PIGEON_PUSH_MAX_ATTEMPTS": "100",
    "PIGEON_PUSH_LEASE_S": "5",
    "PIGEON_PUSH_POLL_S": "0.2",
    "PIGEON_PUSH_SCAN_S": "2",
}


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.close()


@pytest.fixture
async def push_service() -> AsyncIterator[PushServiceReceiver]:
    receiver = await PushServiceReceiver("").start()
    yield receiver
    await receiver.close()


def push_env(webhook: WebhookReceiver, **extra: str) -> dict[str, str]:
    return {**PUSH_ENV, "PIGEON_PUSH_WEBHOOK_URL": webhook.url, **extra}


async def subscribe(rest: Rest, account: Account, service: PushServiceReceiver) -> str:
    if not service.vapid_public_key:
        config = await rest.ok("GET", "config")
        service.vapid_public_key = config["push"]["vapid_public_key"]
    sub = await rest.ok(
        "POST",
        "push/subscriptions",
        status=201,
        token=account.access,
        json=service.new_subscription(),
    )
    return str(sub["id"])


def outbox(server: ServerProcess, state: str = "pending") -> int:
    return int(query_db(server, "SELECT count(*) FROM push_jobs WHERE state = ?", (state,))[0][0])


async def settled(server: ServerProcess) -> None:
    """Wait until the outbox holds nothing pending: nothing more will be sent."""

    async def empty() -> bool:
        return outbox(server) == 0

    await eventually(empty, what="the outbox to drain")


async def release_when(receiver: Any, user: str, check: Callable[[dict[str, Any]], bool]) -> None:
    """Keep refusing until an attempt for ``user`` satisfies ``check``, then accept."""

    async def attempted() -> bool:
        return any(check(p) for p in receiver.seen(user))

    await eventually(attempted, what="a matching delivery attempt")
    receiver.refusing = False


async def test_an_offline_user_gets_one_collapsed_notification_per_provider(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
    push_service: PushServiceReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    await subscribe(rest, bob, push_service)
    conv = await direct(rest, alice, bob)
    webhook.refusing = push_service.refusing = True
    for n in range(3):
        await send_rest(rest, alice, conv, f"hello {n}", f"c{n}")

    def all_three(payload: dict[str, Any]) -> bool:
        return bool(payload["count"] == 3)

    await release_when(webhook, bob.id, all_three)
    await release_when(push_service, bob.id, all_three)
    await settled(server)

    for receiver in (webhook, push_service):
        assert receiver.problems == []
        [note] = receiver.accepted(bob.id)
        assert note["id"] == f"{bob.id}:{conv}:3"
        assert (note["count"], note["first_seq"], note["last_seq"]) == (3, 1, 3)
        assert note["conv"] == {"id": conv, "kind": "direct", "title": alice.username}
        assert note["sender"] == {"id": alice.id, "name": alice.username}
        assert note["preview"] == "hello 2"
        assert note["mention"] is False
        # every attempt at the same content carries the same key, retries included
        assert {p["id"] for p in receiver.seen(bob.id) if p["last_seq"] == 3} == {note["id"]}
    assert webhook.accepted(alice.id) == []  # the sender is never notified


async def test_a_mention_breaks_through_mute_and_online_users_get_nothing(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
    push_service: PushServiceReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    owner, muter, present = [await register(rest, p) for p in ("owner", "muter", "present")]
    await subscribe(rest, muter, push_service)
    group = await create_group(rest, owner, [muter, present], title="crew")
    conv = group["id"]
    await rest.ok("PATCH", f"conversations/{conv}", token=muter.access, json={"muted": True})
    live, _ = await connect(http, server, present)
    try:
        await send_rest(rest, owner, conv, "plain news", "plain")
        body = {"cid": "ping", "kind": "text", "body": {"text": "look"}, "mentions": [muter.id]}
        await rest.ok("POST", f"conversations/{conv}/messages", token=owner.access, json=body)

        async def delivered() -> bool:
            return bool(webhook.accepted(muter.id)) and bool(push_service.accepted(muter.id))

        await eventually(delivered, what="the mention's notifications")
        await settled(server)
    finally:
        await live.close()
    for receiver in (webhook, push_service):
        [note] = receiver.accepted(muter.id)
        assert (note["count"], note["last_seq"], note["mention"]) == (1, note["first_seq"], True)
        assert note["preview"] == "look"
        assert note["conv"]["title"] == "crew"
    assert webhook.seen(present.id) == []


async def test_preferences_turn_notifications_and_previews_off(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    await rest.ok("PATCH", "users/me/notifications", token=bob.access, json={"preview": False})
    await rest.ok("PATCH", "users/me/notifications", token=carol.access, json={"enabled": False})
    to_bob, to_carol = await direct(rest, alice, bob), await direct(rest, alice, carol)
    await send_rest(rest, alice, to_carol, "not for a phone", "c1")
    await send_rest(rest, alice, to_bob, "secret text", "b1")

    async def bob_told() -> bool:
        return bool(webhook.accepted(bob.id))

    await eventually(bob_told, what="bob's notification")
    await settled(server)
    [note] = webhook.accepted(bob.id)
    assert note["preview"] is None
    assert note["count"] == 1
    assert webhook.seen(carol.id) == []


async def test_notifications_survive_a_crash_before_planning_and_before_delivery(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
) -> None:
    # Push switched off: messages are committed and nothing is planned, as when a node
    # dies between commit and planning.
    server = server_factory(env=push_env(webhook, PIGEON_PUSH_ENABLED="false"))
    rest = Rest(http, server)
    alice, bob, carol = [await register(rest, p) for p in ("alice", "bob", "carol")]
    to_bob = await direct(rest, alice, bob)
    await send_rest(rest, alice, to_bob, "before the crash", "b1")
    server.kill()
    server.env["PIGEON_PUSH_ENABLED"] = "true"
    webhook.refusing = True
    server.start()

    # Planned after the restart from the stored stream; now a delivery is refused...
    async def attempted() -> bool:
        return bool(webhook.seen(bob.id))

    await eventually(attempted, what="an attempt for the message committed before the crash")
    to_carol = await direct(rest, alice, carol)
    await send_rest(rest, alice, to_carol, "planned, never delivered", "c1")

    async def planned() -> bool:
        return bool(webhook.seen(carol.id))

    await eventually(planned, what="an attempt for carol")
    server.kill()  # ...and the node dies with both notifications undelivered
    webhook.refusing = False
    server.start()

    async def delivered() -> bool:
        return bool(webhook.accepted(bob.id)) and bool(webhook.accepted(carol.id))

    await eventually(delivered, what="delivery after the restart")
    await settled(server)
    assert [n["preview"] for n in webhook.accepted(bob.id)] == ["before the crash"]
    assert [n["preview"] for n in webhook.accepted(carol.id)] == ["planned, never delivered"]
    assert webhook.problems == []


async def test_a_notification_the_receiver_keeps_refusing_is_dead_lettered(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
) -> None:
    server = server_factory(env=push_env(webhook, PIGEON_PUSH_MAX_ATTEMPTS="2"))
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    webhook.refusing = True
    await send_rest(rest, alice, await direct(rest, alice, bob), "hello?", "d1")

    async def dead() -> bool:
        return outbox(server, "dead") == 1

    await eventually(dead, what="the dead letter")
    assert len(webhook.seen(bob.id)) == 2
    [(error,)] = query_db(server, "SELECT last_error FROM push_jobs WHERE state = 'dead'")
    assert "503" in error


# --- REST: preferences and subscriptions

INVALID_SUBSCRIPTION, TOO_MANY, INVALID_SETTINGS, NO_SUCH_SUBSCRIPTION = 40060, 40061, 40062, 40460
BAD_REQUEST = 40000


async def test_notification_preferences_round_trip_and_bad_ones_are_refused(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    rest = Rest(http, server)
    me = await register(rest, "prefs")
    defaults = await rest.ok("GET", "users/me/notifications", token=me.access)
    assert defaults == {"enabled": True, "preview": True, "dnd": None, "time_zone": "UTC"}
    changed = await rest.ok(
        "PATCH",
        "users/me/notifications",
        token=me.access,
        json={"dnd": {"start": "22:30", "end": "07:00"}, "time_zone": "Europe/Paris"},
    )
    assert changed["dnd"] == {"start": "22:30", "end": "07:00"}
    assert changed["time_zone"] == "Europe/Paris"
    assert changed["enabled"] is True  # untouched by a partial update
    cleared = await rest.ok("PATCH", "users/me/notifications", token=me.access, json={"dnd": None})
    assert cleared["dnd"] is None
    await rest.fails(
        "PATCH",
        "users/me/notifications",
        400,
        INVALID_SETTINGS,
        token=me.access,
        json={"time_zone": "Mars/Olympus_Mons"},
    )
    for bad in ({"dnd": {"start": "24:00", "end": "07:00"}}, {"dnd": {"start": "7:00"}}):
        await rest.fails(
            "PATCH", "users/me/notifications", 400, BAD_REQUEST, token=me.access, json=bad
        )
    await rest.fails(
        "PATCH", "users/me/notifications", 400, BAD_REQUEST, token=me.access, json={"enabled": []}
    )
    await rest.fails("GET", "users/me/notifications", 401, 40100)


async def test_subscriptions_are_checked_listed_and_deleted(
    server: ServerProcess, http: aiohttp.ClientSession, push_service: PushServiceReceiver
) -> None:
    rest = Rest(http, server)
    me, other = await register(rest, "subs"), await register(rest, "other")
    sub_id = await subscribe(rest, me, push_service)
    listed = await rest.ok("GET", "push/subscriptions", token=me.access)
    assert [s["id"] for s in listed["items"]] == [sub_id]
    good = push_service.new_subscription()
    for shape in (
        {**good, "endpoint": "ftp://push.example/x"},
        {**good, "keys": {**good["keys"], "p256dh": "AAAA"}},
        {**good, "keys": {**good["keys"], "auth": "!!!not base64!!!"}},
    ):
        await rest.fails(
            "POST", "push/subscriptions", 400, BAD_REQUEST, token=me.access, json=shape
        )
    not_a_point = {**good, "keys": {**good["keys"], "p256dh": "B" + "_" * 86}}  # 0x07…
    await rest.fails(
        "POST", "push/subscriptions", 400, INVALID_SUBSCRIPTION, token=me.access, json=not_a_point
    )
    await rest.fails(
        "DELETE", f"push/subscriptions/{sub_id}", 404, NO_SUCH_SUBSCRIPTION, token=other.access
    )
    await rest.ok("DELETE", f"push/subscriptions/{sub_id}", token=me.access)
    await rest.fails(
        "DELETE", f"push/subscriptions/{sub_id}", 404, NO_SUCH_SUBSCRIPTION, token=me.access
    )
    for _ in range(20):
        await subscribe(rest, me, push_service)
    await rest.fails(
        "POST",
        "push/subscriptions",
        400,
        TOO_MANY,
        token=me.access,
        json=push_service.new_subscription(),
    )


async def test_a_subscription_the_push_service_calls_gone_is_deleted(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
    push_service: PushServiceReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    await subscribe(rest, bob, push_service)
    push_service.gone.update(push_service.browsers)  # the browser unsubscribed meanwhile
    await send_rest(rest, alice, await direct(rest, alice, bob), "anyone there?", "g1")

    async def forgotten() -> bool:
        listed = await rest.ok("GET", "push/subscriptions", token=bob.access)
        return not listed["items"]

    await eventually(forgotten, what="the gone subscription to be deleted")
    await settled(server)
    assert len(webhook.accepted(bob.id)) == 1  # the webhook is not affected


async def test_do_not_disturb_and_mute_plan_nothing(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    alice, sleeper, muter = [await register(rest, p) for p in ("alice", "sleeper", "muter")]
    now = datetime.now(UTC)
    window = {  # two hours around now, in UTC: it may span midnight, which is allowed
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    await rest.ok(
        "PATCH",
        "users/me/notifications",
        token=sleeper.access,
        json={"dnd": window, "time_zone": "UTC"},
    )
    to_sleeper, to_muter = await direct(rest, alice, sleeper), await direct(rest, alice, muter)
    await rest.ok("PATCH", f"conversations/{to_muter}", token=muter.access, json={"muted": True})
    await send_rest(rest, alice, to_sleeper, "are you up?", "s1")
    await send_rest(rest, alice, to_muter, "no mention here", "m1")

    async def planned() -> bool:  # the cursors moved past both messages: planning is over
        rows = query_db(
            server,
            "SELECT count(*) FROM push_cursors WHERE conv_id IN (?, ?) AND seq >= 1",
            (to_sleeper, to_muter),
        )
        return bool(rows[0][0] == 2)

    await eventually(planned, what="planning of both messages")
    assert outbox(server) == 0
    assert webhook.received == []


async def test_reactions_and_pins_notify_nobody(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    webhook: WebhookReceiver,
) -> None:
    server = server_factory(env=push_env(webhook))
    rest = Rest(http, server)
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    webhook.refusing = True
    await send_rest(rest, alice, conv, "first", "c1")
    await rest.ok(
        "POST", f"conversations/{conv}/messages/1/reactions/%F0%9F%91%8D", token=alice.access
    )
    await rest.ok("POST", f"conversations/{conv}/pins", token=alice.access, json={"seq": 1})
    await send_rest(rest, alice, conv, "last", "c2")  # seq 4: the marks took 2 and 3

    def up_to_the_last(payload: dict[str, Any]) -> bool:
        return bool(payload["last_seq"] == 4)

    await release_when(webhook, bob.id, up_to_the_last)
    await settled(server)
    notes = webhook.accepted(bob.id)
    assert sum(note["count"] for note in notes) == 2  # the two texts, nothing else
    assert {note["last_seq"] for note in notes} <= {1, 4}
    assert notes[-1]["preview"] == "last"
