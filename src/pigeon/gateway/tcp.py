"""The raw TCP transport: length-prefixed Protobuf frames on their own port.

A thin adapter. Everything a connection decides — auth first, heartbeat, rate
limits, error replies, close codes — is the shared connection machine's; this
module only turns a byte stream into inbound payloads and outbound frames into
bytes:

* inbound, ``framing.FrameDecoder`` cuts the stream into payloads; a header that
  announces more than ``max_frame_bytes`` ends the stream with 1009 before any of
  its payload is buffered;
* outbound, every server frame is one framed ``Envelope`` (``TcpWire``), and the
  server's last frame is ``close {code, reason}`` since TCP has no close code;
* the listener (``pigeon.listener.Listener``) counts these sockets with the HTTP
  ones: per-address and total caps, "pending" until ``auth`` succeeds, and evictable
  at the global cap while pending. A socket over a cap gets ``error`` (42901 or
  50300) and ``close`` 1013 and is closed;
* reading stops (``pause_reading``) while more than one frame's worth of payloads
  waits to be handled, so a client that sends faster than it is served is slowed
  by TCP itself instead of growing a queue here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from typing import cast

from pigeon.listener import Listener, Refusal
from pigeon.protocol import frames, framing, protobuf
from pigeon.protocol.closecodes import CloseCode

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0


def close_envelope(code: int, reason: str) -> bytes:
    """The wire bytes of the last frame the server sends: ``close {code, reason}``."""
    return framing.encode(protobuf.encode_frame({"t": "close", "code": code, "reason": reason}))


def _refusal_bytes(refusal: Refusal) -> bytes:
    error = frames.error_frame(int(refusal.code), refusal.message, None)
    return framing.encode(protobuf.encode_frame(error)) + close_envelope(
        CloseCode.TRY_AGAIN_LATER, refusal.message
    )


_REFUSALS = {refusal: _refusal_bytes(refusal) for refusal in Refusal}


class StreamEnded(Exception):
    """No more payloads: the peer left (``code`` None) or the framing failed (1009)."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(reason or "stream ended")
        self.code = code
        self.reason = reason


class TcpSocket(asyncio.Protocol):
    """One accepted TCP socket: the listener's accounting, framing, flow control.

    ``receive`` yields whole payloads in order and then raises ``StreamEnded``
    (after payloads that arrived in the same chunk as a framing fault). ``close``
    writes the ``close`` frame and ends the stream once it is written, aborting a
    peer that does not take it within ``CLOSE_TIMEOUT_S``.
    """

    def __init__(
        self,
        listener: Listener,
        max_frame_bytes: int,
        on_open: Callable[[TcpSocket], None],
    ) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.capped = True
        self.pending = False
        self.close_code: int | None = None
        self._on_open = on_open
        self._decoder = framing.FrameDecoder(max_frame_bytes)
        self._limit = max_frame_bytes + framing.HEADER_BYTES
        self._payloads: deque[bytes] = deque()
        self._queued = 0
        self._paused = False
        self._ended: StreamEnded | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._counted = False
        self._closer: asyncio.Task[None] | None = None

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        refusal = self.listener.admit(self)
        if refusal is not None:
            transport.write(_REFUSALS[refusal])
            transport.close()
            return
        self._counted = True
        self.transport = transport
        self.listener.heading(self)  # evictable at the global cap until authenticated
        self._on_open(self)

    def data_received(self, data: bytes) -> None:
        if self._ended is not None:
            return
        try:
            payloads = self._decoder.feed(data)
        except framing.FramingError as exc:
            self._take(exc.payloads)
            self._end(StreamEnded(int(exc.close_code), exc.reason))
            return
        self._take(payloads)

    def eof_received(self) -> bool | None:
        self._end(StreamEnded())
        return False  # close our side too: a half-open stream has nothing more to say

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(StreamEnded(reason=str(exc) if exc else ""))
        self.transport = None
        if self._counted:
            self._counted = False
            self.listener.release(self)

    # --- inbound

    def _take(self, payloads: list[bytes] | tuple[bytes, ...]) -> None:
        for payload in payloads:
            self._payloads.append(payload)
            self._queued += len(payload)
        if self._queued > self._limit and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def _end(self, ended: StreamEnded) -> None:
        if self._ended is None:
            self._ended = ended
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def receive(self) -> bytes:
        """The next payload; raises ``StreamEnded`` once there are no more."""
        while not self._payloads:
            if self._ended is not None:
                raise self._ended
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        payload = self._payloads.popleft()
        self._queued -= len(payload)
        if self._paused and self._queued <= self._limit and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return payload

    # --- listener hooks

    def authenticated(self) -> None:
        """``auth`` succeeded: no longer pending, no longer evictable."""
        self.listener.head_done(self)
        self.listener.leave_pending(self)

    def evict(self) -> None:
        """Make room at the global cap (this socket never authenticated)."""
        self.close(CloseCode.TRY_AGAIN_LATER, "too many connections; retry shortly")

    # --- outbound

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing() or self.close_code is not None

    def close(self, code: int, reason: str = "") -> None:
        """Send ``close {code, reason}`` and end the stream (never waits)."""
        transport = self.transport
        if self.close_code is not None or transport is None:
            return
        self.close_code = code
        if not transport.is_closing():
            transport.write(close_envelope(code, reason))
            transport.close()  # after the buffered bytes are written
        self._closer = asyncio.get_running_loop().create_task(self._abort_if_stuck(transport))

    async def _abort_if_stuck(self, transport: asyncio.Transport) -> None:
        """A peer that stopped reading never takes the close frame: drop it after a while."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                while self.transport is not None:  # noqa: ASYNC110 - no event for "lost"
                    await asyncio.sleep(0.05)
                return
        transport.abort()


async def start_tcp_server(
    listener: Listener,
    host: str,
    port: int,
    *,
    max_frame_bytes: int,
    on_open: Callable[[TcpSocket], None],
    backlog: int,
    ssl_context: ssl.SSLContext | None,
) -> asyncio.Server:
    """Listen for raw TCP clients; ``on_open`` runs for every admitted socket."""
    return await asyncio.get_running_loop().create_server(
        lambda: TcpSocket(listener, max_frame_bytes, on_open),
        host,
        port,
        backlog=backlog,
        ssl=ssl_context,
        ssl_handshake_timeout=listener.limits.header_timeout_s if ssl_context else None,
    )
