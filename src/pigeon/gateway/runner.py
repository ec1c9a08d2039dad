"""The asyncio glue every transport shares: read, feed the machine, carry out its actions.

A transport adapter (``websocket``, ``tcp``, ``linemode``) turns its socket into
a ``Reader`` of ``Inbound`` units and a ``Transport`` that knows how to close,
picks a ``WireFormat``, and hands all three to ``Gateway.serve``. From there
every connection lives the same life: authenticate first, register with the
hub, run its commands through its ``Session`` — sends pipelined, up to
``pipeline_depth`` in flight, answered in arrival order (``pipeline``) — and
leave. Replies and errors go out through one path (``_reply``), which is also
where frames and errors are counted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from pigeon.core.accounts import AccountService, Principal
from pigeon.core.errors import CoreError
from pigeon.core.ids import now_ms
from pigeon.core.messaging import MessagingService
from pigeon.core.presence import PresenceService
from pigeon.core.receipts import ReceiptService
from pigeon.core.typing_indicators import TypingService
from pigeon.gateway.connection import Connection, Transport
from pigeon.gateway.framers import WireFormat
from pigeon.gateway.hub import Hub
from pigeon.gateway.machine import (
    Action,
    Authenticate,
    Close,
    ConnectionMachine,
    Dispatch,
    MachineLimits,
    Pong,
    Reply,
    State,
)
from pigeon.gateway.pipeline import Pipeline
from pigeon.gateway.session import Session
from pigeon.metrics import Metrics
from pigeon.protocol import frames
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.frames import Command, Frame
from pigeon.tracing import NoTracer, Tracer

log = logging.getLogger(__name__)


# --- what a transport reads


@dataclass(frozen=True, slots=True)
class Data:
    """One whole client frame: text or bytes as the transport delivered it."""

    payload: str | bytes


@dataclass(frozen=True, slots=True)
class ControlPing:
    """A transport-level PING (WebSocket) to be answered with a PONG."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Alive:
    """Something that only shows the peer is there (a PONG)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """The transport cannot go on (a frame over the limit, broken framing)."""

    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The peer closed, or the socket failed."""


Inbound = Data | ControlPing | Alive | Fault | Ended


class Reader(Protocol):
    async def receive(self) -> Inbound:
        """The next unit; ``Ended`` once the stream is over (and forever after)."""
        ...


@dataclass(frozen=True, slots=True)
class Socket:
    """What an adapter hands over: how to read, write and close one connection."""

    reader: Reader
    transport: Transport
    stream: asyncio.WriteTransport
    wire: WireFormat


class Gateway:
    """Runs connections of any transport against the services; one per node."""

    def __init__(
        self,
        *,
        node_id: str,
        accounts: AccountService,
        messaging: MessagingService,
        typing: TypingService,
        receipts: ReceiptService,
        presence: PresenceService,
        hub: Hub,
        metrics: Metrics,
        limits: MachineLimits,
        send_queue_bytes: int,
        pipeline_depth: int,
        tracer: Tracer | None = None,
    ) -> None:
        self.node_id = node_id
        self.tracer = tracer or NoTracer()
        self.accounts = accounts
        self.messaging = messaging
        self.typing = typing
        self.receipts = receipts
        self.presence = presence
        self.hub = hub
        self.metrics = metrics
        self.limits = limits
        self.send_queue_bytes = send_queue_bytes
        self.pipeline_depth = pipeline_depth
        self.accepting = True
        self.in_flight = 0  # commands being handled right now, across connections
        self._ids = itertools.count(1)

    async def serve(
        self, socket: Socket, *, on_authenticated: Callable[[], None] | None = None
    ) -> Connection:
        """Run one connection to its end; returns it (its ``close_code`` is what we sent)."""
        connection_id = f"{self.node_id}.{next(self._ids)}"
        machine = ConnectionMachine(self.limits, time.monotonic())
        conn = Connection(
            connection_id,
            socket.transport,
            socket.stream,
            wire=socket.wire,
            machine=machine,
            max_buffer_bytes=self.send_queue_bytes,
        )
        authenticated = await self._authenticate(conn, socket)
        if authenticated is None:
            await conn.wait_closed()
            return conn
        if on_authenticated is not None:
            on_authenticated()
        principal, rid = authenticated
        await self._serve_authenticated(conn, socket, principal, rid)
        return conn

    async def quiesce(self, timeout_s: float) -> None:
        """Wait (bounded) until no command is mid-flight, so their replies are queued."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - a counter, not an event
            await asyncio.sleep(0.01)

    # --- the two phases

    async def _authenticate(
        self, conn: Connection, socket: Socket
    ) -> tuple[Principal, frames.Rid] | None:
        """Until an ``auth`` frame is accepted; None if the connection ended first."""
        machine = conn.machine
        while machine.state is State.AWAITING_AUTH:
            try:
                unit = await asyncio.wait_for(
                    socket.reader.receive(), max(0.0, machine.auth_deadline - time.monotonic())
                )
            except TimeoutError:
                self._carry_out(conn, machine.tick(time.monotonic()))
                continue
            for action in self._feed(conn, unit):
                if isinstance(action, Authenticate):
                    principal = await self._check_token(conn, action.command)
                    if principal is not None:
                        return principal, action.command.rid
                else:
                    self._carry_out(conn, [action])
        return None

    async def _check_token(self, conn: Connection, command: frames.Auth) -> Principal | None:
        try:
            principal = await self.accounts.authenticate(command.token, cached=True)
        except CoreError as exc:
            self._carry_out(conn, conn.machine.auth_refused(exc.code, exc.message, command.rid))
            return None
        self.metrics.frames_in.labels("auth").inc()
        conn.machine.authenticated(time.monotonic())
        return principal

    async def _serve_authenticated(
        self, conn: Connection, socket: Socket, principal: Principal, rid: frames.Rid
    ) -> None:
        # The device is the login's name; an auth frame's `device` is ignored (protocol.md).
        conn.identify(principal.user_id, principal.login_id, principal.device)
        try:
            await self.hub.add(conn)
            log.info("connected", extra={"conn": conn.id, "user": principal.user_id})
            await self.presence.connected(principal.user_id, principal.login_id, conn.id)
            ready = frames.ready_frame(
                principal.user_id,
                principal.device,
                principal.login_id,
                self.hub.heartbeat_s,
                now_ms(),
                rid,
                bot=principal.bot,
            )
            self._reply(conn, ready)
            session = Session(
                principal, conn.id, self.messaging, self.typing, self.receipts, self.metrics
            )
            await self._read_commands(conn, socket, session)
        finally:
            self.hub.remove(conn)
            conn.closed = True
            await self.presence.disconnected(principal.user_id, principal.login_id, conn.id)

    async def _read_commands(self, conn: Connection, socket: Socket, session: Session) -> None:
        pipeline = Pipeline(self.pipeline_depth, lambda actions: self._carry_out(conn, actions))
        try:
            while not conn.closed:
                await pipeline.room()  # at the bound, reading pauses: back-pressure
                unit = await socket.reader.receive()
                if isinstance(unit, Ended):
                    conn.machine.transport_closed()
                    break
                for action in self._feed(conn, unit):
                    await self._schedule(conn, session, pipeline, action)
        finally:
            # Commands already started finish (a send may be committing); their
            # replies are dropped if the connection is gone.
            await pipeline.settled()
        # Returning first would let the transport close with 1000 before our code goes out.
        await conn.wait_closed()

    async def _schedule(
        self, conn: Connection, session: Session, pipeline: Pipeline, action: Action
    ) -> None:
        """Start a send beside the others; run any other command alone, in order."""
        match action:
            case Dispatch(frames.Send() as command):
                pipeline.start(self._dispatch(conn, session, command))
            case Dispatch(command):
                await pipeline.settled()
                self._carry_out(conn, await self._dispatch(conn, session, command))
            case Pong():  # a transport control frame, not an answer to a command
                self._carry_out(conn, [action])
            case _:
                pipeline.then([action])

    # --- one path for every unit and every action

    def _feed(self, conn: Connection, unit: Inbound) -> list[Action]:
        machine, now = conn.machine, time.monotonic()
        match unit:
            case Data(payload):
                try:
                    command = conn.wire.decode(payload)
                except ProtocolError as exc:
                    return machine.malformed(exc, now)
                return machine.command(command, now)
            case ControlPing(payload):
                return machine.control_ping(payload, now)
            case Alive():
                machine.activity(now)
            case Fault(code, reason):
                return machine.close(code, reason)
            case Ended():
                machine.transport_closed()
        return []

    def _carry_out(self, conn: Connection, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Reply(frame):
                    self._reply(conn, frame)
                case Pong(payload):
                    conn.socket.pong(payload)
                case Close(code, reason):
                    conn.shut(code, reason)
                case Authenticate() | Dispatch():
                    raise AssertionError(f"{action!r} needs the async path")

    def _dispatch(
        self, conn: Connection, session: Session, command: Command
    ) -> Coroutine[Any, Any, list[Action]]:
        """The command's run, its reply as actions. The session sees the command now
        (a send's commit turn is taken in arrival order), the run starts when awaited."""
        name = type(command).__name__.lower()
        self.metrics.frames_in.labels(name).inc()
        self.in_flight += 1
        return self._run(conn, name, session.handle(command))

    async def _run(
        self, conn: Connection, name: str, handling: Coroutine[Any, Any, Frame | None]
    ) -> list[Action]:
        started = time.perf_counter()
        try:
            with self.tracer.span(f"ws {name}", {"pigeon.conn": conn.id}):
                reply = await handling
        finally:
            self.in_flight -= 1
            self.metrics.command_seconds.labels(name).observe(time.perf_counter() - started)
        return [] if reply is None else [Reply(reply)]

    def _reply(self, conn: Connection, frame: Frame) -> None:
        kind = frame["t"]
        if kind == "error":
            self.metrics.errors.labels(str(frame["code"])).inc()
        if conn.push(frame):
            self.metrics.frames_out.labels(kind).inc()
