"""One live client connection: identity, and frames written without ever waiting.

Fan-out must never wait on a socket (docs/architecture.md, "The message path"). Every outgoing frame is
encoded once into WebSocket wire bytes (a push to many connections shares them)
and handed to the socket's transport with a plain ``write``: no task, no await.
The transport's buffer is the connection's send queue; when what a client has not
yet taken is over ``max_buffer_bytes``, it is too slow and is closed with 4009 (it
recovers by sync).

Writing frames ourselves is safe beside aiohttp's own writer: server frames are
unmasked, compression is off, and both write whole frames synchronously, so on one
event loop they never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Protocol

from pigeon.protocol.closecodes import CloseCode

log = logging.getLogger(__name__)

_TEXT_FIN = 0x81
_PONG_FIN = 0x8A
CLOSE_TIMEOUT_S = 10.0


def text_frame(payload: bytes) -> bytes:
    """RFC 6455 wire bytes of one unmasked, final text frame."""
    size = len(payload)
    if size < 126:
        return bytes((_TEXT_FIN, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", _TEXT_FIN, 126, size) + payload
    return struct.pack("!BBQ", _TEXT_FIN, 127, size) + payload


def pong_frame(payload: bytes) -> bytes:
    """RFC 6455 wire bytes of a PONG echoing a PING (control payloads are at most 125 bytes)."""
    return bytes((_PONG_FIN, len(payload))) + payload


class Socket(Protocol):
    """The WebSocket as far as closing it goes."""

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...

    @property
    def closed(self) -> bool: ...


class Connection:
    __slots__ = (
        "_close_task",
        "close_code",
        "closed",
        "device",
        "id",
        "last_seen",
        "login_id",
        "max_buffer_bytes",
        "opened_at",
        "socket",
        "stream",
        "user_id",
    )

    def __init__(
        self,
        connection_id: str,
        socket: Socket,
        stream: asyncio.WriteTransport,
        *,
        user_id: str,
        login_id: str,
        device: str,
        max_buffer_bytes: int,
    ) -> None:
        self.id = connection_id
        self.socket = socket
        self.stream = stream
        self.user_id = user_id
        self.login_id = login_id
        self.device = device
        self.max_buffer_bytes = max_buffer_bytes
        self.last_seen = self.opened_at = time.monotonic()
        self.closed = False
        self.close_code: int | None = None  # what this server sent, for the log
        self._close_task: asyncio.Task[None] | None = None

    def push(self, data: str) -> bool:
        """Write one encoded text frame; never waits. False if dropped."""
        return self.push_frame(text_frame(data.encode()))

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

    def close(self, code: int, reason: str = "", *, drain_s: float = 0.0) -> None:
        """Close with ``code`` soon, after up to ``drain_s`` seconds for the client to
        take what was already written (a graceful restart)."""
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
            await asyncio.wait_for(
                self.socket.close(code=code, message=reason.encode()[:120]), CLOSE_TIMEOUT_S
            )
        except TimeoutError:
            self.stream.abort()
        except Exception:  # the peer vanished meanwhile: nothing left to close
            log.debug("close failed", exc_info=True)

    async def wait_closed(self) -> None:
        if self._close_task is not None:
            await self._close_task
