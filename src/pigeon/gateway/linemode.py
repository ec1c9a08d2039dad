"""Line mode's transport: a plain TCP listener for ``nc`` and ``telnet`` (docs/protocol.md).

This module is only the glue: it reads the socket, cuts lines (``protocol.lines``),
hands commands to a ``LineSession`` and writes what comes back. What lines mean
lives in ``gateway/linesession.py``; how frames print, in ``protocol/lineview.py``
and ``gateway/lineoutput.py``.

Guarantees of the listener:

- lines are handled one at a time in the order they arrive, and the next one is not
  read before the previous one was answered (the person's own backpressure);
- writes never wait: lines go to the transport's buffer; a reader who leaves more
  than ``send_queue_bytes`` unread is cut off (4009), as a WebSocket would be;
- before the server closes a connection it prints ``! <close code> <reason>`` with
  the code a WebSocket would be closed with (``/quit`` just says goodbye);
- a connection that has not signed in within ``line_login_timeout_s`` is closed
  (4002), one silent for ``line_idle_timeout_s`` too (4010); TCP keepalive notices a
  peer that vanished without a word long before that;
- one address holds at most ``max_connections_per_ip`` line connections, of which
  ``max_pending_per_ip`` not yet signed in (42901).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass

from pigeon.core.guests import GuestService
from pigeon.core.ids import now_ms
from pigeon.core.messaging import MessagingService
from pigeon.core.presence import PresenceService
from pigeon.core.receipts import ReceiptService
from pigeon.gateway.lineoutput import LineHub, LineOutput
from pigeon.gateway.linesession import LineServices, LineSession, Reply
from pigeon.gateway.session import PolicyViolation, Session, SessionLimits
from pigeon.metrics import Metrics
from pigeon.protocol import lines
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Frame
from pigeon.protocol.lineview import error_line

log = logging.getLogger(__name__)

_READ_BYTES = 16 * 1024
_KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}  # dead peer: ~2 min
_DISPATCHED = (lines.Say, lines.DirectMessage, lines.History)  # rate-limited by the Session


class LinePortError(OSError):
    """The line-mode port could not be opened (told apart from the HTTP port's errors)."""


@dataclass(frozen=True, slots=True)
class LineLimits:
    max_line_bytes: int
    send_queue_bytes: int
    login_timeout_s: float
    idle_timeout_s: float
    max_per_ip: int
    max_pending_per_ip: int


class LineConnection:
    """One socket: its writer, and once signed in, its place in the hub."""

    def __init__(self, connection_id: str, writer: asyncio.StreamWriter, address: str) -> None:
        self.id = connection_id
        self.writer = writer
        self.address = address
        self.user_id = ""
        self.login_id = ""
        self.guest = False
        self.output: LineOutput | None = None
        self.gateway: Session | None = None  # the limits and dispatch every transport uses
        self.opened_at = self.last_input = time.monotonic()
        self.closed = False
        self.close_code: int | None = None
        self.max_buffer_bytes = 0

    @property
    def signed_in(self) -> bool:
        return bool(self.user_id)

    def write_lines(self, shown: list[str]) -> None:
        """Write lines (CR LF each, as a terminal expects); never waits."""
        if self.closed or not shown or self.writer.transport.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.close(CloseCode.TOO_SLOW, "too slow: output was not read", announce=False)
            return
        self.writer.write(("\r\n".join(shown) + "\r\n").encode())

    def deliver(self, frame: Frame) -> None:
        if self.output is not None and not self.closed:
            self.output.deliver(frame)

    def close(self, code: int, reason: str, *, announce: bool = True) -> None:
        """Say why (``! code reason``), then close once what was written is sent."""
        if self.closed:
            return
        if announce:
            self.write_lines([error_line(code, reason)])
        self.closed = True
        self.close_code = code
        if code == CloseCode.TOO_SLOW:
            self.writer.transport.abort()  # it would never take the rest anyway
        else:
            self.writer.close()


class LineListener:
    def __init__(
        self,
        *,
        node_id: str,
        services: LineServices,
        presence: PresenceService,
        receipts: ReceiptService,
        messaging: MessagingService,
        guests: GuestService,
        metrics: Metrics,
        session_limits: SessionLimits,
        limits: LineLimits,
    ) -> None:
        self.node_id = node_id
        self.services = services
        self.presence = presence
        self.receipts = receipts
        self.messaging = messaging
        self.guests = guests
        self.metrics = metrics
        self.session_limits = session_limits
        self.limits = limits
        self.hub: LineHub[LineConnection] = LineHub()
        self._ids = itertools.count(1)
        self._pending: set[LineConnection] = set()
        self._per_ip: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, backlog: int) -> int:
        """Listen; returns the bound port. Raises ``LinePortError`` when it cannot."""
        try:
            self._server = await asyncio.start_server(
                self._accept, host, port, backlog=backlog, limit=_READ_BYTES
            )
        except OSError as exc:
            raise LinePortError(exc.errno, exc.strerror or str(exc)) from exc
        self._sweeper = asyncio.create_task(self._sweep(), name="line-sweeper")
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("line mode listening", extra={"host": host, "port": bound})
        return bound

    async def stop(
        self, code: int = CloseCode.SERVICE_RESTART, reason: str = "server restarting"
    ) -> None:
        """Stop accepting, close every connection with ``code``, wait for their cleanup."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for conn in [*self.hub.connections(), *self._pending]:
            conn.close(code, reason)
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5.0)

    # --- one connection

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except Exception:
            log.exception("line connection failed")
        finally:
            self._handlers.discard(task)

    def _admit(self, address: str) -> bool:
        pending = sum(1 for c in self._pending if c.address == address)
        return (
            self._per_ip[address] < self.limits.max_per_ip
            and pending < self.limits.max_pending_per_ip
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        conn = LineConnection(f"{self.node_id}.line{next(self._ids)}", writer, address)
        conn.max_buffer_bytes = self.limits.send_queue_bytes
        if not self._admit(address):
            code = ErrorCode.TOO_MANY_CONNECTIONS
            conn.write_lines([error_line(int(code), "too many connections from this address")])
            conn.close(CloseCode.POLICY, "too many connections", announce=False)
            return
        _keepalive(writer)
        self._per_ip[address] += 1
        self._pending.add(conn)
        session = LineSession(self.services, address)
        try:
            conn.write_lines(session.greeting())
            await self._read(reader, conn, session)
        finally:
            await self._closed(conn, session)

    async def _read(
        self, reader: asyncio.StreamReader, conn: LineConnection, session: LineSession
    ) -> None:
        splitter = lines.LineSplitter(self.limits.max_line_bytes)
        while not conn.closed:
            try:
                data = await reader.read(_READ_BYTES)
            except OSError:  # reset by the peer
                return
            if not data:
                last = splitter.eof()
                if last is not None:
                    await self._line(conn, session, last)
                return
            conn.last_input = time.monotonic()
            for item in splitter.feed(data):
                await self._line(conn, session, item)
                if conn.closed:
                    return

    async def _line(
        self, conn: LineConnection, session: LineSession, item: bytes | lines.LineTooLong
    ) -> None:
        try:
            if isinstance(item, lines.LineTooLong):
                raise item.error()
            command = lines.parse_line(lines.decode_line(item))
        except lines.LineError as exc:
            self.metrics.errors.labels(str(int(exc.code))).inc()
            conn.write_lines([error_line(int(exc.code), exc.message)])
            return
        if command is None:
            return
        try:
            if not conn.signed_in:
                reply = await session.sign_in(command)
                conn.write_lines(reply.lines)
                if session.principal is not None and not reply.quit:
                    await self._open(conn, session)
            else:
                reply = await self._signed_in(conn, session, command)
        except PolicyViolation:
            conn.close(CloseCode.POLICY, "rate limit exceeded repeatedly")
            return
        if reply.quit:
            conn.close(CloseCode.NORMAL, "bye", announce=False)

    async def _signed_in(
        self, conn: LineConnection, session: LineSession, command: lines.LineCommand
    ) -> Reply:
        assert conn.gateway is not None
        if not isinstance(command, _DISPATCHED) and not conn.gateway.admit_control_frame():
            # Sends, DMs and history are limited by the Session itself; the rest here.
            return Reply([error_line(int(ErrorCode.RATE_LIMITED), "too many commands; slow down")])
        reply = await session.handle(command)
        conn.write_lines(reply.lines)
        return reply

    async def _open(self, conn: LineConnection, session: LineSession) -> None:
        """Signed in: limits and dispatch, the hub, presence, then into the lobby."""
        principal = session.principal
        assert principal is not None
        assert session.user is not None
        conn.user_id, conn.login_id = principal.user_id, principal.login_id
        conn.guest = session.user.guest
        conn.gateway = Session(
            principal,
            conn.id,
            self.messaging,
            self.receipts,
            self.metrics,
            self.session_limits,
        )
        session.dispatch = conn.gateway.handle
        conn.output = LineOutput(
            session,
            self.services.names,
            conn.write_lines,
            lambda: conn.close(CloseCode.TOO_SLOW, "too slow", announce=False),
        )
        self._pending.discard(conn)
        self.hub.add(conn)
        log.info("line connected", extra={"conn": conn.id, "user": principal.user_id})
        await self.presence.connected(principal.user_id, principal.login_id, conn.id)
        conn.write_lines(await session.enter())

    async def _closed(self, conn: LineConnection, session: LineSession) -> None:
        """The socket is done: leave the hub and presence; end the login; a guest departs."""
        conn.close(CloseCode.NORMAL, "", announce=False)
        self._pending.discard(conn)
        self._per_ip[conn.address] -= 1
        if self._per_ip[conn.address] <= 0:
            del self._per_ip[conn.address]
        if conn.output is not None:
            conn.output.close()
        if not conn.signed_in:
            return
        self.hub.remove(conn)
        try:
            await self.presence.disconnected(conn.user_id, conn.login_id, conn.id)
            # A line login lives as long as its socket: nothing else holds its tokens.
            await self.messaging.store.accounts.revoke_login(conn.login_id, now_ms())
            if conn.guest:
                await self.guests.departed(conn.user_id)
        except Exception:  # the store is away: the guest sweeper catches up later
            log.exception("line disconnect cleanup failed", extra={"conn": conn.id})
        log.info("line disconnected", extra={"conn": conn.id, "close_code": conn.close_code})

    # --- timers

    async def _sweep(self) -> None:
        """Close connections that did not sign in or went silent; renew live guests."""
        limits = self.limits
        every = max(0.5, min(30.0, limits.login_timeout_s / 4, limits.idle_timeout_s / 4))
        next_renewal = time.monotonic() + self.guests.renew_every_s
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for conn in list(self._pending):
                if now - conn.opened_at > limits.login_timeout_s:
                    conn.close(CloseCode.AUTH_TIMEOUT, "no nickname or /login in time")
            for conn in list(self.hub.connections()):
                if now - conn.last_input > limits.idle_timeout_s:
                    conn.close(CloseCode.HEARTBEAT_TIMEOUT, "closed after a long silence")
            if now >= next_renewal:
                next_renewal = now + self.guests.renew_every_s
                await self._renew_guests()

    async def _renew_guests(self) -> None:
        guests = [c.user_id for c in self.hub.connections() if c.guest]
        try:
            await self.guests.renew(guests)
        except Exception:
            log.exception("renewing guests failed", extra={"guests": len(guests)})


def _keepalive(writer: asyncio.StreamWriter) -> None:
    """TCP keepalive: a line user types nothing for hours, but a peer that vanished
    (a laptop closed, a network gone) is found out in about two minutes."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in _KEEPALIVE.items():
            if hasattr(socket, name):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
