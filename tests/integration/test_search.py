"""Message search through a real server, on SQLite and on PostgreSQL.

A two-character Chinese query finds exactly the messages its caller may read:
not a stranger's, not those sent before joining or after being removed, not a
recalled one, an edited one by its new text only. Bad queries get their codes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from harness import ServerProcess, unique_name

from .backends import BACKENDS, serve_on
from .people import create_group, remove
from .wsclient import Account, Rest, direct, register, send_rest

BAD_REQUEST, INVALID_CHARACTERS, INVALID_CURSOR = 40000, 40006, 40008
SEARCH_QUERY_EMPTY, SEARCH_QUERY_TOO_LONG, CONVERSATION_NOT_FOUND = 40050, 40051, 40402


@pytest.fixture(scope="module", params=BACKENDS)
def backend_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module: every test runs against both."""
    yield from serve_on(request.param, tmp_path_factory, "search")


@pytest.fixture
def rest(http: aiohttp.ClientSession, backend_server: ServerProcess) -> Rest:
    return Rest(http, backend_server)


async def _search(rest: Rest, who: Account, q: str, **params: str | int) -> Any:
    return await rest.ok("GET", "search/messages", token=who.access, params={"q": q, **params})


async def _found(rest: Rest, who: Account, q: str, **params: str | int) -> set[tuple[str, int]]:
    page = await _search(rest, who, q, **params)
    return {(item["conv"], item["seq"]) for item in page["items"]}


async def _say(rest: Rest, who: Account, conv: str, words: str) -> int:
    return int((await send_rest(rest, who, conv, words, unique_name("c")))["seq"])


async def _amend(rest: Rest, who: Account, conv: str, kind: str, body: dict[str, Any]) -> None:
    payload = {"cid": unique_name("a"), "kind": kind, "body": body}
    await rest.ok("POST", f"conversations/{conv}/messages", token=who.access, json=payload)


async def test_two_character_chinese_query_finds_only_what_the_caller_may_read(rest: Rest) -> None:
    marker = secrets.token_hex(3)  # keeps this test's rows apart on a shared server
    alice, bob, eve = [await register(rest, p) for p in ("alice", "bob", "eve")]
    ours, theirs = await direct(rest, alice, bob), await direct(rest, bob, eve)
    hit = await _say(rest, alice, ours, f"{marker} 我们明天开会")
    await _say(rest, alice, ours, f"{marker} 今天下雨")
    elsewhere = await _say(rest, bob, theirs, f"{marker} 明天见")
    assert await _found(rest, alice, "明天") == {(ours, hit)}
    page = await _search(rest, alice, "明天")
    assert page["items"][0]["from"] == alice.id
    assert page["items"][0]["snippet"] == [f"{marker} 我们", "明天", "开会"]
    assert await _found(rest, bob, "明天") == {(ours, hit), (theirs, elsewhere)}
    assert await _found(rest, eve, "开会") == set()
    assert await _found(rest, alice, "明天", conv=ours) == {(ours, hit)}
    await rest.fails(
        "GET",
        "search/messages",
        404,
        CONVERSATION_NOT_FOUND,
        token=eve.access,
        params={"q": "明天", "conv": ours},
    )


async def test_departed_member_finds_nothing_after_departure(rest: Rest) -> None:
    owner, me = await register(rest, "owner"), await register(rest, "me")
    group = (await create_group(rest, owner, [me]))["id"]
    before = await _say(rest, owner, group, "会议纪要 第一份")
    await remove(rest, owner, group, me)
    await _say(rest, owner, group, "会议纪要 第二份")
    assert await _found(rest, me, "会议") == {(group, before)}
    assert len(await _found(rest, owner, "会议")) == 2


async def test_recalled_text_is_never_found_and_edits_replace_the_text(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    recalled = await _say(rest, alice, conv, "密码是火星")
    edited = await _say(rest, alice, conv, "周五聚餐")
    await _amend(rest, alice, conv, "recall", {"seq": recalled})
    await _amend(rest, alice, conv, "edit", {"seq": edited, "text": "周六聚餐"})
    assert await _found(rest, bob, "火星") == set()
    assert await _found(rest, bob, "密码是火星") == set()
    assert await _found(rest, bob, "周五") == set()
    assert await _found(rest, bob, "周六") == {(conv, edited)}
    assert await _found(rest, bob, "聚餐") == {(conv, edited)}


async def test_snippets_are_plain_text_and_pages_do_not_overlap(rest: Rest) -> None:
    alice, bob = await register(rest, "alice"), await register(rest, "bob")
    conv = await direct(rest, alice, bob)
    word = secrets.token_hex(4)
    await _say(rest, alice, conv, f"<b>{word}</b> & <script>")
    for i in range(4):
        await _say(rest, alice, conv, f"{word} {i}")
    [item] = (await _search(rest, bob, word, limit=1, before=2**53))["items"]
    assert item["snippet"] == ["", word, " 3"]
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await _search(rest, bob, word, **params)
        seen += [entry["seq"] for entry in page["items"]]
        if not page["more"]:
            break
        cursor = page["cursor"]
    assert seen == [5, 4, 3, 2, 1]
    oldest = (await _search(rest, bob, word, cursor=cursor or "", limit=2))["items"]
    assert oldest[-1]["snippet"] == ["<b>", word, "</b> & <script>"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, SEARCH_QUERY_EMPTY),
        ({"q": "   "}, SEARCH_QUERY_EMPTY),
        ({"q": "长" * 101}, SEARCH_QUERY_TOO_LONG),
        ({"q": "a" * 100 + " "}, SEARCH_QUERY_TOO_LONG),  # counted as sent
        ({"q": "ok", "from": "not an id"}, INVALID_CHARACTERS),
        ({"q": "a\x00b"}, INVALID_CHARACTERS),
        ({"q": "ok", "cursor": "x1"}, INVALID_CURSOR),
        ({"q": "ok", "limit": 0}, BAD_REQUEST),
        ({"q": "ok", "before": -1}, BAD_REQUEST),
    ],
)
async def test_bad_queries_get_their_codes(
    rest: Rest, params: dict[str, str | int], code: int
) -> None:
    me = await register(rest, "q")
    await rest.fails("GET", "search/messages", code // 100, code, token=me.access, params=params)


async def test_limits_are_published(rest: Rest) -> None:
    config = await rest.ok("GET", "config")
    limits = config.get("limits", config)
    assert limits["search_max_query_chars"] == 100
    assert limits["search_max_results"] >= 1
