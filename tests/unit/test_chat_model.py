"""What `pigeon chat` shows, as data: ticks, unread counts, messages in words."""

from __future__ import annotations

from typing import Any

from pigeon.chat.model import ChatModel, Tick
from pigeon.client import Ack, Message

ME, PEER = "u_me", "u_peer"


def message(at: int, sender: str = PEER, kind: str = "text", **body: Any) -> Message:
    return Message("c_1", at, f"m_{at}", sender, kind, body or {"text": f"m{at}"}, 0, f"c{at}")


def test_own_message_ticks_move_from_sending_to_read() -> None:
    model = ChatModel(ME)
    model.open("c_1")
    entry = model.sending("c_1", "cid-1", "text", {"text": "hi"})
    conv = model.conv("c_1")
    assert conv.tick(entry) is Tick.SENDING
    model.acked(Ack("cid-1", "c_1", 4, "m_4", 1000))
    assert conv.tick(entry) is Tick.SENT
    model.on_receipt("c_1", PEER, read=None, recv=4)
    assert conv.tick(entry) is Tick.DELIVERED
    model.on_receipt("c_1", PEER, read=4, recv=None)
    assert conv.tick(entry) is Tick.READ
    assert model.line(conv, entry)[2] == "✓✓ read"


def test_failed_send_is_marked() -> None:
    model = ChatModel(ME)
    entry = model.sending("c_1", "cid-1", "text", {"text": "hi"})
    model.failed("c_1", "cid-1")
    assert model.conv("c_1").tick(entry) is Tick.FAILED


def test_unread_counts_only_closed_conversations() -> None:
    model = ChatModel(ME)
    assert model.on_message(message(1))
    assert model.conv("c_1").unread == 1
    model.open("c_1")
    assert model.conv("c_1").unread == 0
    assert model.on_message(message(2))
    assert model.conv("c_1").unread == 0


def test_system_events_and_attachments_read_as_words() -> None:
    model = ChatModel(ME)
    model.names[PEER] = "Alice"
    created = message(1, kind="system", event="group_created", actor=PEER, title="T", users=[ME])
    image = message(2, kind="image", file_id="f_1", width=640, height=480)
    attachment = message(3, kind="file", file_id="f_2", name="report.pdf")
    for item in (created, image, attachment):
        model.on_message(item)
    conv = model.conv("c_1")
    texts = [model.line(conv, conv.entries[seq])[1] for seq in (1, 2, 3)]
    assert texts == [
        '* Alice created the group "T" with me',
        "[image 640x480]",
        "[file report.pdf]",
    ]


def test_recall_and_edit_change_their_target() -> None:
    model = ChatModel(ME)
    model.on_message(message(1))
    model.on_message(message(2))
    model.on_message(message(3, kind="edit", seq=1, text="better"))
    model.on_message(message(4, kind="recall", seq=2))
    conv = model.conv("c_1")
    assert sorted(conv.entries) == [1, 2]
    assert model.describe(conv.entries[1]) == "better (edited)"
    assert model.describe(conv.entries[2]) == "(recalled)"
