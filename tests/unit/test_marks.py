"""Reactions and pins, in process (tests/corekit.py): the rules at their edges.

Over a real server on both backends: tests/integration/test_reactions_pins.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from corekit import CoreKit, core_kit
from pigeon.core.errors import CoreError
from pigeon.core.marks import check_emoji, is_one_emoji
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.membership import ConversationKind

MAX_REACTIONS = 3
MAX_PINS = 2
EMOJI_CHARS = 8


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[CoreKit]:
    async with core_kit(
        tmp_path,
        max_reactions_per_message=MAX_REACTIONS,
        max_pins_per_conversation=MAX_PINS,
        reaction_max_chars=EMOJI_CHARS,
    ) as started:
        yield started


async def _refused(code: ErrorCode, pending: Any) -> None:
    with pytest.raises(CoreError) as refused:
        await pending
    assert refused.value.code is code


@pytest.mark.parametrize(
    "emoji",
    ["👍", "❤️", "🇫🇷", "1️⃣", "#⃣", "👍🏽", "👩‍💻", "🏳️‍🌈", "‼", "©"],
)
def test_one_emoji_is_accepted(emoji: str) -> None:
    assert is_one_emoji(emoji)


@pytest.mark.parametrize(
    "text", ["", "a", "ok", "👍👍", "👍 ", " 👍", "🇫", "1", "👍\u200d", "\u200d👍", "🏽", "\ufe0f"]
)
def test_text_and_several_emojis_are_not_one_emoji(text: str) -> None:
    assert not is_one_emoji(text)


def test_the_emoji_length_is_a_setting_with_an_edge() -> None:
    family = "👨‍👩‍👧"  # five code points
    assert check_emoji(family, 5) == family
    with pytest.raises(CoreError) as refused:
        check_emoji(family, 4)
    assert refused.value.code is ErrorCode.INVALID_EMOJI


async def _react(kit: CoreKit, user: str, conv: str, seq: int, emoji: str, **on: bool) -> Any:
    return await kit.amend(user, conv, "react", seq=seq, emoji=emoji, **on)


async def _summary(kit: CoreKit, user: str, conv: str, seq: int) -> Any:
    page = await kit.services.messaging.history(user, conv, before=seq + 1, limit=1)
    return page.items[0].public().get("reactions")


async def test_a_toggle_twice_is_off_and_the_entry_says_what_it_did(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    conv = await kit.group(alice, bob)
    target = await kit.send(alice, conv)
    first = await _react(kit, bob, conv, target.seq, "👍")
    both = await _react(kit, alice, conv, target.seq, "👍")
    second = await _react(kit, bob, conv, target.seq, "👍")
    assert first.body == {"seq": target.seq, "emoji": "👍", "on": True, "count": 1}
    assert both.body["count"] == 2
    assert second.body == {"seq": target.seq, "emoji": "👍", "on": False, "count": 1}
    assert await _summary(kit, alice, conv, target.seq) == [
        {"emoji": "👍", "count": 1, "mine": True}
    ]
    assert await _summary(kit, bob, conv, target.seq) == [
        {"emoji": "👍", "count": 1, "mine": False}
    ]
    # explicit on/off that changes nothing is refused, and takes no seq
    await _refused(ErrorCode.REACTION_UNCHANGED, _react(kit, bob, conv, target.seq, "👍", on=False))
    await _refused(
        ErrorCode.REACTION_UNCHANGED, _react(kit, alice, conv, target.seq, "👍", on=True)
    )


async def test_distinct_emojis_per_message_are_capped_at_the_setting(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    conv = await kit.group(alice, bob)
    target = await kit.send(alice, conv)
    for emoji in ("👍", "😂", "🎉")[:MAX_REACTIONS]:
        await _react(kit, alice, conv, target.seq, emoji)
    await _refused(ErrorCode.TOO_MANY_REACTIONS, _react(kit, alice, conv, target.seq, "🔥"))
    await _react(kit, bob, conv, target.seq, "😂")  # an emoji already there is no new one


async def test_what_may_not_be_reacted_to(kit: CoreKit) -> None:
    alice, bob, stranger = await kit.user("alice"), await kit.user("bob"), await kit.user("x")
    conv = await kit.group(alice, bob)
    target = await kit.send(alice, conv)
    reaction = await _react(kit, bob, conv, target.seq, "👍")
    await _refused(ErrorCode.CONVERSATION_NOT_FOUND, _react(kit, stranger, conv, target.seq, "👍"))
    await _refused(ErrorCode.MESSAGE_NOT_FOUND, _react(kit, bob, conv, reaction.seq, "👍"))
    await _refused(ErrorCode.MESSAGE_NOT_FOUND, _react(kit, bob, conv, 999, "👍"))
    await _refused(ErrorCode.INVALID_EMOJI, _react(kit, bob, conv, target.seq, "yes"))
    await kit.amend(alice, conv, "recall", seq=target.seq)
    await _refused(ErrorCode.MESSAGE_NOT_FOUND, _react(kit, bob, conv, target.seq, "👍"))


async def test_channel_subscribers_react_but_do_not_pin(kit: CoreKit) -> None:
    owner, reader = await kit.user("owner"), await kit.user("reader")
    conv = await kit.group(owner, reader, kind=ConversationKind.CHANNEL)
    post = await kit.send(owner, conv)
    await _react(kit, reader, conv, post.seq, "🎉")
    await _refused(ErrorCode.NOT_ADMIN, kit.amend(reader, conv, "pin", seq=post.seq))
    await kit.amend(owner, conv, "pin", seq=post.seq)


async def test_reactions_and_pins_are_not_unread(kit: CoreKit) -> None:
    alice, bob = await kit.user("alice"), await kit.user("bob")
    conv = await kit.direct(alice, bob)
    target = await kit.send(alice, conv)
    await kit.services.receipts.mark(bob, conv, read=target.seq)
    await _react(kit, alice, conv, target.seq, "👍")
    await kit.amend(alice, conv, "pin", seq=target.seq)  # either party of a direct chat
    item = await kit.services.conversations.item(bob, conv)
    assert item["unread"] == 0


async def test_pins_are_capped_listed_newest_first_and_a_recall_unpins(kit: CoreKit) -> None:
    owner, member = await kit.user("owner"), await kit.user("member")
    conv = await kit.group(owner, member)
    one, two, three = [await kit.send(member, conv, t) for t in ("one", "two", "three")]
    await _refused(ErrorCode.NOT_ADMIN, kit.amend(member, conv, "pin", seq=one.seq))
    await kit.amend(owner, conv, "pin", seq=one.seq)
    await _refused(ErrorCode.ALREADY_PINNED, kit.amend(owner, conv, "pin", seq=one.seq))
    await kit.amend(owner, conv, "pin", seq=two.seq)
    await _refused(ErrorCode.TOO_MANY_PINS, kit.amend(owner, conv, "pin", seq=three.seq))
    pins = await kit.services.messaging.pins(member, conv)
    assert [p.seq for p in pins] == [two.seq, one.seq]
    assert pins[0].pinned_by == owner
    assert pins[0].message.body == {"text": "two"}

    await kit.amend(member, conv, "recall", seq=two.seq)
    assert [p.seq for p in await kit.services.messaging.pins(member, conv)] == [one.seq]
    await _refused(ErrorCode.MESSAGE_NOT_FOUND, kit.amend(owner, conv, "unpin", seq=two.seq))
    await _refused(ErrorCode.PIN_NOT_FOUND, kit.amend(owner, conv, "unpin", seq=three.seq))
    await kit.amend(owner, conv, "unpin", seq=one.seq)
    await kit.amend(owner, conv, "pin", seq=three.seq)
    assert [p.seq for p in await kit.services.messaging.pins(member, conv)] == [three.seq]
