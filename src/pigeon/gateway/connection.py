"""One live client connection: identity, and frames written without ever waiting.

Fan-out must never wait on a socket (docs/architecture.md, "The message path").
Every outgoing frame is encoded by the connection's ``WireFormat`` into wire
bytes (a push to many connections shares them) and handed to the socket's
transport with a plain ``write``: no task, no await. The transport's buffer is
the connection's send queue; when what a client has not yet taken is over
``max_buffer_bytes``, it is too slow and is closed with 4009 (it recovers by sync).

Writing frames ourselves is safe beside aiohttp's own WebSocket writer: server
frames are unmasked, and both write whole frames synchronously, so on one event
loop they never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from pigeon.gateway.framers import WireFormat
from pigeon.gateway.machine import Close, ConnectionMachine
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.frames import Frame

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0


class Transport(Protocol):
    """A connection's socket as far as closing it goes; each transport says how."""

    async def close(self, code: int, reason: str) -> None:
        """Send the transport's close signal with ``code`` and end the stream."""
        ...

    def pong(self, payload: bytes) -> None:
        """Answer a transport-level PING; a transport without control frames never gets one."""
        ...

    @property
    def closed(self) -> bool: ...


class Connection:
    __slots__ = (
        "_close_task",
        "close_code",
        "closed",
        "device",
        "id",
        "login_id",
        "machine",
        "max_buffer_bytes",
        "opened_at",
        "silence_slot",
        "socket",
        "stream",
        "user_id",
        "wire",
    )

    def __init__(
        self,
        connection_id: str,
        socket: Transport,
        stream: asyncio.WriteTransport,
        *,
        wire: WireFormat,
        machine: ConnectionMachine,
        max_buffer_bytes: int,
    ) -> None:
        self.id = connection_id
        self.socket = socket
        self.stream = stream
        self.wire = wire
        self.machine = machine
        # Who it is, once authenticated (the hub only holds authenticated connections).
        self.user_id = self.login_id = self.device = ""
        self.max_buffer_bytes = max_buffer_bytes
        self.opened_at = time.monotonic()
        self.silence_slot = -1  # where the hub's SilenceWheel filed it
        self.closed = False
        self.close_code: int | None = None  # what this server sent, for the log
        self._close_task: asyncio.Task[None] | None = None

    def identify(self, user_id: str, login_id: str, device: str) -> None:
        self.user_id, self.login_id, self.device = user_id, login_id, device

    def push(self, frame: Frame) -> bool:
        """Encode and write one frame; never waits. False if dropped or not shown."""
        data = self.wire.encode(frame)
        return data is not None and self.push_frame(data)

    def push_frame(self, frame: bytes) -> bool:
        """Write one frame's wire bytes; never waits. False if dropped (closed or too slow)."""
        if self.closed:
            return False
        if self.socket.closed or self.stream.is_closing():
            self.closed = True
            return False
        # Judged on what is still unsent, not on this frame: one large reply (a full
        # page of history) to a client that keeps up is fine.
        if self.stream.get_write_buffer_size() > self.max_buffer_bytes:
            self.close(CloseCode.TOO_SLOW, "too slow")
            return False
        self.stream.write(frame)
        return True

    async def flush(self, timeout_s: float) -> None:
        """Wait (bounded) until the client has taken everything written so far."""
        deadline = time.monotonic() + timeout_s
        while self._unsent() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling a buffer size: there is no event for it

    def _unsent(self) -> int:
        return 0 if self.stream.is_closing() else self.stream.get_write_buffer_size()

    def tick(self, now: float) -> None:
        """The clock for this connection's machine: closes it when silent too long."""
        for action in self.machine.tick(now):
            if isinstance(action, Close):  # the clock's only action
                self.shut(action.code, action.reason)

    def close(self, code: CloseCode, reason: str = "", *, drain_s: float = 0.0) -> None:
        """Close with ``code`` soon, after up to ``drain_s`` seconds for the client to
        take what was already written (a graceful restart). The first close wins."""
        for action in self.machine.close(code, reason):
            if isinstance(action, Close):
                self.shut(action.code, action.reason, drain_s=drain_s)

    def shut(self, code: int, reason: str = "", *, drain_s: float = 0.0) -> None:
        """Carry out a close the machine decided on."""
        if self.closed:
            return
        self.closed = True  # refuses further pushes
        self.close_code = code
        self._close_task = asyncio.create_task(self._close(code, reason, drain_s))

    async def _close(self, code: int, reason: str, drain_s: float) -> None:
        if drain_s > 0:
            await self.flush(drain_s)
        try:
            # A client that stopped reading may never take the close frame either.
            await asyncio.wait_for(self.socket.close(code, reason), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.stream.abort()
        except Exception:  # the peer vanished meanwhile: nothing left to close
            log.debug("close failed", exc_info=True)

    async def wait_closed(self) -> None:
        if self._close_task is not None:
            await self._close_task
