"""The raw TCP transport: length-prefixed Protobuf frames on their own port.

A thin adapter. Everything a connection decides — auth first, heartbeat, rate
limits, error replies, close codes — is the shared connection machine's; this
module only turns a byte stream into inbound payloads and outbound frames into
bytes:

* inbound, ``framing.FrameDecoder`` cuts the stream into payloads; a header that
  announces more than ``max_frame_bytes`` ends the stream with 1009 before any of
  its payload is buffered;
* outbound, every server frame is one framed ``Envelope`` (``framers.TcpFormat``), and the
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
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

from pigeon.gateway.framers import TcpFormat
from pigeon.gateway.runner import Data, Ended, Fault, Gateway, Inbound, Socket
from pigeon.listener import Listener, Refusal
from pigeon.protocol import frames, framing
from pigeon.protocol.closecodes import CloseCode

log = logging.getLogger(__name__)

_WIRE = TcpFormat()


def close_envelope(code: int, reason: str) -> bytes:
    """The wire bytes of the last frame the server sends: ``close {code, reason}``."""
    return _WIRE.encode({"t": "close", "code": code, "reason": reason})


def _refusal_bytes(refusal: Refusal) -> bytes:
    error = frames.error_frame(int(refusal.code), refusal.message, None)
    return _WIRE.encode(error) + close_envelope(CloseCode.TRY_AGAIN_LATER, refusal.message)


_REFUSALS = {refusal: _refusal_bytes(refusal) for refusal in Refusal}


class TcpSocket(asyncio.Protocol):
    """One accepted TCP socket: the listener's accounting, framing, flow control.

    As a ``Reader`` it yields ``Data`` for each whole payload, in order, then one
    ``Fault`` (1009) if the framing failed, then ``Ended`` forever. As a
    ``Transport`` its ``close`` writes the ``close`` frame, ends the stream once that
    is written, and returns when the socket is gone (the ``Connection`` aborts a
    peer that does not take it in time).
    """

    def __init__(
        self, listener: Listener, max_frame_bytes: int, on_open: Callable[[TcpSocket], None]
    ) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.capped = True
        self.pending = False
        self._on_open = on_open
        self._decoder = framing.FrameDecoder(max_frame_bytes)
        self._limit = max_frame_bytes + framing.HEADER_BYTES
        self._units: deque[Inbound] = deque()
        self._queued = 0
        self._paused = False
        self._ended = False  # the last unit (Fault or Ended) is queued
        self._wakeup: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._counted = False
        self._closing = False

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
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
        if self._ended:
            return
        try:
            payloads = self._decoder.feed(data)
        except framing.FramingError as exc:
            self._take(exc.payloads)
            self._end(Fault(exc.close_code, exc.reason))
            return
        self._take(payloads)

    def eof_received(self) -> bool | None:
        self._end(Ended())
        return False  # close our side too: a half-closed stream has nothing more to say

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(Ended())
        self.transport = None
        if not self._lost.done():
            self._lost.set_result(None)
        if self._counted:
            self._counted = False
            self.listener.release(self)

    # --- Reader

    def _take(self, payloads: Iterable[bytes]) -> None:
        for payload in payloads:
            self._units.append(Data(payload))
            self._queued += len(payload)
        # Handled one at a time: past one frame's worth waiting, let TCP slow the client.
        if self._queued > self._limit and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def _end(self, last: Fault | Ended) -> None:
        if not self._ended:
            self._ended = True
            self._units.append(last)
            self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def receive(self) -> Inbound:
        while not self._units:
            if self._ended:
                return Ended()
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        unit = self._units.popleft()
        if isinstance(unit, Data):
            self._queued -= len(unit.payload)
            if self._paused and self._queued <= self._limit and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
        return unit

    # --- Transport

    @property
    def closed(self) -> bool:
        return self.transport is None or self._closing

    async def close(self, code: int, reason: str) -> None:
        self._send_close(code, reason)
        await asyncio.shield(self._lost)

    def pong(self, payload: bytes) -> None:
        """TCP has no control frames: the client pings with the ``ping`` command."""

    def _send_close(self, code: int, reason: str) -> None:
        self._send_last(close_envelope(code, reason))

    def _send_last(self, data: bytes) -> None:
        """Write the last bytes of this connection (ending in a ``close`` frame), then end it."""
        transport = self.transport
        if self._closing or transport is None:
            return
        self._closing = True
        transport.write(data)
        transport.close()  # once the buffered bytes are written

    # --- listener hooks

    def authenticated(self) -> None:
        """``auth`` succeeded: no longer pending, no longer evictable."""
        self.listener.head_done(self)
        self.listener.leave_pending(self)

    def evict(self) -> None:
        """Make room at the global cap (this socket has not authenticated)."""
        self._send_last(_REFUSALS[Refusal.SERVER_FULL])

    def evict_for_restart(self) -> None:
        """The server is going away: say so (1012) and close; a no-op once closing."""
        self._send_close(CloseCode.SERVICE_RESTART, "server restarting")


class TcpGateway:
    """The raw TCP listener: accepts sockets and runs each through the ``Gateway``."""

    def __init__(self, gateway: Gateway, listener: Listener, max_frame_bytes: int) -> None:
        self.gateway = gateway
        self.listener = listener
        self.max_frame_bytes = max_frame_bytes
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[TcpSocket] = set()

    async def start(
        self,
        host: str,
        port: int,
        *,
        backlog: int,
        ssl_context: ssl.SSLContext | None,
        reuse_port: bool = False,
    ) -> int:
        """Listen; returns the bound port. ``reuse_port``: shared with other processes."""
        self._server = await asyncio.get_running_loop().create_server(
            lambda: TcpSocket(self.listener, self.max_frame_bytes, self._opened),
            host,
            port,
            backlog=backlog,
            ssl=ssl_context,
            reuse_port=reuse_port or None,
            # A TLS handshake gets the time an HTTP request head gets.
            ssl_handshake_timeout=self.listener.limits.header_timeout_s if ssl_context else None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self, timeout_s: float) -> None:
        """After the hub closed the authenticated connections: end the rest, bounded."""
        self.stop_accepting()
        for sock in list(self._sockets):
            sock.evict_for_restart()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        if self._server is not None:
            await self._server.wait_closed()

    def _opened(self, sock: TcpSocket) -> None:
        if not self.gateway.accepting:
            sock.evict_for_restart()
            return
        task = asyncio.get_running_loop().create_task(self._serve(sock), name="tcp-connection")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: TcpSocket) -> None:
        assert sock.transport is not None
        self._sockets.add(sock)
        try:
            conn = await self.gateway.serve(
                Socket(reader=sock, transport=sock, stream=sock.transport, wire=_WIRE),
                on_authenticated=sock.authenticated,
            )
        finally:
            self._sockets.discard(sock)
        if conn.user_id:
            log.info("disconnected", extra={"conn": conn.id, "close_code": conn.close_code})
