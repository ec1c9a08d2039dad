"""Builders for contract tests: users, direct conversations and messages in a real store.

Every builder makes fresh random ids, so tests (and hypothesis examples) sharing one
store never see each other's rows except through global queries such as user search.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings

from pigeon.core.ids import new_id, now_ms
from pigeon.store.facade import Store
from pigeon.store.records import (
    Appended,
    AppendOutcome,
    ConversationRecord,
    LoginRecord,
    MessageRecord,
    NewMessage,
    UserRecord,
)

_clock = itertools.count(1)


def store_property(max_examples: int) -> settings:
    """Settings for a property whose examples share one store fixture (each example
    builds its own rows). Timing rules come from the suite's profile and are kept."""
    inherited = settings().suppress_health_check
    return settings(
        max_examples=max_examples,
        suppress_health_check=[*inherited, HealthCheck.function_scoped_fixture],
    )


def tick() -> int:
    """A strictly increasing fake timestamp (ms), so ordering by time is deterministic."""
    return 1_700_000_000_000 + next(_clock) * 10


def user_record(username: str | None = None, display_name: str | None = None) -> UserRecord:
    username = username or f"u{secrets.token_hex(6)}"
    return UserRecord(
        id=new_id("u_"),
        username=username,
        display_name=display_name or username.title(),
        avatar=None,
        dm_policy="anyone",
        disabled=False,
        created_at=now_ms(),
        password_hash="not-a-real-hash",
    )


async def make_user(
    store: Store, username: str | None = None, display_name: str | None = None
) -> UserRecord:
    user = user_record(username, display_name)
    assert await store.accounts.create_user(user)
    return user


async def make_users(store: Store, count: int) -> list[UserRecord]:
    return [await make_user(store) for _ in range(count)]


async def make_direct(store: Store, a: UserRecord, b: UserRecord) -> ConversationRecord:
    return await store.conversations.direct(new_id("c_"), a.id, b.id, tick())


def new_message(
    conv_id: str,
    sender_id: str,
    cid: str | None = None,
    *,
    body: dict[str, Any] | None = None,
    ts: int | None = None,
) -> NewMessage:
    return NewMessage(
        id=new_id("m_"),
        conv_id=conv_id,
        sender_id=sender_id,
        cid=cid or f"cid-{secrets.token_hex(6)}",
        kind="text",
        body=body or {"text": secrets.token_hex(4)},
        ts=tick() if ts is None else ts,
    )


async def append(store: Store, items: Sequence[NewMessage]) -> list[AppendOutcome]:
    outcomes = await store.messages.append(items)
    assert len(outcomes) == len(items)
    return outcomes


async def send(store: Store, conv_id: str, sender_id: str, count: int = 1) -> list[MessageRecord]:
    """Append ``count`` fresh messages, one batch, and return what was stored."""
    outcomes = await append(store, [new_message(conv_id, sender_id) for _ in range(count)])
    stored = []
    for outcome in outcomes:
        assert isinstance(outcome, Appended)
        assert not outcome.duplicate
        stored.append(outcome.message)
    return stored


async def all_messages(store: Store, conv_id: str) -> list[MessageRecord]:
    """The whole stream, read forward page by page (bounded)."""
    found: list[MessageRecord] = []
    after = 0
    for _ in range(10_000):
        page, more = await store.messages.history(
            conv_id, floor_seq=0, before=None, after=after, limit=100
        )
        found += page
        if not more:
            return found
        after = page[-1].seq
    raise AssertionError("history did not end")


def login_record(
    user: UserRecord, *, device: str = "phone", ttl_ms: int = 3_600_000
) -> LoginRecord:
    now = now_ms()
    return LoginRecord(
        id=new_id("l_"),
        user_id=user.id,
        device=device,
        created_at=now,
        last_seen=now,
        expires_at=now + ttl_ms,
        revoked_at=None,
    )
