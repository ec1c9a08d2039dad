"""The full-screen terminal UI of ``pigeon chat`` (prompt_toolkit).

Left: the conversation list with unread counts. Right: the open conversation —
each message with its ``#seq`` (for /reply, /edit, /recall, /save), time, sender
and, for your own, a tick (… sending, ✓ sent, ✓✓ delivered, ✓✓ read) — then a
status line (reconnecting…, or who is typing) and the input line.

A full-screen ``Application`` rather than a ``PromptSession`` under ``patch_stdout``:
printing above a prompt can only add lines, while a chat must change lines already
shown (a tick turning to read, an edit, a recall, unread counts in the list). Here
every pane is drawn from the model on each change, and the input line is a buffer
of its own that no arrival writes to.
"""

from __future__ import annotations

import time

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.data_structures import Point
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import (
    BufferControl,
    FormattedTextControl,
    HSplit,
    Layout,
    VSplit,
    Window,
)
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.styles import Style

from pigeon.chat.model import TICK_MARKS, ChatModel, Link, Tick
from pigeon.chat.session import ChatSession

LIST_WIDTH = 28

STYLE = Style.from_dict(
    {
        "header": "reverse",
        "list.current": "reverse",
        "list.unread": "bold",
        "meta": "#888888",
        "me": "#5f87d7",
        "tick.read": "#5fafff bold",
        "tick.failed": "#d75f5f bold",
        "notice": "#af8700",
        "status": "italic #888888",
        "status.link": "bold #d75f5f",
        "quote": "#888888",
        "system": "italic",
        "prompt": "bold",
    }
)


def conversation_list(model: ChatModel) -> StyleAndTextTuples:
    out: StyleAndTextTuples = [("bold", " Conversations\n")]
    for number, conv in enumerate(model.ordered_convs(), 1):
        unread = f" ({conv.unread})" if conv.unread else ""
        room = LIST_WIDTH - len(unread) - 5
        title = model.title(conv)
        title = title if len(title) <= room else title[: room - 1] + "…"
        style = "class:list.current" if conv.id == model.current else ""
        if conv.unread and not style:
            style = "class:list.unread"
        out.append((style, f"{number:>2} {title}{unread}\n"))
    if len(out) == 1:
        out.append(("class:meta", " none yet: /open NAME\n"))
    return out


TICK_STYLES = {Tick.READ: "class:tick.read", Tick.FAILED: "class:tick.failed"}


def message_lines(model: ChatModel) -> StyleAndTextTuples:
    out: StyleAndTextTuples = []
    if model.current is None:
        out.append(
            ("class:meta", "Open a conversation: /open NAME, or Ctrl-N. /help lists commands.\n")
        )
    for line in model.lines():
        if line.quote:
            out.append(("class:quote", f"    {line.quote}\n"))
        out.append(("class:meta", line.prefix + " "))
        style = "class:system" if line.system else "class:me" if line.mine else ""
        out.append((style, line.text))
        if line.tick is not None:
            out.append((TICK_STYLES.get(line.tick, "class:meta"), "  " + TICK_MARKS[line.tick]))
        out.append(("", "\n"))
    for notice in model.notices:
        out.append(("class:notice", notice + "\n"))
    return out


def header(model: ChatModel) -> StyleAndTextTuples:
    if model.current is None:
        return [("class:header", " pigeon chat")]
    conv = model.conv(model.current)
    return [("class:header", f" {model.title(conv)} · {conv.kind}")]


def status(model: ChatModel) -> StyleAndTextTuples:
    text = model.status(time.monotonic())
    if not text:
        return []
    return [("class:status.link" if model.link is not Link.ONLINE else "class:status", f" {text}")]


class ChatScreen:
    """The prompt_toolkit application bound to one ``ChatSession``."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.back = 0  # lines scrolled up from the newest (PageUp / PageDown)
        model = session.model
        self.input = Buffer(
            multiline=False,
            accept_handler=self._accept,
            on_text_changed=lambda buffer: session.typed() if buffer.text else None,
        )
        messages = FormattedTextControl(
            lambda: message_lines(model),
            focusable=False,
            get_cursor_position=self._last_line,  # keeps the newest line in view
        )
        right = HSplit(
            [
                Window(FormattedTextControl(lambda: header(model)), height=1, style="class:header"),
                Window(messages, wrap_lines=True),
                Window(FormattedTextControl(lambda: status(model)), height=1),
                Window(height=1, char="─", style="class:meta"),
                VSplit(
                    [
                        Window(FormattedTextControl([("class:prompt", "> ")]), width=2),
                        Window(BufferControl(self.input), height=1),
                    ]
                ),
            ]
        )
        body = VSplit(
            [
                Window(
                    FormattedTextControl(lambda: conversation_list(model)),
                    width=Dimension.exact(LIST_WIDTH),
                ),
                Window(width=1, char="│", style="class:meta"),
                right,
            ]
        )
        self.app: Application[None] = Application(
            layout=Layout(body, focused_element=self.input),
            key_bindings=self._keys(),
            style=STYLE,
            full_screen=True,
            mouse_support=False,
        )
        session.redraw = self.app.invalidate

    def _last_line(self) -> Point:
        """Where the message pane keeps its view: the end, or ``back`` lines above it."""
        lines = sum(text.count("\n") for _, text, *_ in message_lines(self.session.model))
        self.back = min(self.back, lines)
        return Point(0, lines - self.back)  # at the end: the empty line after the last message

    def _scroll(self, lines: int) -> None:
        self.back = max(0, self.back + lines)
        if self.back and self._last_line().y == 0:  # at the top: fetch older messages
            self.session.spawn(self.session.commands.cmd_history(""))

    def _accept(self, buffer: Buffer) -> bool:
        self.back = 0
        if not self.session.enter(buffer.text):
            self.quit()
        self.app.invalidate()
        return False  # clear the line

    def quit(self) -> None:
        # A second Ctrl-C while closing, or one after the screen is gone, changes nothing.
        if self.app.is_running and not self.app.is_done:
            self.app.exit()

    def _keys(self) -> KeyBindings:
        keys = KeyBindings()

        @keys.add("c-c")
        @keys.add("c-d")
        def _quit(event: KeyPressEvent) -> None:
            self.quit()

        @keys.add("c-n")
        def _next(event: KeyPressEvent) -> None:
            self.back = 0
            self.session.switch(+1)

        @keys.add("c-p")
        def _previous(event: KeyPressEvent) -> None:
            self.back = 0
            self.session.switch(-1)

        @keys.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            self._scroll(+10)

        @keys.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self._scroll(-10)

        return keys

    async def run(self) -> None:
        await self.app.run_async(handle_sigint=False)
