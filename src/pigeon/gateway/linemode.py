"""Line mode's transport: a plain TCP listener for ``nc`` and ``telnet`` (docs/protocol.md).

This module is only the glue: it reads the socket, cuts lines (``protocol.lines``),
hands commands to a ``LineSession`` and writes what comes back. Like every
transport it runs one ``ConnectionMachine`` per connection (sign-in deadline,
silence, frame and send budgets, one close), runs sends and history through the
gateway ``Session``, and sits in the node's ``Hub`` with a ``LineFormat`` for
fan-out. What lines mean lives in ``gateway/linesession.py``; how frames print, in
``protocol/lineview.py`` and ``gateway/lineoutput.py``.

Guarantees of the listener:

- lines are handled one at a time in the order they arrive, and the next one is not
  read before the previous one was answered (the person's own backpressure);
- writes never wait: lines go to the transport's buffer; a reader who leaves more
  than ``send_queue_bytes`` unread is cut off (4009), as a WebSocket would be;
- every signed-in line spends the connection's frame budget, sends the send budget
  too (42900 over it; 4008 after repeated overruns), and the per-user send budget
  applies across all of a user's connections (42910);
- before the server closes a connection it prints ``! <close code> <reason>`` with
  the code a WebSocket would be closed with (``/quit`` just says goodbye);
- a connection that has not signed in within ``line_login_timeout_s`` is closed
  (4002), one silent for ``line_idle_timeout_s`` too (4010); TCP keepalive notices a
  peer that vanished without a word long before that;
- its sockets are counted by the node's ``Listener`` with the HTTP and TCP ones:
  per-address caps (``! 42901 …`` and closed), "pending" until signed in, and
  evictable at the global cap until then (``! 50300 …``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from dataclasses import dataclass

from pigeon.core.guests import GuestService
from pigeon.core.ids import now_ms
from pigeon.core.messaging import MessagingService
from pigeon.core.presence import PresenceService
from pigeon.core.receipts import ReceiptService
from pigeon.core.typing_indicators import TypingService
from pigeon.gateway.connection import Connection
from pigeon.gateway.hub import Hub
from pigeon.gateway.lineoutput import LineFormat, LineOutput, encode_lines
from pigeon.gateway.linesession import LineServices, LineSession, Reply
from pigeon.gateway.machine import Action, Close, ConnectionMachine, Dispatch, MachineLimits
from pigeon.gateway.machine import Reply as FrameReply
from pigeon.gateway.session import Session
from pigeon.listener import Listener, ListenFailed
from pigeon.metrics import Metrics
from pigeon.protocol import frames, lines
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode
from pigeon.protocol.frames import Command, Frame
from pigeon.protocol.lineview import error_line

log = logging.getLogger(__name__)

_READ_BYTES = 16 * 1024
_KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}  # dead peer: ~2 min
_DISPATCHED = (lines.Say, lines.DirectMessage, lines.History)  # they carry their own frames
# What a person at a terminal is told, for the machine's closes that have a line-mode word.
_CLOSE_WORDS: dict[int, str] = {
    CloseCode.AUTH_TIMEOUT: "no nickname or /login in time",
    CloseCode.HEARTBEAT_TIMEOUT: "closed after a long silence",
    CloseCode.SERVICE_RESTART: "server restarting",
    CloseCode.REVOKED: "signed out: the login was revoked or the account disabled",
    CloseCode.TOO_SLOW: "too slow: output was not read",
    CloseCode.TOO_MANY_SOCKETS: "too many connections for this user",
}


@dataclass(frozen=True, slots=True)
class LineLimits:
    max_line_bytes: int
    send_queue_bytes: int


class LineGuard:
    """A line socket as the ``Listener`` counts it (``CountedSocket``)."""

    def __init__(self, ip: str, writer: asyncio.StreamWriter) -> None:
        self.ip = ip
        self.capped = True
        self.pending = False
        self.writer = writer

    def evict(self) -> None:
        """Dropped at the global cap to make room: it had not signed in yet."""
        code = int(ErrorCode.UNAVAILABLE)
        self.writer.write(encode_lines([error_line(code, "too many connections; retry shortly")]))
        self.writer.close()


class LineTransport:
    """The ``Transport`` of a line connection: closing prints why, then ends the stream."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    async def close(self, code: int, reason: str) -> None:
        if code != CloseCode.NORMAL and not self.writer.transport.is_closing():
            words = _CLOSE_WORDS.get(code, reason)  # an IntEnum key matches its int
            self.writer.write(encode_lines([error_line(code, words)]))
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    def pong(self, payload: bytes) -> None:
        """TCP has no control frames: never asked."""

    @property
    def closed(self) -> bool:
        return self.writer.transport.is_closing()


class LineListener:
    def __init__(
        self,
        *,
        node_id: str,
        services: LineServices,
        hub: Hub,
        listener: Listener,
        presence: PresenceService,
        receipts: ReceiptService,
        messaging: MessagingService,
        typing: TypingService,
        guests: GuestService,
        metrics: Metrics,
        machine_limits: MachineLimits,
        limits: LineLimits,
    ) -> None:
        self.node_id = node_id
        self.services = services
        self.hub = hub
        self.listener = listener
        self.presence = presence
        self.receipts = receipts
        self.messaging = messaging
        self.typing = typing
        self.guests = guests
        self.metrics = metrics
        self.machine_limits = machine_limits
        self.limits = limits
        self._ids = itertools.count(1)
        self._pending: dict[Connection, LineGuard] = {}  # not signed in yet
        self._live: dict[Connection, bool] = {}  # signed in → is a guest
        self._sessions: dict[Connection, Session] = {}  # signed in → its gateway Session
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, backlog: int, *, reuse_port: bool = False) -> int:
        """Listen; returns the bound port. Raises ``LinePortError`` when it cannot.
        ``reuse_port``: the port is shared with other processes (SO_REUSEPORT)."""
        try:
            self._server = await asyncio.start_server(
                self._accept,
                host,
                port,
                backlog=backlog,
                limit=_READ_BYTES,
                reuse_port=reuse_port or None,
            )
        except OSError as exc:
            raise ListenFailed("line_port", f"{host}:{port}", exc) from exc
        self._sweeper = asyncio.create_task(self._sweep(), name="line-sweeper")
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("line mode listening", extra={"host": host, "port": bound})
        return bound

    async def stop(self, code: CloseCode, reason: str) -> None:
        """Stop accepting, close every line connection with ``code``, wait for cleanup."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for conn in [*self._pending, *self._live]:
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

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        guard = LineGuard(str(peer[0]) if isinstance(peer, tuple) and peer else "unix", writer)
        refusal = self.listener.admit(guard)
        if refusal is not None:
            writer.write(encode_lines([error_line(int(refusal.code), refusal.message)]))
            writer.close()
            return
        self.listener.heading(guard)  # evictable at the global cap until signed in
        try:
            await self._serve_admitted(reader, writer, guard)
        finally:
            self.listener.release(guard)

    async def _serve_admitted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, guard: LineGuard
    ) -> None:
        _keepalive(writer)
        connection_id = f"{self.node_id}.line{next(self._ids)}"
        conn = Connection(
            connection_id,
            LineTransport(writer),
            writer.transport,
            wire=LineFormat(connection_id),
            machine=ConnectionMachine(self.machine_limits, time.monotonic()),
            max_buffer_bytes=self.limits.send_queue_bytes,
        )
        self._pending[conn] = guard
        session = LineSession(self.services, guard.ip)
        try:
            _write(conn, session.greeting())
            await self._read(reader, conn, session)
        finally:
            await self._closed(conn)

    async def _read(
        self, reader: asyncio.StreamReader, conn: Connection, session: LineSession
    ) -> None:
        splitter = lines.LineSplitter(self.limits.max_line_bytes)
        while not conn.closed:
            try:
                data = await reader.read(_READ_BYTES)
            except OSError:  # reset by the peer
                data = b""
            if not data:
                last = splitter.eof()  # a last line without its LF still counts
                if last is not None:
                    await self._line(conn, session, last)
                conn.machine.transport_closed()
                return
            for item in splitter.feed(data):
                await self._line(conn, session, item)
                if conn.closed:
                    return

    async def _line(
        self, conn: Connection, session: LineSession, item: bytes | lines.LineTooLong
    ) -> None:
        now = time.monotonic()
        try:
            if isinstance(item, lines.LineTooLong):
                raise item.error()
            command = lines.parse_line(lines.decode_line(item))
        except lines.LineError as exc:
            # Answered like a frame that did not decode: its code, and the frame budget.
            self._carry_out(conn, conn.machine.malformed(ProtocolError(exc.code, exc.message), now))
            return
        if command is None:
            conn.machine.activity(now)
            return
        if not conn.user_id:
            conn.machine.activity(now)
            reply = await session.sign_in(command)
            _write(conn, reply.lines)
            if session.principal is not None and not reply.quit:
                await self._open(conn, session)
        else:
            reply = await self._signed_in(conn, session, command)
        if reply.quit:
            conn.close(CloseCode.NORMAL, "bye")

    async def _signed_in(
        self, conn: Connection, session: LineSession, command: lines.LineCommand
    ) -> Reply:
        if not isinstance(command, _DISPATCHED):
            # No frame of the protocol carries this command: it spends the frame budget
            # as a ping does, through the same machine.
            answer = await self._dispatch(conn, frames.Ping())
            if answer is None or answer["t"] == "error":
                shown = [] if answer is None else [_error(answer)]
                _write(conn, shown)
                return Reply(shown)
        reply = await session.handle(command)
        _write(conn, reply.lines)
        return reply

    async def _dispatch(self, conn: Connection, command: Command) -> Frame | None:
        """One command through the machine (budgets) and the gateway ``Session``."""
        gateway = self._sessions.get(conn)
        answer: Frame | None = None
        for action in conn.machine.command(command, time.monotonic()):
            match action:
                case Dispatch(command=ready) if gateway is not None:
                    answer = await gateway.handle(ready)
                case FrameReply(frame=frame):
                    answer = frame
                case Close(code=code, reason=reason):
                    conn.shut(code, reason)
        return answer

    def _carry_out(self, conn: Connection, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case FrameReply(frame=frame):
                    _write(conn, [_error(frame)] if frame["t"] == "error" else [])
                case Close(code=code, reason=reason):
                    conn.shut(code, reason)

    async def _open(self, conn: Connection, session: LineSession) -> None:
        """Signed in: the machine opens, the gateway Session, the hub, presence, the lobby."""
        principal, user = session.principal, session.user
        assert principal is not None
        assert user is not None
        conn.machine.authenticated(time.monotonic())
        conn.identify(principal.user_id, principal.login_id, principal.device)
        self._sessions[conn] = Session(
            principal, conn.id, self.messaging, self.typing, self.receipts, self.metrics
        )
        session.dispatch = lambda command: self._dispatch(conn, command)
        assert isinstance(conn.wire, LineFormat)
        conn.wire.output = LineOutput(
            session,
            self.services.names,
            conn.push_frame,
            lambda: conn.close(CloseCode.TOO_SLOW, "too slow"),
        )
        guard = self._pending.pop(conn)
        self.listener.head_done(guard)  # useful now: neither pending nor evictable
        self.listener.leave_pending(guard)
        self._live[conn] = user.guest
        await self.hub.add(conn)
        log.info("line connected", extra={"conn": conn.id, "user": principal.user_id})
        await self.presence.connected(principal.user_id, principal.login_id, conn.id)
        _write(conn, await session.enter())

    async def _closed(self, conn: Connection) -> None:
        """The socket is done: leave the hub and presence; end the login; a guest departs."""
        conn.close(CloseCode.NORMAL, "")
        conn.shut(CloseCode.NORMAL)  # the peer left first: the machine has no close to make
        await conn.wait_closed()
        self._pending.pop(conn, None)
        if isinstance(conn.wire, LineFormat) and conn.wire.output is not None:
            conn.wire.output.close()
        if conn not in self._live:
            return
        guest = self._live.pop(conn)
        self._sessions.pop(conn, None)
        self.hub.remove(conn)
        try:
            await self.presence.disconnected(conn.user_id, conn.login_id, conn.id)
            # A line login lives as long as its socket: nothing else holds its tokens.
            await self.messaging.store.accounts.revoke_login(conn.login_id, now_ms())
            if guest:
                await self.guests.departed(conn.user_id)
        except Exception:  # the store is away: the guest sweeper catches up later
            log.exception("line disconnect cleanup failed", extra={"conn": conn.id})
        log.info("line disconnected", extra={"conn": conn.id, "close_code": conn.close_code})

    # --- timers

    async def _sweep(self) -> None:
        """The machines' clock for connections not yet in the hub (whose own sweeper
        ticks the signed-in ones), and renewal of this node's live guests."""
        every = max(0.5, min(30.0, self.machine_limits.auth_timeout_s / 4))
        next_renewal = time.monotonic() + self.guests.renew_every_s
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for conn in list(self._pending):
                conn.tick(now)
            if now >= next_renewal:
                next_renewal = now + self.guests.renew_every_s
                await self._renew_guests()

    async def _renew_guests(self) -> None:
        guests = [conn.user_id for conn, guest in self._live.items() if guest]
        try:
            await self.guests.renew(guests)
        except Exception:
            log.exception("renewing guests failed", extra={"guests": len(guests)})


def _write(conn: Connection, shown: list[str]) -> None:
    """Lines for this reader now; never waits (too slow → 4009, by the Connection)."""
    if shown:
        conn.push_frame(encode_lines(shown))


def _error(frame: Frame) -> str:
    return error_line(int(frame["code"]), str(frame.get("message", "")))


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
