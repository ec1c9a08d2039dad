"""Line mode's input, sans I/O: bytes → lines → typed commands (docs/protocol.md, "Line mode").

A person at ``nc`` or ``telnet`` types lines. ``LineSplitter`` cuts the byte stream
into lines (LF ends one; a CR before it is dropped, so CRLF and LF both work) and
never buffers more than one line's limit; ``parse_line`` turns one line into a
frozen command or raises ``LineError`` with a documented error code:

- a line over ``line_max_bytes`` (line ending excluded) → 40040, and the rest of
  that line is skipped, never buffered;
- bytes that are not UTF-8 → 40041;
- text with a character message text may not hold (control characters other than
  tab, lone surrogates: ``protocol.text`` prose rule, the same as every other
  client) → 40006;
- ``/word`` that names no command → 40042; a command without its arguments → 40000;
  a ``/history`` count that is not a number from 1 to ``MAX_HISTORY`` → 40009.

A line starting with ``/`` is a command; ``//`` sends a message starting with ``/``.
Any other line is ``Say``: a message to the current room, or, before signing in, the
nickname a guest asks for. A blank line means nothing (``parse_line`` returns None).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode
from pigeon.protocol.text import TextKind, check

MAX_HISTORY = 100  # most messages one /history prints
DEFAULT_HISTORY = 20
_CR, _LF = 0x0D, 0x0A


class LineError(Exception):
    """One line was refused; the connection goes on. ``code`` is a documented error code."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        super().__init__(f"{int(code)} {self.message}")


# --- bytes → lines


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """Stands in the splitter's output for a line that was over the limit (and dropped)."""

    limit: int

    def error(self) -> LineError:
        return LineError(ErrorCode.LINE_TOO_LONG, f"line is longer than {self.limit} bytes")


class LineSplitter:
    """Incremental: feed chunks as they arrive, get whole lines (without their ending).

    Guarantees: a line of up to ``max_bytes`` bytes (its CR LF or LF not counted) is
    returned whole; a longer one yields a single ``LineTooLong`` as soon as it is known
    to be too long, and its bytes up to the next LF are dropped. At most ``max_bytes``
    + 1 bytes are ever held (the + 1 is a CR that may be the start of CR LF).
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside a line already reported too long

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        out: list[bytes | LineTooLong] = []
        start = 0
        while start < len(data):
            end = data.find(_LF, start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._buffer += piece
                if self._too_long(complete=end >= 0):
                    out.append(LineTooLong(self.max_bytes))
                    self._buffer.clear()
                    self._skipping = True
            if end < 0:
                break
            if not self._skipping:
                out.append(self._take())
            self._skipping = False
            start = end + 1
        return out

    def _too_long(self, *, complete: bool) -> bool:
        size = len(self._buffer)
        if size and self._buffer[-1] == _CR and (complete or size == self.max_bytes + 1):
            size -= 1  # that CR may be (or is) half of the line ending
        return size > self.max_bytes

    def _take(self) -> bytes:
        line = bytes(self._buffer)
        self._buffer.clear()
        return line[:-1] if line.endswith(b"\r") else line

    def eof(self) -> bytes | None:
        """The stream ended: its last line if it had no line ending, else None."""
        if self._skipping or not self._buffer:
            return None
        return self._take()


def decode_line(raw: bytes) -> str:
    """One line's text; 40041 unless it is UTF-8 (a leading BOM is not text: dropped)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(
            ErrorCode.INVALID_UTF8, f"line is not valid UTF-8 (byte {exc.start + 1})"
        ) from None
    return text.removeprefix("\ufeff")


# --- lines → commands


class CommandKind(StrEnum):
    """Every command of line mode; the value is its ``/word`` (``say`` has none)."""

    SAY = "say"
    NICK = "nick"
    LOGIN = "login"
    WHO = "who"
    MSG = "msg"
    ROOMS = "rooms"
    JOIN = "join"
    HISTORY = "history"
    HELP = "help"
    QUIT = "quit"


@dataclass(frozen=True, slots=True)
class Say:
    """A plain line: a message to the current room, or a guest's nickname before sign-in."""

    kind: ClassVar[CommandKind] = CommandKind.SAY
    text: str


@dataclass(frozen=True, slots=True)
class SetNick:
    kind: ClassVar[CommandKind] = CommandKind.NICK
    name: str


@dataclass(frozen=True, slots=True)
class Login:
    kind: ClassVar[CommandKind] = CommandKind.LOGIN
    username: str
    password: str

    def __repr__(self) -> str:  # never print a password into a log or a traceback
        return f"Login(username={self.username!r}, password='***')"


@dataclass(frozen=True, slots=True)
class Who:
    kind: ClassVar[CommandKind] = CommandKind.WHO


@dataclass(frozen=True, slots=True)
class DirectMessage:
    kind: ClassVar[CommandKind] = CommandKind.MSG
    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class Rooms:
    kind: ClassVar[CommandKind] = CommandKind.ROOMS


@dataclass(frozen=True, slots=True)
class Join:
    kind: ClassVar[CommandKind] = CommandKind.JOIN
    room: str


@dataclass(frozen=True, slots=True)
class History:
    kind: ClassVar[CommandKind] = CommandKind.HISTORY
    count: int = DEFAULT_HISTORY


@dataclass(frozen=True, slots=True)
class Help:
    kind: ClassVar[CommandKind] = CommandKind.HELP


@dataclass(frozen=True, slots=True)
class Quit:
    kind: ClassVar[CommandKind] = CommandKind.QUIT


LineCommand = Say | SetNick | Login | Who | DirectMessage | Rooms | Join | History | Help | Quit

#: (usage, what it does) for /help, in the order shown.
HELP: tuple[tuple[CommandKind, str, str], ...] = (
    (CommandKind.SAY, "TEXT", "say TEXT in the current room (//TEXT for one starting with /)"),
    (CommandKind.WHO, "/who", "who is online in this room"),
    (CommandKind.MSG, "/msg NICK TEXT", "a private message to NICK"),
    (CommandKind.NICK, "/nick NAME", "take another nickname (guests)"),
    (CommandKind.ROOMS, "/rooms", "the public rooms"),
    (CommandKind.JOIN, "/join ROOM", "go to ROOM (its name or id), joining it if need be"),
    (CommandKind.HISTORY, "/history [N]", f"the last N messages here (default {DEFAULT_HISTORY})"),
    (CommandKind.LOGIN, "/login NAME PASSWORD", "sign in to your account (before anything else)"),
    (CommandKind.HELP, "/help", "this list"),
    (CommandKind.QUIT, "/quit", "leave"),
)


def _split_word(text: str) -> tuple[str, str]:
    """The first whitespace-separated word and the rest, taken verbatim after the gap."""
    stripped = text.lstrip()
    for index, ch in enumerate(stripped):
        if ch.isspace():
            return stripped[:index], stripped[index:].lstrip()
    return stripped, ""


def _prose(text: str) -> str:
    violation = check(TextKind.PROSE, text)
    if violation is not None:
        raise LineError(violation.code, f"text {violation.reason}")
    return text


def _usage(kind: CommandKind) -> LineError:
    usage = next(u for k, u, _ in HELP if k is kind)
    return LineError(ErrorCode.BAD_REQUEST, f"usage: {usage}")


def _history_count(arg: str) -> int:
    if not arg:
        return DEFAULT_HISTORY
    if not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= MAX_HISTORY):
        raise LineError(
            ErrorCode.NUMBER_OUT_OF_RANGE, f"the count must be a number from 1 to {MAX_HISTORY}"
        )
    return int(arg)


def _command(word: str, rest: str) -> LineCommand:
    try:
        kind = CommandKind(word.lower())
    except ValueError:
        kind = CommandKind.SAY  # not a verb: refused below
    first, tail = _split_word(rest)
    match kind:
        case CommandKind.WHO if not rest:
            return Who()
        case CommandKind.ROOMS if not rest:
            return Rooms()
        case CommandKind.HELP:
            return Help()
        case CommandKind.QUIT:
            return Quit()
        case CommandKind.HISTORY if not tail:
            return History(_history_count(first))
        case CommandKind.NICK if first and not tail:
            return SetNick(first)
        case CommandKind.JOIN if first and not tail:
            return Join(first)
        case CommandKind.MSG if first and tail.strip():
            return DirectMessage(first, tail)
        case CommandKind.LOGIN if first and tail:
            return Login(first, tail)
        case CommandKind.SAY:
            shown = word if len(word) <= 20 else word[:20] + "…"
            raise LineError(
                ErrorCode.UNKNOWN_COMMAND, f"unknown command /{shown}; /help lists the commands"
            )
    raise _usage(kind)


def parse_line(text: str) -> LineCommand | None:
    """One decoded line (without its ending) → a command; None for a blank line.

    Raises ``LineError`` for text no message may hold and for bad commands.
    """
    _prose(text)
    if not text.strip():
        return None
    if text.startswith("//"):
        return Say(text[1:])
    if text.startswith("/"):
        word, rest = _split_word(text[1:])
        if not word or text[1].isspace():
            raise LineError(ErrorCode.UNKNOWN_COMMAND, "a command follows / directly: /help")
        return _command(word, rest)
    return Say(text)
