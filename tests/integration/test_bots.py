"""Bots and integrations against a real server (docs/bots.md): bot accounts made with
the real CLI, the bot mark on every transport, outgoing webhooks to a real local
receiver that checks each signature, incoming webhooks, and the example echo bot run
as a process.

Receivers answer 503 (``refusing``) until a test has seen what it waits for, so
"delivered once" and "retried" never depend on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness import WAIT_S, ServerProcess, unique_name
from pigeon.client import ConnectionOptions, PigeonClient
from pushkit import WebhookReceiver

from .people import create_group, query_db
from .test_push import PUSH_ENV
from .wsclient import (
    Account,
    Rest,
    account_from,
    connect,
    direct,
    eventually,
    history,
    register,
    send_rest,
)

ROOT = Path(__file__).resolve().parents[2]
HOOK_RATE_PER_MIN = 3
HOOK_MAX_BODY_BYTES = 2048
MAX_HOOKS = 3
BOT_ENV = {
    **PUSH_ENV,
    "PIGEON_HOOK_RATE_PER_MIN": str(HOOK_RATE_PER_MIN),
    "PIGEON_HOOK_MAX_BODY_BYTES": str(HOOK_MAX_BODY_BYTES),
    "PIGEON_MAX_HOOKS_PER_CONVERSATION": str(MAX_HOOKS),
    "PIGEON_REVOCATION_CHECK_S": "0.5",  # a CLI revoke reaches the server through the DB
}

HOOK_NOT_FOUND, HOOK_PAYLOAD_INVALID, HOOK_RATE_LIMITED = 40470, 40071, 42913
BOT_TOKEN_INVALID, NOT_A_BOT, BOT_NOT_FRIENDABLE = 40106, 40306, 40307


@pytest.fixture(scope="module")
def bot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("bots"), BOT_ENV).start()
    yield server
    server.stop()


@pytest.fixture
def rest(http: aiohttp.ClientSession, bot_server: ServerProcess) -> Rest:
    return Rest(http, bot_server)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    started = await WebhookReceiver().start()
    yield started
    await started.close()


def token_in(output: str) -> str:
    found = re.search(r"^token: (pgb_\S+)$", output, re.MULTILINE)
    assert found, output
    return found.group(1)


@dataclass
class Bot:
    name: str
    token: str
    account: Account


async def bot_sign_in(rest: Rest, token: str) -> Account:
    grant = await rest.ok("POST", "auth/bot", json={"token": token})
    return account_from(grant, "")


async def make_bot(rest: Rest, server: ServerProcess) -> Bot:
    name = unique_name("bot")
    status, out, err = await server.cli("bot", "create", name, "--display-name", "Helper")
    assert status == 0, err
    token = token_in(out)
    return Bot(name, token, await bot_sign_in(rest, token))


async def subscribe(
    rest: Rest, bot: Bot, receiver: WebhookReceiver, events: list[str] | None = None
) -> None:
    hook = await rest.ok(
        "PUT",
        "bots/me/webhook",
        token=bot.account.access,
        json={"url": receiver.url, "events": events or ["message"]},
    )
    assert hook["secret"].startswith("whsec_")
    receiver.secret = hook["secret"]


def events_for(receiver: WebhookReceiver, bot: Bot, accepted: bool = True) -> list[dict[str, Any]]:
    return [
        r.payload
        for r in receiver.received
        if r.payload.get("bot") == bot.account.id and (r.accepted or not accepted)
    ]


def pending_events(server: ServerProcess, bot: Bot) -> int:
    rows = query_db(
        server,
        "SELECT count(*) FROM push_jobs WHERE user_id = ? AND state = 'pending'",
        (bot.account.id,),
    )
    return int(rows[0][0])


async def all_sent(server: ServerProcess, bot: Bot, conv: str, last_seq: int) -> None:
    """Planning got past ``last_seq`` of ``conv`` and no event of the bot is pending."""

    async def done() -> bool:
        rows = query_db(server, "SELECT seq FROM push_cursors WHERE conv_id = ?", (conv,))
        return bool(rows) and rows[0][0] >= last_seq and pending_events(server, bot) == 0

    await eventually(done, what="every event of the bot to be sent")


# --- bot accounts


async def test_the_cli_creates_lists_rotates_and_revokes_bots(
    rest: Rest, bot_server: ServerProcess
) -> None:
    bot = await make_bot(rest, bot_server)
    status, _, err = await bot_server.cli("bot", "create", bot.name)
    assert status == 1
    assert "Error: 40901" in err

    status, out, _ = await bot_server.cli("bot", "token", bot.name)
    assert status == 0
    fresh = token_in(out)
    await rest.fails("POST", "auth/bot", 401, BOT_TOKEN_INVALID, json={"token": bot.token})
    assert (await bot_sign_in(rest, fresh)).id == bot.account.id

    status, out, _ = await bot_server.cli("bot", "revoke", bot.name)
    assert status == 0
    await rest.fails("POST", "auth/bot", 401, BOT_TOKEN_INVALID, json={"token": fresh})
    status, out, _ = await bot_server.cli("bot", "list")
    assert f"{bot.account.id}\t{bot.name}\tHelper\trevoked" in out.splitlines()
    # A bot has no password: refused like a wrong one.
    await rest.fails(
        "POST", "auth/login", 401, 40101, json={"username": bot.name, "password": "p" * 12}
    )


async def test_bots_are_marked_in_user_objects_over_rest_and_websocket(
    rest: Rest, bot_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    bot, alice = await make_bot(rest, bot_server), await register(rest, "alice")
    me = await rest.ok("GET", "users/me", token=bot.account.access)
    assert me["bot"] is True
    assert (await rest.ok("GET", f"users/{bot.account.id}", token=alice.access))["bot"] is True
    assert (await rest.ok("GET", f"users/{alice.id}", token=bot.account.access))["bot"] is False
    found = await rest.ok("GET", "users", token=alice.access, params={"q": bot.name})
    assert [u["bot"] for u in found["items"]] == [True]
    # An admin adds a bot to a group like anyone; members carry the mark.
    group = await create_group(rest, alice, [bot.account])
    page = await rest.ok("GET", f"groups/{group['id']}/members", token=alice.access)
    assert {m["user"]["id"]: m["user"]["bot"] for m in page["items"]} == {
        alice.id: False,
        bot.account.id: True,
    }
    conv = await direct(rest, alice, bot.account)  # messaged directly, no friendship needed
    listed = await rest.ok("GET", "conversations", token=alice.access)
    [item] = [c for c in listed["items"] if c["id"] == conv]
    assert item["peer"]["bot"] is True
    await rest.fails(
        "POST",
        "friends/requests",
        403,
        BOT_NOT_FRIENDABLE,
        token=alice.access,
        json={"user_id": bot.account.id},
    )

    for account, expected in ((bot.account, True), (alice, False)):
        client, ready = await connect(http, bot_server, account)
        assert ready["bot"] is expected
        await client.close()
    # The SDK over the TCP port (Protobuf): a bot signs in and is marked the same way.
    async with PigeonClient(bot_server.base_url) as sdk:
        grant = await sdk.login_bot(bot.token)
        assert grant["user"]["bot"] is True
        live = await sdk.connect(options=ConnectionOptions(url=bot_server.tcp_url))
        assert live.ready is not None
        assert live.ready.bot is True
        await live.close()


async def test_a_revoked_bot_token_closes_its_socket_and_refuses_it(
    rest: Rest, bot_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    bot = await make_bot(rest, bot_server)
    client, _ = await connect(http, bot_server, bot.account)
    status, _, err = await bot_server.cli("bot", "revoke", bot.name)
    assert status == 0, err
    assert await client.closed() == 4003
    await rest.fails("GET", "users/me", 401, 40104, token=bot.account.access)
    await rest.fails("POST", "auth/bot", 401, BOT_TOKEN_INVALID, json={"token": bot.token})
    await rest.fails("POST", "auth/bot", 401, BOT_TOKEN_INVALID, json={"token": "pgb_guess"})


async def test_only_bots_set_a_webhook_and_only_to_allowed_addresses(
    rest: Rest, bot_server: ServerProcess
) -> None:
    bot, person = await make_bot(rest, bot_server), await register(rest, "person")
    good = {"url": "https://bots.example/hook", "events": ["message"]}
    await rest.fails("PUT", "bots/me/webhook", 403, NOT_A_BOT, token=person.access, json=good)
    for url in ("http://10.0.0.8/hook", "http://[::1]:9/hook", "http://169.254.169.254/"):
        await rest.fails(
            "PUT",
            "bots/me/webhook",
            400,
            40070,
            token=bot.account.access,
            json={**good, "url": url},
        )
    for bad in ({**good, "events": []}, {**good, "events": ["typing"]}, {**good, "url": "ftp://x"}):
        await rest.fails("PUT", "bots/me/webhook", 400, 40000, token=bot.account.access, json=bad)
    await rest.fails("GET", "bots/me/webhook", 404, 40400, token=bot.account.access)
    await rest.ok("PUT", "bots/me/webhook", token=bot.account.access, json=good)
    shown = await rest.ok("GET", "bots/me/webhook", token=bot.account.access)
    assert shown["secret"] is None  # shown once, in the PUT answer
    assert shown["url"] == good["url"]
    await rest.ok("DELETE", "bots/me/webhook", token=bot.account.access)
    await rest.fails("DELETE", "bots/me/webhook", 404, 40400, token=bot.account.access)


# --- outgoing webhooks


async def test_an_event_is_retried_after_a_failure_and_delivered_once_signed(
    rest: Rest, bot_server: ServerProcess, receiver: WebhookReceiver
) -> None:
    bot, alice = await make_bot(rest, bot_server), await register(rest, "alice")
    await subscribe(rest, bot, receiver)
    conv = await direct(rest, alice, bot.account)
    receiver.refusing = True
    await send_rest(rest, alice, conv, "hi bot", "a1")

    async def retried() -> bool:
        return len(events_for(receiver, bot, accepted=False)) >= 2

    await eventually(retried, what="a second attempt after a refused one")
    receiver.refusing = False
    await send_rest(rest, bot.account, conv, "a bot's own words are not sent back", "b1")
    await send_rest(rest, alice, conv, "again", "a2")
    await all_sent(bot_server, bot, conv, 3)

    assert receiver.problems == []  # every attempt was signed with the bot's secret
    # A retried event may arrive after later ones: order is by the message's seq.
    first, second = sorted(events_for(receiver, bot), key=lambda e: int(e["message"]["seq"]))
    assert first["id"] == f"{bot.account.id}:{conv}:1"
    assert {
        e["id"] for e in events_for(receiver, bot, accepted=False) if e["message"]["seq"] == 1
    } == {first["id"]}  # one id on every attempt
    assert first["type"] == "message"
    assert first["conv"]["id"] == conv
    assert first["conv"]["kind"] == "direct"
    assert first["mention"] is False
    assert first["message"]["body"] == {"text": "hi bot"}
    assert first["message"]["from"] == alice.id
    assert first["sender"]["id"] == alice.id
    assert first["sender"]["bot"] is False
    assert second["message"]["seq"] == 3
    assert second["id"] == f"{bot.account.id}:{conv}:3"


async def test_a_mention_only_bot_hears_just_its_mentions_in_a_group(
    rest: Rest, bot_server: ServerProcess, receiver: WebhookReceiver
) -> None:
    bot, alice = await make_bot(rest, bot_server), await register(rest, "alice")
    await subscribe(rest, bot, receiver, ["mention"])
    group = (await create_group(rest, alice, [bot.account]))["id"]
    await send_rest(rest, alice, group, "not for the bot", "g1")
    mention = {
        "cid": "g2",
        "kind": "text",
        "body": {"text": "@helper what now?"},
        "mentions": [bot.account.id],
    }
    ack = await rest.ok("POST", f"conversations/{group}/messages", token=alice.access, json=mention)
    await all_sent(bot_server, bot, group, ack["seq"])
    [event] = events_for(receiver, bot)
    assert event["message"]["seq"] == ack["seq"]
    assert event["mention"] is True
    assert event["conv"]["kind"] == "group"


async def test_an_event_survives_a_kill_9_between_commit_and_delivery(
    server_factory: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    receiver: WebhookReceiver,
) -> None:
    server = server_factory(env=BOT_ENV)
    rest = Rest(http, server)
    bot, alice = await make_bot(rest, server), await register(rest, "alice")
    await subscribe(rest, bot, receiver)
    conv = await direct(rest, alice, bot.account)
    receiver.refusing = True
    await send_rest(rest, alice, conv, "committed, not yet delivered", "k1")

    async def attempted() -> bool:
        return bool(events_for(receiver, bot, accepted=False))

    await eventually(attempted, what="a refused attempt")
    server.kill()
    receiver.refusing = False
    server.start()

    async def delivered() -> bool:
        return bool(events_for(receiver, bot))

    await eventually(delivered, what="delivery after the restart")
    await all_sent(server, bot, conv, 1)
    [event] = events_for(receiver, bot)
    assert event["message"]["body"]["text"] == "committed, not yet delivered"
    assert {e["id"] for e in events_for(receiver, bot, accepted=False)} == {event["id"]}
    assert receiver.problems == []


# --- incoming webhooks


async def new_hook(rest: Rest, owner: Account, conv: str, name: str = "CI") -> dict[str, Any]:
    hook: dict[str, Any] = await rest.ok(
        "POST",
        f"conversations/{conv}/webhooks",
        status=201,
        token=owner.access,
        json={"name": name},
    )
    return hook


async def test_an_incoming_webhook_posts_live_to_members(
    rest: Rest, bot_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    group = (await create_group(rest, alice, [bob]))["id"]
    hook = await new_hook(rest, alice, group)
    watcher, _ = await connect(http, bot_server, bob)
    ack = await rest.ok("POST", hook["url"], json={"text": "deploy done", "name": "Deployer"})
    frame = await watcher.expect("msg")
    assert frame["seq"] == ack["seq"]
    assert frame["from"] == alice.id
    assert frame["body"] == {"text": "deploy done", "via": {"hook": hook["id"], "name": "Deployer"}}
    await rest.ok("POST", hook["url"], json={"text": "no name: the hook's"})
    frame = await watcher.expect("msg")
    assert frame["body"]["via"] == {"hook": hook["id"], "name": "CI"}
    await watcher.close()

    listed = await rest.ok("GET", f"conversations/{group}/webhooks", token=bob.access)
    assert [(h["id"], h["url"], h["active"]) for h in listed["items"]] == [(hook["id"], None, True)]
    # Neither creator nor admin: bob cannot delete it; alice can.
    await rest.fails(
        "DELETE", f"conversations/{group}/webhooks/{hook['id']}", 403, 40305, token=bob.access
    )
    await rest.ok("DELETE", f"conversations/{group}/webhooks/{hook['id']}", token=alice.access)
    await rest.fails("POST", hook["url"], 404, HOOK_NOT_FOUND, json={"text": "gone"})
    # The secret never reaches the logs: the request lines show it hidden.
    secret = hook["url"].rsplit("/", 1)[1]
    log = bot_server.log()
    assert secret not in log
    assert f"/api/v1/hooks/{hook['id']}/***" in log


async def test_incoming_webhook_rate_limit_edge(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    hook = await new_hook(rest, alice, await direct(rest, alice, bob))
    for n in range(HOOK_RATE_PER_MIN):
        await rest.ok("POST", hook["url"], json={"text": f"post {n}"})
    refused = await rest.fails("POST", hook["url"], 429, HOOK_RATE_LIMITED, json={"text": "more"})
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.body["data"]["retry_after"] == int(refused.headers["Retry-After"])


async def test_incoming_webhook_refuses_bad_secrets_and_bad_bodies(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    hook = await new_hook(rest, alice, conv)
    url = hook["url"]
    wrong = url[:-1] + ("A" if url[-1] != "A" else "B")
    unknown = url.replace(hook["id"], "ih_" + "0" * 26)
    answers = [
        await rest.fails("POST", u, 404, HOOK_NOT_FOUND, json={"text": "x"})
        for u in (wrong, unknown)
    ]
    assert answers[0].body == answers[1].body  # a wrong secret and no hook look alike
    for body in (b"{not json", b"[1, 2]", b'{"text": ""}'):
        await rest.fails(
            "POST",
            url,
            400,
            HOOK_PAYLOAD_INVALID,
            data=body,
            headers={"Content-Type": "application/json"},
        )

    sizes = await new_hook(rest, alice, conv, "sizes")
    base = b'{"text": "fits"}'
    exact = base + b" " * (HOOK_MAX_BODY_BYTES - len(base))
    await rest.ok("POST", sizes["url"], data=exact, headers={"Content-Type": "application/json"})
    await rest.fails(
        "POST",
        sizes["url"],
        413,
        41300,
        data=exact + b" ",
        headers={"Content-Type": "application/json"},
    )


async def test_a_conversation_holds_at_most_max_hooks(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    hooks = [await new_hook(rest, alice if n % 2 else bob, conv) for n in range(MAX_HOOKS)]
    refused = await rest.fails(
        "POST", f"conversations/{conv}/webhooks", 400, 40072, token=alice.access, json={}
    )
    assert refused.body["data"] == {"max_hooks": MAX_HOOKS}
    listed = await rest.ok("GET", f"conversations/{conv}/webhooks", token=alice.access)
    assert {h["id"] for h in listed["items"]} == {h["id"] for h in hooks}
    await rest.ok("DELETE", f"conversations/{conv}/webhooks/{hooks[0]['id']}", token=bob.access)
    await new_hook(rest, alice, conv)


async def test_the_creator_leaving_disables_the_hook(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    group = (await create_group(rest, alice, [bob]))["id"]
    stranger = await register(rest, "stranger")
    await rest.fails(
        "POST", f"conversations/{group}/webhooks", 404, 40402, token=stranger.access, json={}
    )
    hook = await new_hook(rest, bob, group)
    await rest.ok("POST", f"groups/{group}/leave", token=bob.access)
    await rest.fails("POST", hook["url"], 404, HOOK_NOT_FOUND, json={"text": "still here?"})
    listed = await rest.ok("GET", f"conversations/{group}/webhooks", token=alice.access)
    assert [h["active"] for h in listed["items"]] == [False]


# --- the example bot


async def test_the_example_bot_answers_through_its_outgoing_webhook(
    rest: Rest, bot_server: ServerProcess
) -> None:
    bot, alice = await make_bot(rest, bot_server), await register(rest, "alice")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "echo_bot" / "bot.py"),
        "--server",
        bot_server.base_url,
        "--token",
        bot.token,
        "--listen",
        "127.0.0.1:0",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT_S)
        assert b"listening on 127.0.0.1:" in line, line
        conv = await direct(rest, alice, bot.account)
        await send_rest(rest, alice, conv, "hello there", "e1")
        await send_rest(rest, alice, conv, "/time", "e2")

        async def answered() -> bool:
            page = await history(rest, alice, conv)
            return sum(m["from"] == bot.account.id for m in page["items"]) >= 2

        await eventually(answered, what="the echo bot's two answers")
        page = await history(rest, alice, conv)
        answers = {
            m["reply_to"]: m["body"]["text"] for m in page["items"] if m["from"] == bot.account.id
        }
        assert answers[1] == "echo: hello there"
        assert re.fullmatch(r"It is \d\d:\d\d:\d\d UTC\.", answers[2]), answers
        await all_sent(bot_server, bot, conv, 2)
        assert len(answers) == 2  # its own answers are not sent back to it
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), WAIT_S)
