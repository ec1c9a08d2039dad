"""``pigeon chat``: a full-screen terminal client built on the Python SDK.

``model`` holds what is shown (pure data), ``session`` turns SDK events and typed
commands into model changes and server calls, ``screen`` draws it with prompt_toolkit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from pigeon.chat.commands import HELP
from pigeon.chat.screen import ChatScreen
from pigeon.chat.session import ChatSession
from pigeon.client import PigeonClient

__all__ = ["HELP", "ChatScreen", "ChatSession", "NotATerminal", "run_chat"]


class NotATerminal(Exception):
    """``pigeon chat`` draws a full screen: it needs a terminal on stdin and stdout."""


def _quit_on_interrupt(screen: ChatScreen) -> None:
    """SIGINT (Ctrl-C outside raw mode, kill -INT) quits like the key does; more of them
    while we close down, or after the event loop ended, change nothing.

    A plain signal handler rather than the loop's, which goes when the loop closes; the
    command ignores SIGINT once this returns (``pigeon.cli``), because the interpreter
    resets handlers to the default while it shuts down.
    """
    loop = asyncio.get_running_loop()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(screen.quit)

    signal.signal(signal.SIGINT, on_interrupt)


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """Keep the SDK's log lines off the screen while it is drawn: they would scribble over
    the panes. What they tell (a lost connection, a refusal) reaches the user as
    events instead: the status line and notices."""
    sdk = logging.getLogger("pigeon")
    before = sdk.propagate
    quiet = logging.NullHandler()
    sdk.addHandler(quiet)
    sdk.propagate = False
    try:
        yield
    finally:
        sdk.removeHandler(quiet)
        sdk.propagate = before


async def run_chat(server: str, username: str, password: str, register: bool) -> None:
    """Sign in, connect, and run the screen until the user quits (/quit, Ctrl-C, Ctrl-D)."""
    async with PigeonClient(server) as client:
        grant: dict[str, Any]
        if register:
            grant = await client.register(username, password)
        else:
            grant = await client.login(username, password)
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # Checked after signing in, so a wrong server or password is reported first.
            raise NotATerminal("pigeon chat needs an interactive terminal (stdin and stdout)")
        conn = await client.connect()
        session = ChatSession(client, conn, str(grant["user"]["id"]))
        screen = ChatScreen(session)
        _quit_on_interrupt(screen)
        try:
            await session.start()
            session.model.notice(f"* signed in as {grant['user']['username']}; /help for commands")
            with _quiet_sdk_logs():
                await screen.run()
        finally:
            await session.close()
