"""One live client connection: identity, a bounded outgoing queue and its writer.

The queue is what keeps fan-out from ever waiting on a socket (DESIGN invariant 5):
``push`` only appends; a writer task, created on demand and gone when the queue is
empty, does the awaiting. A connection whose queue is full is closed with 4009 and
recovers by sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Protocol

from pigeon.protocol.closecodes import CloseCode

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What a connection needs from a WebSocket (or any framed stream)."""

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...

    @property
    def closed(self) -> bool: ...


class Connection:
    __slots__ = (
        "_close_task",
        "_queue",
        "_writer",
        "closed",
        "device",
        "id",
        "last_seen",
        "login_id",
        "max_queue",
        "transport",
        "user_id",
    )

    def __init__(
        self,
        connection_id: str,
        transport: Transport,
        *,
        user_id: str,
        login_id: str,
        device: str,
        max_queue: int,
    ) -> None:
        self.id = connection_id
        self.transport = transport
        self.user_id = user_id
        self.login_id = login_id
        self.device = device
        self.max_queue = max_queue
        self.last_seen = time.monotonic()
        self.closed = False
        self._queue: deque[str] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None

    def push(self, data: str) -> bool:
        """Queue one encoded frame; never waits. False if dropped (closed or too slow)."""
        if self.closed:
            return False
        if len(self._queue) >= self.max_queue:
            self.close(CloseCode.TOO_SLOW)
            return False
        self._queue.append(data)
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return True

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self.transport.send_str(self._queue.popleft())
        except (ConnectionError, RuntimeError):
            self._queue.clear()
            self.close(CloseCode.NORMAL)
        finally:
            self._writer = None

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    def close(self, code: int, reason: str = "", *, drain_s: float = 0.0) -> None:
        """Close with ``code`` soon. Frames already queued are written first for up to
        ``drain_s`` seconds (a graceful restart), or discarded (a client too slow)."""
        if self.closed:
            return
        self.closed = True  # refuses further pushes
        if drain_s <= 0:
            self._queue.clear()
        self._close_task = asyncio.create_task(self._close(code, reason, drain_s))

    async def _close(self, code: int, reason: str, drain_s: float) -> None:
        if drain_s > 0 and self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), drain_s)
        self._queue.clear()
        with contextlib.suppress(Exception):
            await self.transport.close(code=code, message=reason.encode()[:120])

    async def wait_closed(self) -> None:
        if self._close_task is not None:
            await self._close_task
