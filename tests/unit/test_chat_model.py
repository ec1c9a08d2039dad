"""What `pigeon chat` shows, as data: ticks, unread counts, titles learnt from events,
replies, edits and recalls, group events and attachments in words, the status line,
and refusals without their numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pigeon.chat.model import ChatModel, Line, Link, Tick
from pigeon.chat.words import FileInfo, error_text, human_size
from pigeon.client import Ack, Message
from pigeon.protocol.errors import ErrorCode

ME, PEER, CAROL = "u_me", "u_peer", "u_carol"


def message(
    at: int, sender: str = PEER, kind: str = "text", reply_to: int | None = None, **body: Any
) -> Message:
    return Message(
        "c_1", at, f"m_{at}", sender, kind, body or {"text": f"m{at}"}, 0, f"c{at}", reply_to
    )


def model_with_names() -> ChatModel:
    model = ChatModel(ME)
    model.names.update({PEER: "Alice", CAROL: "Carol"})
    return model


def text_of(model: ChatModel, seq: int) -> str:
    conv = model.conv("c_1")
    return model.line(conv, conv.entries[seq]).text


def test_own_message_ticks_move_from_sending_to_read() -> None:
    model = ChatModel(ME)
    model.open("c_1")
    entry = model.sending("c_1", "cid-1", "text", {"text": "hi"})
    conv = model.conv("c_1")
    assert model.line(conv, entry).tick is Tick.SENDING
    assert model.line(conv, entry).prefix.startswith("#… ")
    model.acked(Ack("cid-1", "c_1", 4, "m_4", 1000))
    assert model.line(conv, entry).tick is Tick.SENT
    model.on_receipt("c_1", PEER, read=None, recv=4)
    assert model.line(conv, entry).tick is Tick.DELIVERED
    model.on_receipt("c_1", PEER, read=4, recv=None)
    line = model.line(conv, entry)
    assert (line.tick, line.mine, line.text) == (Tick.READ, True, "hi")
    assert line.prefix.startswith("#4 ")
    assert line.prefix.endswith(" me:")
    # Someone else's message has no tick.
    model.on_message(message(5))
    assert model.line(conv, conv.entries[5]).tick is None


def test_a_refused_message_stays_marked_and_a_refused_edit_goes() -> None:
    model = ChatModel(ME)
    model.open("c_1")
    entry = model.sending("c_1", "cid-1", "text", {"text": "hi"})
    model.failed("c_1", "cid-1")
    assert model.conv("c_1").tick(entry) is Tick.FAILED
    model.sending("c_1", "cid-2", "edit", {"seq": 99, "text": "nothing there"})
    model.failed("c_1", "cid-2")
    assert [(line.text, line.tick) for line in model.lines()] == [("hi", Tick.FAILED)]
    assert list(model.conv("c_1").pending) == ["cid-1"]


def test_unread_counts_only_closed_conversations_and_not_group_notices() -> None:
    model = ChatModel(ME)
    assert model.on_message(message(1))
    assert model.conv("c_1").unread == 1
    model.on_message(message(2, kind="system", event="member_joined", actor=CAROL))
    assert model.conv("c_1").unread == 1
    model.open("c_1")
    assert model.conv("c_1").unread == 0
    assert model.on_message(message(3))
    assert model.conv("c_1").unread == 0


def test_group_titles_are_learnt_from_its_events() -> None:
    model = model_with_names()
    model.on_message(message(1, kind="system", event="group_created", actor=PEER, title="Team"))
    conv = model.conv("c_1")
    assert (model.title(conv), conv.kind, model.unknown()) == ("Team", "group", [])
    model.on_message(
        message(2, kind="system", event="group_updated", actor=PEER, changes={"title": "Crew"})
    )
    assert model.title(conv) == "Crew"
    assert text_of(model, 2) == '* Alice renamed the group to "Crew"'


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (
            {"event": "group_created", "actor": PEER, "title": "T", "users": [ME, CAROL]},
            '* Alice created the group "T" with you, Carol',
        ),
        ({"event": "group_created", "actor": ME, "title": "T"}, '* you created the group "T"'),
        ({"event": "member_added", "actor": PEER, "users": [CAROL]}, "* Alice added Carol"),
        ({"event": "member_removed", "actor": PEER, "users": [ME]}, "* Alice removed you"),
        ({"event": "member_banned", "actor": PEER, "users": [CAROL]}, "* Alice banned Carol"),
        ({"event": "member_joined", "actor": CAROL}, "* Carol joined"),
        ({"event": "member_left", "actor": CAROL}, "* Carol left"),
        (
            {"event": "member_updated", "actor": PEER, "users": [CAROL], "role": "admin"},
            "* Alice made Carol an admin",
        ),
        (
            {"event": "member_updated", "actor": PEER, "users": [CAROL], "muted_until": None},
            "* Alice unmuted Carol",
        ),
        (
            {"event": "owner_transferred", "actor": PEER, "users": [CAROL]},
            "* Alice handed ownership of the group to Carol",
        ),
        ({"event": "group_dissolved", "actor": PEER}, "* Alice dissolved the group"),
        (
            {"event": "group_updated", "actor": PEER, "changes": {"announcement": None}},
            "* Alice cleared the announcement",
        ),
        (
            {"event": "group_updated", "actor": PEER, "changes": {"visibility": "public"}},
            "* Alice made the group public",
        ),
        ({"event": "group_tidied", "actor": "u_unknown"}, "* someone: group tidied"),
    ],
)
def test_group_events_read_as_sentences(body: dict[str, Any], sentence: str) -> None:
    model = model_with_names()
    model.on_message(message(1, kind="system", **body))
    line = model.line(model.conv("c_1"), model.conv("c_1").entries[1])
    assert (line.text, line.system, line.tick) == (sentence, True, None)


def test_attachments_show_name_and_size_once_known_and_how_to_save() -> None:
    model = model_with_names()
    model.on_message(message(1, kind="image", file_id="f_1", width=640, height=480))
    model.on_message(message(2, kind="file", file_id="f_2", name="report.pdf"))
    model.on_message(message(3, kind="image", file_id="f_1", width=640, height=480, caption="hi"))
    conv = model.conv("c_1")
    assert model.files_to_describe(conv.entries.values()) == ["f_1", "f_2"]
    assert text_of(model, 1) == "[image]  /save 1"
    assert text_of(model, 2) == "[file report.pdf]  /save 2"
    model.files["f_1"] = FileInfo.of({"name": "cat.png", "size": 120 * 1024, "mime": "image/png"})
    model.files["f_2"] = FileInfo("report.pdf", 2_202_010, "application/pdf")
    assert text_of(model, 1) == "[image cat.png 120 KB]  /save 1"
    assert text_of(model, 2) == "[file report.pdf 2.1 MB]  /save 2"
    assert text_of(model, 3) == "[image cat.png 120 KB] hi  /save 3"
    assert model.files_to_describe(conv.entries.values()) == []
    model.open("c_1")
    model.on_message(message(4, sender=ME, reply_to=1, text="nice"))
    assert model.lines()[-1].quote == "┆ #1 Alice: [image cat.png 120 KB]"
    assert (model.attachment_at("c_1", 2), model.attachment_at("c_1", 9)) == ("f_2", None)


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (10 * 1024 - 1, "10.0 KB"),
        (10 * 1024, "10 KB"),
        (5 * 1024**2, "5.0 MB"),
        (3 * 1024**3, "3.0 GB"),
    ],
)
def test_sizes_read_as_people_write_them(size: int, words: str) -> None:
    assert human_size(size) == words


def test_recall_and_edit_change_their_target() -> None:
    model = ChatModel(ME)
    model.on_message(message(1))
    model.on_message(message(2))
    model.on_message(message(3, kind="edit", seq=1, text="better"))
    model.on_message(message(4, kind="recall", seq=2))
    model.on_message(message(5, kind="edit", seq=2, text="too late"))
    conv = model.conv("c_1")
    assert sorted(conv.entries) == [1, 2]
    assert [line.text for line in (model.lines() or [])] == []  # nothing open
    model.open("c_1")
    assert [line.text for line in model.lines()] == ["better (edited)", "message recalled"]


def test_own_recall_in_flight_is_not_a_line_and_a_recalled_message_has_no_tick() -> None:
    model = ChatModel(ME)
    model.open("c_1")
    model.sending("c_1", "cid-1", "text", {"text": "oops"})
    model.acked(Ack("cid-1", "c_1", 1, "m_1", 1000))
    model.sending("c_1", "cid-2", "recall", {"seq": 1})
    assert [line.text for line in model.lines()] == ["oops"]
    model.acked(Ack("cid-2", "c_1", 2, "m_2", 1001))
    [line] = model.lines()
    assert (line.text, line.tick) == ("message recalled", None)


def test_replies_carry_a_quote_of_what_they_answer() -> None:
    model = model_with_names()
    model.open("c_1")
    model.on_message(message(1, text="where shall we meet " * 5))
    model.on_message(message(2, sender=ME, reply_to=1, text="at the station"))
    model.on_message(message(3, reply_to=1000, text="about something older"))
    first, reply, older = model.lines()
    assert first.quote is None
    assert reply == Line(
        reply.prefix,
        "at the station",
        mine=True,
        tick=Tick.SENT,
        # cut to 60 characters
        quote="┆ #1 Alice: where shall we meet where shall we meet where shall we meet…",
    )
    assert older.quote == "┆ #1000"


def test_a_forwarded_copy_names_the_original_author() -> None:
    model = model_with_names()
    model.open("c_1")
    copy = message(1, sender=CAROL, text="the plan")
    model.on_message(replace(copy, forwarded=(PEER, 5)))
    model.on_message(replace(message(2, sender=CAROL), forwarded=("u_unknown", 5)))
    assert text_of(model, 1) == "[forwarded from Alice] the plan"
    assert text_of(model, 2) == "[forwarded from someone] m2"
    conv = model.conv("c_1")
    assert model.user_ids(conv.entries[2]) == ["u_unknown"]


def test_status_line_says_reconnecting_before_anything_else() -> None:
    model = model_with_names()
    model.open("c_1")
    assert model.status(now=0.0) == ""
    model.set_typing("c_1", PEER, True, until=10.0)
    assert model.status(now=5.0) == "Alice is typing…"
    assert model.status(now=11.0) == ""
    model.link = Link.RECONNECTING
    assert model.status(now=5.0) == "reconnecting…"
    model.link = Link.ONLINE
    model.set_typing("c_1", CAROL, True, until=10.0)
    assert model.status(now=5.0) == "Alice, Carol are typing…"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_refusals_are_words_never_numbers(code: ErrorCode) -> None:
    for server_says in ("", "the server's own words"):
        said = error_text(int(code), server_says)
        assert said
        assert str(int(code)) not in said


def test_refusals_prefer_the_chat_wording_then_the_servers() -> None:
    no_message = error_text(ErrorCode.MESSAGE_NOT_FOUND, "reply_to is not a visible message")
    assert no_message == "there is no message with that number here"
    assert error_text(ErrorCode.FORBIDDEN, "recall window has passed") == "recall window has passed"
    assert error_text(ErrorCode.GROUP_FULL, "") == "the group is full"
    assert error_text(59999, "") == "the server refused that"


def test_reactions_and_pins_read_as_notices_and_are_not_unread() -> None:
    model = model_with_names()
    model.on_message(message(1))
    model.on_message(message(2, kind="react", seq=1, emoji="👍", on=True, count=1))
    model.on_message(message(3, sender=ME, kind="react", seq=1, emoji="👍", on=False, count=0))
    model.on_message(message(4, kind="pin", seq=1))
    model.on_message(message(5, sender=CAROL, kind="unpin", seq=1))
    assert model.conv("c_1").unread == 1  # the text only
    assert [text_of(model, seq) for seq in (2, 3, 4, 5)] == [
        "* Alice reacted 👍 to #1",
        "* you took back 👍 from #1",
        "* Alice pinned #1",
        "* Carol unpinned #1",
    ]


def test_a_reaction_in_flight_is_no_line_and_a_refused_one_goes() -> None:
    model = model_with_names()
    model.on_message(message(1))
    model.open("c_1")
    model.sending("c_1", "cid-r", "react", {"seq": 1, "emoji": "👍"})
    model.sending("c_1", "cid-p", "pin", {"seq": 1})
    assert len(model.lines()) == 1
    model.failed("c_1", "cid-p")
    assert model.conv("c_1").pending.keys() == {"cid-r"}
    model.acked(Ack("cid-r", "c_1", 2, "m_2", 0))  # the stored entry follows by pull
    assert (model.conv("c_1").pending, sorted(model.conv("c_1").entries)) == ({}, [1])
