"""Line-mode clients for tests: a real ``nc`` process, or a plain Python socket.

Both read the server's output line by line and wait (bounded by ``WAIT_S``) for the
line a test expects, keeping everything seen so a test can also assert on absence.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from harness import WAIT_S, ServerProcess, require_service

Match = str | Callable[[str], bool]


def line_port(server: ServerProcess) -> int:
    for event in server.events():
        if event.get("event") == "listening" and event.get("line_port"):
            return int(event["line_port"])
    raise AssertionError("the server has no line port")


class LineClient:
    """Reads lines from ``reader``, writes raw bytes to ``write``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> None:
        self._reader = reader
        self._writer = writer
        self.seen: list[str] = []

    def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def end_input(self) -> None:
        """Nothing more will be typed (as Ctrl-D would say)."""
        if self._writer is not None and self._writer.can_write_eof():
            self._writer.write_eof()

    def send(self, line: str, ending: str = "\n") -> None:
        self.send_raw((line + ending).encode())

    async def read_line(self, within: float = WAIT_S) -> str | None:
        """The next line (without its ending), or None at the end of the stream."""
        raw = await asyncio.wait_for(self._reader.readline(), within)
        if not raw:
            return None
        line = raw.decode().rstrip("\r\n")
        self.seen.append(line)
        return line

    async def expect(self, wanted: Match, within: float = WAIT_S) -> str:
        """Read until a line matches (a regular expression searched in it, or a predicate)."""
        test = wanted if callable(wanted) else re.compile(wanted).search
        try:
            async with asyncio.timeout(within):
                while True:
                    line = await self.read_line(within)
                    if line is None:
                        raise AssertionError(f"stream ended waiting for {wanted!r}: {self.seen}")
                    if test(line):
                        return line
        except TimeoutError:
            raise AssertionError(f"no line matched {wanted!r} in time: {self.seen}") from None

    async def until_closed(self, within: float = WAIT_S) -> list[str]:
        """Every line up to the end of the stream."""
        rest: list[str] = []
        async with asyncio.timeout(within):
            while (line := await self.read_line(within)) is not None:
                rest.append(line)
        return rest

    async def sign_in_as_guest(self, nick: str) -> None:
        await self.expect("^\\* Welcome")
        self.send(nick)
        await self.expect(f"^\\* You are {re.escape(nick)} ")

    async def barrier(self) -> None:
        """Everything sent before has been handled: /who answers after it."""
        self.send("/who")
        await self.expect("^\\* Online in ")


@asynccontextmanager
async def socket_client(port: int) -> AsyncIterator[LineClient]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield LineClient(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the server closed it first
            await writer.wait_closed()


@asynccontextmanager
async def nc_client(port: int) -> AsyncIterator[LineClient]:
    """A real netcat (Debian's netcat-openbsd) talking to the line port."""
    nc = shutil.which("nc")
    require_service("nc", nc is not None, "install netcat-openbsd")
    assert nc is not None
    proc = await asyncio.create_subprocess_exec(
        nc, "127.0.0.1", str(port), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    client = LineClient(proc.stdout, None)
    stdin = proc.stdin
    client.send_raw = stdin.write  # type: ignore[method-assign]
    # netcat-openbsd stays until its input ends, even after the server has closed.
    client.end_input = stdin.close  # type: ignore[method-assign]
    try:
        yield client
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), WAIT_S)
