"""Message search in the store: what a member may find, on every backend.

The index is kept by the transactions that append, recall and edit, so each test
checks the visible result straight after the write, with no waiting.
"""

from __future__ import annotations

import dataclasses
import secrets

from contract.storekit import make_direct, make_users, new_message, send, tick
from pigeon.core.ids import new_id
from pigeon.store.facade import Store
from pigeon.store.groups import MembershipChange, NewConversation
from pigeon.store.records import Amendment, Appended, MessageRecord, NewMessage, UserRecord
from pigeon.store.search import SearchPage, SearchQuery


async def _say(store: Store, conv_id: str, sender_id: str, text: str) -> MessageRecord:
    [outcome] = await store.messages.append([new_message(conv_id, sender_id, body={"text": text})])
    assert isinstance(outcome, Appended)
    return outcome.message


async def _find(store: Store, user: UserRecord, text: str, **options: object) -> list[int]:
    page = await store.search.search(SearchQuery(user_id=user.id, text=text, **options))  # type: ignore[arg-type]
    return [hit.seq for hit in page.hits]


async def _group(store: Store, owner: UserRecord, others: list[UserRecord]) -> str:
    conv = NewConversation(
        id=new_id("c_"),
        kind="group",
        title="search",
        owner_id=owner.id,
        visibility="private",
        created_at=tick(),
    )
    await store.groups.create(conv, [owner.id, *(u.id for u in others)], None, None)
    return conv.id


def _amend(conv_id: str, sender_id: str, seq: int, text: str | None) -> NewMessage:
    body = None if text is None else {"text": text}
    return dataclasses.replace(
        new_message(conv_id, sender_id),
        kind="recall" if text is None else "edit",
        body={"seq": seq} if text is None else {"seq": seq, "text": text},
        amends=Amendment(seq, body),
    )


async def test_cjk_queries_of_one_two_and_more_characters(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    weather = await _say(store, conv.id, alice.id, "今天天气很好")
    japanese = await _say(store, conv.id, bob.id, "東京で会いましょう")
    korean = await _say(store, conv.id, alice.id, "안녕하세요 여러분")
    await _say(store, conv.id, bob.id, "nothing to see")
    assert await _find(store, bob, "天气") == [weather.seq]
    assert await _find(store, bob, "气") == [weather.seq]
    assert await _find(store, bob, "今天天气") == [weather.seq]
    assert await _find(store, alice, "東京") == [japanese.seq]
    assert await _find(store, alice, "会いましょう") == [japanese.seq]
    assert await _find(store, alice, "안녕") == [korean.seq]
    assert await _find(store, alice, "여러분") == [korean.seq]
    assert await _find(store, alice, "明天") == []


async def test_latin_is_case_insensitive_and_like_wildcards_are_literal(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    hello = await _say(store, conv.id, alice.id, "Hello World")
    percent = await _say(store, conv.id, alice.id, "100% sure_thing")
    assert await _find(store, bob, "hello world") == [hello.seq]
    assert await _find(store, bob, "WOR") == [hello.seq]
    assert await _find(store, bob, "%") == [percent.seq]
    assert await _find(store, bob, "0% s") == [percent.seq]
    assert await _find(store, bob, "e_t") == [percent.seq]
    assert await _find(store, bob, "o_W") == []
    assert await _find(store, bob, '"quoted"') == []


async def test_strangers_find_nothing(store: Store) -> None:
    alice, bob, eve = await make_users(store, 3)
    conv = await make_direct(store, alice, bob)
    word = secrets.token_hex(4)
    await _say(store, conv.id, alice.id, f"秘密 {word}")
    assert await _find(store, eve, "秘密") == []
    assert await _find(store, eve, word) == []
    assert len(await _find(store, bob, word)) == 1


async def test_membership_window(store: Store) -> None:
    owner, me = await make_users(store, 2)
    group = await _group(store, owner, [])
    word = secrets.token_hex(4)
    await _say(store, group, owner.id, f"before I joined {word}")
    await store.groups.apply(MembershipChange(group, tick(), add=[me.id]))
    while_in = await _say(store, group, owner.id, f"while I was in {word}")
    await store.groups.apply(MembershipChange(group, tick(), remove=[me.id]))
    await _say(store, group, owner.id, f"after I was removed {word}")
    assert await _find(store, me, word) == [while_in.seq]
    assert len(await _find(store, owner, word)) == 3


async def test_recall_and_edit_follow_the_message(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    recalled = await _say(store, conv.id, alice.id, "撤回的消息")
    edited = await _say(store, conv.id, alice.id, "旧的文字")
    await store.messages.append([_amend(conv.id, alice.id, recalled.seq, None)])
    await store.messages.append([_amend(conv.id, alice.id, edited.seq, "新的文字")])
    assert await _find(store, bob, "撤回") == []
    assert await _find(store, bob, "撤回的消息") == []
    assert await _find(store, bob, "旧的") == []
    assert await _find(store, bob, "新的") == [edited.seq]
    assert await _find(store, bob, "新的文字") == [edited.seq]
    # the edit entry carries the text too, yet is never a result of its own
    assert await _find(store, bob, "文字") == [edited.seq]


async def test_filters_and_pages(store: Store) -> None:
    alice, bob, carol = await make_users(store, 3)
    one = await make_direct(store, alice, bob)
    two = await make_direct(store, alice, carol)
    word = secrets.token_hex(3)
    sent = [
        await _say(store, conv.id, alice.id, f"{word} {i}") for i in range(3) for conv in (one, two)
    ]
    assert len(await _find(store, alice, word)) == 6
    assert len(await _find(store, alice, word, conv_id=one.id)) == 3
    assert await _find(store, alice, word, sender_id=bob.id) == []
    middle = sent[2].ts
    assert len(await _find(store, alice, word, before_ts=middle)) == 2
    assert len(await _find(store, alice, word, after_ts=middle)) == 3
    seen: list[tuple[str, int]] = []
    below = None
    for _ in range(10):
        page: SearchPage = await store.search.search(
            SearchQuery(user_id=alice.id, text=word, limit=4, below_id=below)
        )
        seen += [(hit.conv_id, hit.seq) for hit in page.hits]
        if not page.more:
            break
        below = page.below
    assert sorted(seen) == sorted({(m.conv_id, m.seq) for m in sent})
    assert len(seen) == 6


async def test_short_queries_page_through_a_bounded_window(store: Store) -> None:
    alice, bob = await make_users(store, 2)
    conv = await make_direct(store, alice, bob)
    old = await _say(store, conv.id, alice.id, "龙")
    await send(store, conv.id, bob.id, 150)  # hex text: never contains 龙
    found: list[int] = []
    below = None
    for _ in range(10):
        page = await store.search.search(
            SearchQuery(user_id=alice.id, text="龙", below_id=below, scan_rows=100)
        )
        found += [hit.seq for hit in page.hits]
        if not page.more:
            break
        assert page.below is not None
        below = page.below
    assert found == [old.seq]
