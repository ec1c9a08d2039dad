"""Bots on every backend: bot accounts and their token hashes, a rotated token
revoking the logins made with the old one, incoming webhooks, and bots' outgoing
events planned into the outbox one per message, never collapsed (pigeon.bots.store,
pigeon.push.store)."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from pigeon.bots.store import BotEvent, BotStore, BotWebhook, IncomingHook
from pigeon.core.ids import new_id, now_ms
from pigeon.core.tokens import hash_refresh_token
from pigeon.protocol.membership import ConversationKind
from pigeon.push.planner import BOT_TARGET, bot_jobs
from pigeon.push.store import Backlog, Plan, PushStore, push_jobs
from pigeon.store.facade import Store
from pigeon.store.records import LoginRecord, UserRecord

from .storekit import make_direct, make_user, send, user_record


async def make_bot(bots: BotStore) -> tuple[UserRecord, str]:
    base = user_record()
    bot = UserRecord(
        id=base.id,
        username=base.username,
        display_name=base.display_name,
        avatar=None,
        dm_policy="anyone",
        disabled=False,
        created_at=base.created_at,
        bot=True,
    )
    token = "pgb_" + secrets.token_urlsafe(16)
    assert await bots.create_bot(bot, hash_refresh_token(token))
    return bot, token


async def login_of(store: Store, user: UserRecord) -> str:
    now = now_ms()
    login = LoginRecord(new_id("s_"), user.id, "bot", now, now, now + 60_000, None)
    await store.accounts.create_login(login, hash_refresh_token(secrets.token_hex(8)))
    return login.id


async def test_a_bot_is_marked_and_found_by_its_token_hash_only(store: Store) -> None:
    bots = BotStore(store.db)
    bot, token = await make_bot(bots)
    found = await store.accounts.user_by_id(bot.id)
    assert found is not None
    assert found.bot
    assert found.public()["bot"] is True
    assert (await bots.bot_for_token(hash_refresh_token(token))) == found
    assert await bots.bot_for_token(token) is None  # the token itself is not stored
    taken = UserRecord(bot.id + "x", bot.username, "x", None, "anyone", False, 0, bot=True)
    assert not await bots.create_bot(taken, hash_refresh_token("other"))
    person = await make_user(store)
    assert person.public()["bot"] is False


async def test_a_new_token_revokes_the_logins_of_the_old_one(store: Store) -> None:
    bots = BotStore(store.db)
    bot, old = await make_bot(bots)
    login = await login_of(store, bot)
    assert await bots.replace_token(bot.id, hash_refresh_token("new"), now_ms()) == [login]
    assert await bots.bot_for_token(hash_refresh_token(old)) is None
    assert await bots.bot_for_token(hash_refresh_token("new")) is not None
    assert (await store.accounts.revoked_among([login])) == {login}
    assert await bots.replace_token(bot.id, None, now_ms()) == []  # already revoked
    listed = {user.id: has_token for user, has_token in await bots.bots(10_000)}
    assert listed[bot.id] is False


async def test_incoming_webhooks_list_disable_and_delete(store: Store) -> None:
    bots = BotStore(store.db)
    alice, bob = await make_user(store), await make_user(store)
    conv = await make_direct(store, alice, bob)
    hook = IncomingHook(new_id("ih_"), conv.id, alice.id, "CI", "h" * 64, now_ms(), None)
    assert await bots.add_hook(hook, 1)
    assert await bots.hooks_of(conv.id, 10) == [hook]
    other = IncomingHook(new_id("ih_"), conv.id, alice.id, "CD", "g" * 64, now_ms(), None)
    assert not await bots.add_hook(other, 1)  # the conversation's cap
    await bots.disable_hook(hook.id, 5)
    disabled = await bots.hook(hook.id)
    assert disabled is not None
    assert not disabled.active
    assert not await bots.remove_hook("c_other", hook.id)
    assert await bots.remove_hook(conv.id, hook.id)
    assert await bots.hook(hook.id) is None


async def test_bot_events_are_planned_one_per_message_and_due_at_once(store: Store) -> None:
    bots, outbox = BotStore(store.db), PushStore(store.db)
    bot, _ = await make_bot(bots)
    alice = await make_user(store)
    conv = await make_direct(store, alice, bot)
    await bots.set_webhook(
        BotWebhook(bot.id, "https://bot.example/hook", "s", frozenset({BotEvent.MENTION}), 1)
    )
    await send(store, conv.id, alice.id, 2)
    backlog = await outbox.backlog(conv.id, 100)
    # A bot is told through its webhook only, never as a person to notify.
    assert set(backlog.members) == {alice.id}
    assert backlog.bots == {bot.id: frozenset({BotEvent.MENTION})}
    assert backlog.kind == "direct"
    jobs = bot_jobs(backlog, backlog.messages)  # direct: every message, mention or not
    assert [(j.user_id, j.target, j.first_seq, j.last_seq) for j in jobs] == [
        (bot.id, BOT_TARGET, 1, 1),
        (bot.id, BOT_TARGET, 2, 2),
    ]
    now = now_ms()
    assert not await outbox.commit_plans([Plan(backlog, 2, jobs)], now + 60_000, now)
    stmt = select(push_jobs.c.first_seq, push_jobs.c.due_at).where(
        push_jobs.c.user_id == bot.id, push_jobs.c.conv_id == conv.id
    )
    async with store.db.read() as conn:
        rows = sorted(tuple(r) for r in (await conn.execute(stmt)).all())
    assert rows == [(1, now), (2, now)]  # not collapsed, not delayed
    claimed = await outbox.claim(now, 60_000, 100)
    assert {(j.user_id, j.first_seq) for j in claimed} >= {(bot.id, 1), (bot.id, 2)}


def test_mention_only_bots_hear_groups_only_when_mentioned() -> None:
    from pigeon.push.store import Unplanned

    plain = Unplanned(1, "u_alice", "text", (), 1)
    mention = Unplanned(2, "u_alice", "text", ("u_bot",), 2)
    everyone = Unplanned(3, "u_alice", "text", ("@all",), 3)
    own = Unplanned(4, "u_bot", "text", (), 4)
    messages = [plain, mention, everyone, own]
    only = frozenset({BotEvent.MENTION})
    group = Backlog("c_g", 0, messages, {"u_alice": False}, ConversationKind.GROUP, {"u_bot": only})
    assert [j.last_seq for j in bot_jobs(group, messages)] == [2, 3]
    assert [j.mention for j in bot_jobs(group, messages)] == [True, True]
    every = frozenset({BotEvent.MESSAGE})
    chatty = Backlog("c_g", 0, messages, {}, ConversationKind.GROUP, {"u_bot": every})
    assert [j.last_seq for j in bot_jobs(chatty, messages)] == [1, 2, 3]  # never its own
