"""Tables shared by the codec tests: valid commands, bad commands, one of every server frame.

Each entry is given in the JSON view (the dict a JSON frame parses into), so the same
table drives the JSON codec, the Protobuf codec and the independent Node client.
"""

from __future__ import annotations

from typing import Any

from pigeon.protocol import frames
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import (
    Auth,
    Command,
    Forward,
    Ping,
    Pull,
    Read,
    Recv,
    Send,
    Sync,
    Typing,
)

SEND = {"t": "send", "cid": "c1", "conv": "c_x", "kind": "text", "body": {"text": "hi"}}
FORWARD = {"t": "send", "cid": "c1", "conv": "c_x", "forward": {"conv": "c_y", "seq": 2}}

# Commands as a client writes them, and the typed command the server must see.
VALID_COMMANDS: list[tuple[dict[str, Any], Command]] = [
    ({"t": "auth", "token": "tok"}, Auth(token="tok")),
    ({"t": "auth", "token": "tok", "device": "phone", "rid": 1}, Auth("tok", "phone", 1)),
    (SEND, Send(cid="c1", conv="c_x", kind="text", body={"text": "hi"})),
    (
        {**SEND, "rid": "r", "reply_to": 3, "mentions": ["u_a", "u_b", "u_a"]},
        Send("c1", "c_x", "text", {"text": "hi"}, 3, ("u_a", "u_b"), "r"),
    ),
    ({**SEND, "mentions": []}, Send("c1", "c_x", "text", {"text": "hi"})),
    (FORWARD, Send("c1", "c_x", "", {}, forward=Forward("c_y", 2))),
    (
        {**FORWARD, "kind": "", "reply_to": 1, "rid": 2},
        Send("c1", "c_x", "", {}, 1, rid=2, forward=Forward("c_y", 2)),
    ),
    ({**SEND, "body": {"text": ""}}, Send("c1", "c_x", "text", {"text": ""})),
    ({**SEND, "kind": "text", "body": {}}, Send("c1", "c_x", "text", {})),
    (
        {**SEND, "kind": "image", "body": {"file_id": "f_1", "width": 3, "height": 4}},
        Send("c1", "c_x", "image", {"file_id": "f_1", "width": 3, "height": 4}),
    ),
    (
        {
            **SEND,
            "kind": "image",
            "body": {"file_id": "f", "width": 1, "height": 1, "caption": "c"},
        },
        Send("c1", "c_x", "image", {"file_id": "f", "width": 1, "height": 1, "caption": "c"}),
    ),
    (
        {**SEND, "kind": "file", "body": {"file_id": "f_1", "name": "a.pdf"}},
        Send("c1", "c_x", "file", {"file_id": "f_1", "name": "a.pdf"}),
    ),
    ({**SEND, "kind": "recall", "body": {"seq": 7}}, Send("c1", "c_x", "recall", {"seq": 7})),
    (
        {**SEND, "kind": "edit", "body": {"seq": 7, "text": "fixed"}},
        Send("c1", "c_x", "edit", {"seq": 7, "text": "fixed"}),
    ),
    (
        {**SEND, "kind": "react", "body": {"seq": 7, "emoji": "👍"}},
        Send("c1", "c_x", "react", {"seq": 7, "emoji": "👍"}),
    ),
    (
        {**SEND, "kind": "react", "body": {"seq": 7, "emoji": "👍", "on": False}},
        Send("c1", "c_x", "react", {"seq": 7, "emoji": "👍", "on": False}),
    ),
    ({**SEND, "kind": "pin", "body": {"seq": 7}}, Send("c1", "c_x", "pin", {"seq": 7})),
    ({**SEND, "kind": "unpin", "body": {"seq": 7}}, Send("c1", "c_x", "unpin", {"seq": 7})),
    (
        {**SEND, "kind": "custom", "body": {"card": {"n": [1, 2.5, None, True]}, "text": "x"}},
        Send("c1", "c_x", "custom", {"card": {"n": [1, 2.5, None, True]}, "text": "x"}),
    ),
    # A body that does not have its kind's shape travels as JSON and reaches the core as is.
    (
        {**SEND, "body": {"text": "hi", "extra": 1}},
        Send("c1", "c_x", "text", {"text": "hi", "extra": 1}),
    ),
    ({**SEND, "body": {"text": 5}}, Send("c1", "c_x", "text", {"text": 5})),
    ({"t": "pull", "conv": "c_x"}, Pull(conv="c_x")),
    (
        {"t": "pull", "conv": "c_x", "after": 0, "before": 9, "limit": 5, "rid": 7},
        Pull("c_x", 0, 9, 5, 7),
    ),
    ({"t": "sync"}, Sync()),
    ({"t": "sync", "cursor": "42", "rid": "s"}, Sync("42", "s")),
    ({"t": "read", "conv": "c_x", "seq": 4}, Read("c_x", 4)),
    ({"t": "recv", "conv": "c_x", "seq": 0}, Recv("c_x", 0)),
    ({"t": "typing", "conv": "c_x", "on": True}, Typing("c_x", True)),
    ({"t": "typing", "conv": "c_x", "on": False, "rid": 0}, Typing("c_x", False, 0)),
    ({"t": "ping"}, Ping()),
    ({"t": "ping", "rid": "p1"}, Ping("p1")),
    ({"t": "ping", "rid": "r" * 65}, Ping()),  # an unreadable rid is dropped
]

# Faults both wire formats can express, and the code each must get. The JSON view is
# encoded as is by both codecs; ``None`` values are left out.
BAD_COMMANDS: list[tuple[dict[str, Any], ErrorCode]] = [
    ({"t": "auth", "rid": "a"}, ErrorCode.BAD_REQUEST),
    ({"t": "auth", "token": ""}, ErrorCode.BAD_REQUEST),
    ({"t": "auth", "token": "t" * 4097}, ErrorCode.BAD_REQUEST),
    ({"t": "auth", "token": "tok", "device": ""}, ErrorCode.BAD_REQUEST),
    ({"t": "auth", "token": "tok", "device": "d" * 65}, ErrorCode.BAD_REQUEST),
    ({**SEND, "cid": "", "rid": 3}, ErrorCode.BAD_REQUEST),
    ({**SEND, "cid": "c" * 65}, ErrorCode.BAD_REQUEST),
    ({**SEND, "conv": "", "rid": 4}, ErrorCode.BAD_REQUEST),
    ({**SEND, "conv": "v" * 65}, ErrorCode.BAD_REQUEST),
    ({**SEND, "kind": ""}, ErrorCode.BAD_REQUEST),
    ({**SEND, "kind": "k" * 33}, ErrorCode.BAD_REQUEST),
    ({**SEND, "body": None}, ErrorCode.BAD_REQUEST),
    ({**SEND, "reply_to": 2**53}, ErrorCode.NUMBER_OUT_OF_RANGE),
    ({**SEND, "reply_to": 0}, ErrorCode.NUMBER_OUT_OF_RANGE),  # seqs start at 1
    ({**SEND, "mentions": [f"u{i}" for i in range(101)]}, ErrorCode.BAD_REQUEST),
    ({**SEND, "mentions": ["u_a", ""]}, ErrorCode.BAD_REQUEST),
    ({**SEND, "mentions": ["u" * 65]}, ErrorCode.BAD_REQUEST),
    ({**FORWARD, "kind": "text"}, ErrorCode.BAD_REQUEST),  # a forward has no kind of its own
    ({**FORWARD, "body": {"text": "hi"}}, ErrorCode.BAD_REQUEST),
    ({**FORWARD, "forward": {"conv": "c_y", "seq": 0}}, ErrorCode.NUMBER_OUT_OF_RANGE),
    ({**FORWARD, "forward": {"conv": "", "seq": 2}}, ErrorCode.BAD_REQUEST),
    ({"t": "pull", "conv": ""}, ErrorCode.BAD_REQUEST),
    ({"t": "pull", "conv": "c", "limit": 0}, ErrorCode.BAD_REQUEST),
    ({"t": "pull", "conv": "c", "after": 2**53}, ErrorCode.NUMBER_OUT_OF_RANGE),
    ({"t": "pull", "conv": "c", "before": 2**64 - 1}, ErrorCode.NUMBER_OUT_OF_RANGE),
    ({"t": "sync", "cursor": ""}, ErrorCode.BAD_REQUEST),
    ({"t": "sync", "cursor": "9" * 257}, ErrorCode.BAD_REQUEST),
    ({"t": "read", "conv": "c", "rid": 11}, ErrorCode.BAD_REQUEST),
    ({"t": "read", "seq": 1}, ErrorCode.BAD_REQUEST),
    ({"t": "read", "conv": "c", "seq": 2**53}, ErrorCode.NUMBER_OUT_OF_RANGE),
    ({"t": "recv", "conv": "c"}, ErrorCode.BAD_REQUEST),
    ({"t": "typing", "conv": "c"}, ErrorCode.BAD_REQUEST),
    ({"t": "typing", "on": True}, ErrorCode.BAD_REQUEST),
]

_MESSAGE = {
    "conv": "c_x",
    "seq": 5,
    "id": "m_1",
    "from": "u_a",
    "kind": "text",
    "body": {"text": "hi"},
    "ts": 1_700_000_000_000,
    "cid": "c1",
}
_SYSTEM = {
    **_MESSAGE,
    "kind": "system",
    "cid": "sys_1",
    "body": {"event": "member_updated", "actor": "u_a", "users": ["u_b"], "role": "admin"},
}

MSG = frames.msg_frame(_MESSAGE)

# At least one of every server frame, and of every body kind in a message.
SERVER_FRAMES: list[frames.Frame] = [
    frames.ready_frame("u_a", "d_1", "s_1", 25, 1_700_000_000_000, rid=1),
    frames.ready_frame("u_a", "d_1", "s_1", 25, 0),
    frames.ack_frame(
        {"cid": "c1", "conv": "c_x", "seq": 5, "id": "m_1", "ts": 1_700_000_000_000}, rid="r"
    ),
    frames.ack_frame({"cid": "c1", "conv": "c_x", "seq": 0, "id": "m_1", "ts": 0}),
    frames.messages_frame("c_x", [_MESSAGE, _SYSTEM], True, rid=2),
    frames.messages_frame("c_x", [], False),
    frames.messages_frame("c_x", [_MESSAGE], False, first_seq=5),
    frames.sync_frame(
        "17",
        [
            {"conv": "c_x", "kind": "direct", "last_seq": 9, "read_seq": 4, "unread": 5},
            {
                "conv": "c_y",
                "kind": "group",
                "last_seq": 3,
                "read_seq": 0,
                "unread": 0,
                "removed": True,
            },
            {
                "conv": "c_z",
                "kind": "group",
                "last_seq": 30,
                "read_seq": 30,
                "unread": 0,
                "first_seq": 12,
            },
        ],
        False,
        rid="s",
    ),
    frames.sync_frame("0", [], False),
    frames.pong_frame(1_700_000_000_000, rid="p"),
    frames.pong_frame(0, rid=0),
    MSG,
    frames.msg_frame(
        {**_MESSAGE, "reply_to": 2, "mentions": ["u_b", "@all"], "edited_at": 1_700_000_000_001}
    ),
    frames.msg_frame({**_MESSAGE, "body": {}, "recalled": True}),
    frames.msg_frame({**_MESSAGE, "forwarded": {"from": "u_b", "ts": 1_600_000_000_000}}),
    frames.msg_frame(
        {**_MESSAGE, "kind": "image", "body": {"file_id": "f", "width": 1, "height": 2}}
    ),
    frames.msg_frame(
        {
            **_MESSAGE,
            "kind": "image",
            "body": {"file_id": "f", "width": 1, "height": 2, "caption": "a cat"},
        }
    ),
    frames.msg_frame({**_MESSAGE, "kind": "file", "body": {"file_id": "f", "name": "a.pdf"}}),
    frames.msg_frame({**_MESSAGE, "kind": "recall", "body": {"seq": 4}}),
    frames.msg_frame({**_MESSAGE, "kind": "edit", "body": {"seq": 4, "text": "new"}}),
    frames.msg_frame(
        {**_MESSAGE, "kind": "react", "body": {"seq": 4, "emoji": "👍", "on": True, "count": 2}}
    ),
    frames.msg_frame(
        {**_MESSAGE, "kind": "react", "body": {"seq": 4, "emoji": "🎉", "on": False, "count": 0}}
    ),
    frames.msg_frame({**_MESSAGE, "kind": "pin", "body": {"seq": 4}}),
    frames.msg_frame({**_MESSAGE, "kind": "unpin", "body": {"seq": 4}}),
    frames.msg_frame(
        {
            **_MESSAGE,
            "reactions": [
                {"emoji": "👍", "count": 2, "mine": True},
                {"emoji": "👩‍💻", "count": 1, "mine": False},
            ],
        }
    ),
    frames.msg_frame(_SYSTEM),
    frames.msg_frame(
        {**_SYSTEM, "body": {"event": "group_dissolved", "actor": "u_a"}},
    ),
    frames.msg_frame(
        {**_SYSTEM, "body": {"event": "group_updated", "actor": "u_a", "changes": {"title": None}}}
    ),
    frames.msg_frame(
        {**_MESSAGE, "kind": "custom", "body": {"deep": {"list": [1, -2, 0.5, "x", None]}}}
    ),
    frames.msg_frame({**_MESSAGE, "kind": "text", "body": {"text": "hi", "format": "md"}}),
    frames.receipt_frame("c_x", "u_b", 4, None),
    frames.receipt_frame("c_x", "u_b", None, 0),
    frames.receipt_frame("c_x", "u_b", 4, 5),
    frames.typing_frame("c_x", "u_b", True),
    frames.typing_frame("c_x", "u_b", False),
    frames.presence_frame("u_b", True, 1_700_000_000_000),
    frames.presence_frame("u_b", False, None),
    {
        "t": "friend_request",
        "id": "f_1",
        "from": "u_a",
        "to": "u_b",
        "note": "hello",
        "status": "pending",
        "direction": "in",
        "created_at": 1_700_000_000_000,
    },
    {
        "t": "friend_request",
        "id": "f_1",
        "from": "u_a",
        "to": "u_b",
        "note": None,
        "status": "accepted",
        "direction": "out",
        "created_at": 1,
    },
    frames.error_frame(40000, "field 'conv' must be …", rid="r", cid="c1"),
    frames.error_frame(42900, "too many requests; slow down"),
    frames.error_frame(42910, "your devices together send too fast; slow down", "r", "c", 3),
    frames.close_frame(1009, "frame too large"),
]
