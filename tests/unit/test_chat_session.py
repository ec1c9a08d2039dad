"""How `pigeon chat` reports the connection's own events: the status line while it is
down, and the reason it stopped for good, in words without codes. (The rest of the
session talks to a server and is tested in a real terminal:
tests/integration/test_chat_cli.py.)"""

from __future__ import annotations

from typing import Any, cast

import pytest

from pigeon.chat.model import Link
from pigeon.chat.session import ChatSession
from pigeon.client import (
    ClosedEvent,
    DisconnectedEvent,
    ErrorEvent,
    PigeonApiError,
    PigeonClient,
    SocketDisplaced,
)


def session() -> ChatSession:
    # Neither is used by the events below: nothing here goes to a server.
    return ChatSession(PigeonClient("http://127.0.0.1:9"), cast(Any, None), "u_me")


def test_a_drop_shows_reconnecting_on_the_status_line() -> None:
    chat = session()
    chat.on_event(DisconnectedEvent(1006, "gone", retry_in=0.5))
    assert (chat.model.link, chat.model.status(now=0.0)) == (Link.RECONNECTING, "reconnecting…")


@pytest.mark.parametrize(
    ("error", "said", "code"),
    [
        (SocketDisplaced(4011, "newer socket"), "a newer connection of yours", "4011"),
        (PigeonApiError(40104, "token has been revoked", 401), "token has been revoked", "40104"),
    ],
)
def test_stopping_for_good_says_why_without_codes(error: Exception, said: str, code: str) -> None:
    chat = session()
    chat.on_event(ClosedEvent(error))
    [notice] = chat.model.notices
    assert said in notice
    assert code not in notice
    assert chat.model.link is Link.CLOSED
    assert chat.model.status(now=0.0) == "disconnected"


def test_quitting_and_refusals_add_no_codes() -> None:
    chat = session()
    chat.on_event(ClosedEvent(None))  # we closed it ourselves
    assert (chat.model.notices, chat.model.link) == ([], Link.ONLINE)
    chat.on_event(ErrorEvent(42910, "sending too fast"))
    assert chat.model.notices == ["! you are sending too fast; wait a moment"]
