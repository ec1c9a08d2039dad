"""Line mode's output as data: which frames a reader sees, and the exact lines."""

from __future__ import annotations

from typing import Any

import pytest

from pigeon.protocol import frames
from pigeon.protocol.lineview import Viewpoint, error_line, names_needed, notice, render

NAMES = {"u_me": "me", "u_ann": "ann", "u_bob": "bob", "u_cy": "cy"}
VIEW = Viewpoint(me="u_me", room="c_room", direct={"c_dm": "u_bob"})
TS = 1_700_000_000_000  # 22:13 UTC


def name(user_id: str) -> str:
    return NAMES[user_id]


def msg(
    conv: str = "c_room", sender: str = "u_ann", kind: str = "text", **fields: Any
) -> dict[str, Any]:
    body = fields.pop("body", {"text": "hello"})
    return frames.msg_frame(
        {
            "conv": conv,
            "seq": 7,
            "id": "m_1",
            "from": sender,
            "kind": kind,
            "body": body,
            "ts": TS,
            "cid": "c1",
            **fields,
        }
    )


CASES: list[tuple[dict[str, Any], list[str]]] = [
    (msg(), ["[22:13] ann: hello"]),
    (msg(body={"text": "你好 世界"}), ["[22:13] ann: 你好 世界"]),
    (msg(body={"text": "one\ntwo\r\nthree"}), ["[22:13] ann: one", "    two", "    three"]),
    (msg(body={"text": "tab\there"}), ["[22:13] ann: tab\there"]),
    (msg(sender="u_me"), ["[22:13] me: hello"]),
    (msg(conv="c_dm", sender="u_bob"), ["[22:13] *bob*: hello"]),
    (msg(conv="c_dm", sender="u_me"), ["[22:13] -> *bob*: hello"]),
    (msg(conv="c_elsewhere"), []),
    (
        msg(kind="image", body={"file_id": "f_1", "width": 800, "height": 600, "caption": "cat"}),
        ["[22:13] ann: [image 800x600] cat"],
    ),
    (
        msg(kind="file", body={"file_id": "f_1", "name": "notes.pdf"}),
        ["[22:13] ann: [file notes.pdf]"],
    ),
    (msg(kind="custom", body={"x": 1}), ["[22:13] ann: [custom message]"]),
    (msg(kind="edit", body={"seq": 3, "text": "fixed"}), ["[22:13] ann (edited): fixed"]),
    (msg(kind="recall", body={"seq": 3}), ["* ann recalled a message"]),
    (
        msg(kind="react", body={"seq": 3, "emoji": "👍", "on": True, "count": 1}),
        ["* ann reacted 👍 to a message"],
    ),
    (
        msg(kind="react", body={"seq": 3, "emoji": "👍", "on": False, "count": 0}),
        ["* ann took back 👍 from a message"],
    ),
    (msg(kind="pin", body={"seq": 3}), ["* ann pinned a message"]),
    (msg(kind="unpin", body={"seq": 3}), ["* ann unpinned a message"]),
    (msg(body={}, recalled=True), ["[22:13] ann: (recalled)"]),
    (
        msg(sender="u_me", forwarded={"from": "u_bob", "ts": 0}),
        ["[22:13] me: (forwarded from bob) hello"],
    ),
    (msg(kind="system", body={"event": "member_joined", "actor": "u_cy"}), ["* cy joined"]),
    (msg(kind="system", body={"event": "member_left", "actor": "u_cy"}), ["* cy left"]),
    (
        msg(
            kind="system",
            body={"event": "member_added", "actor": "u_ann", "users": ["u_bob", "u_cy"]},
        ),
        ["* ann added bob, cy"],
    ),
    (
        msg(kind="system", body={"event": "group_created", "actor": "u_ann", "title": "den"}),
        ["* ann created den"],
    ),
    (msg(kind="system", body={"event": "brand_new", "actor": "u_ann"}), ["* ann: brand_new"]),
    (frames.presence_frame("u_bob", True, None), ["* bob is online"]),
    (frames.presence_frame("u_bob", False, TS), ["* bob went offline"]),
    (frames.error_frame(40401, "no user named zed"), ["! 40401 no user named zed"]),
    (frames.typing_frame("c_room", "u_ann", True), []),
    (frames.receipt_frame("c_room", "u_ann", 3, None), []),
    (frames.ack_frame({"cid": "c1", "conv": "c_room", "seq": 7, "id": "m_1", "ts": TS}), []),
]


@pytest.mark.parametrize(("frame", "lines"), CASES)
def test_frames_render_as_lines(frame: dict[str, Any], lines: list[str]) -> None:
    assert render(frame, VIEW, name) == lines


def test_no_control_character_reaches_the_terminal() -> None:
    # The store refuses these at every edge; should one slip through, it is defused.
    shown = render(msg(body={"text": "\x1b[2J\x07bell"}), VIEW, name)
    assert shown == ["[22:13] ann: \ufffd[2J\ufffdbell"]
    assert notice("a\x1bb") == "* a\ufffdb"
    assert error_line(40000, "bad\x00") == "! 40000 bad\ufffd"


def test_names_needed_are_the_ones_the_lines_use() -> None:
    assert names_needed(msg()) == {"u_ann"}
    assert names_needed(msg(forwarded={"from": "u_bob", "ts": 0})) == {"u_ann", "u_bob"}
    system = msg(
        kind="system", body={"event": "member_added", "actor": "u_ann", "users": ["u_bob"]}
    )
    assert names_needed(system) == {"u_ann", "u_bob"}
    assert names_needed(frames.presence_frame("u_cy", True, None)) == {"u_cy"}
    assert names_needed(frames.error_frame(40000, "x")) == set()
