"""The WebSocket transport (aiohttp): first-frame auth, then a read loop feeding the session."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from aiohttp import WSMsgType, web

from pigeon.core.accounts import AccountService, Principal
from pigeon.core.errors import CoreError
from pigeon.core.ids import now_ms
from pigeon.core.messaging import MessagingService
from pigeon.core.presence import PresenceService
from pigeon.core.receipts import ReceiptService
from pigeon.gateway.connection import Connection, pong_frame
from pigeon.gateway.hub import Hub
from pigeon.gateway.session import PolicyViolation, Session, SessionLimits
from pigeon.listener import Listener
from pigeon.metrics import Metrics
from pigeon.protocol import frames
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError, decode_command, encode_frame
from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode

log = logging.getLogger(__name__)

_TOKEN_CLOSE_CODES = {
    ErrorCode.TOKEN_EXPIRED: CloseCode.REVOKED,
    ErrorCode.TOKEN_REVOKED: CloseCode.REVOKED,
    ErrorCode.ACCOUNT_DISABLED: CloseCode.REVOKED,
}


class Gateway:
    def __init__(
        self,
        *,
        node_id: str,
        accounts: AccountService,
        messaging: MessagingService,
        receipts: ReceiptService,
        presence: PresenceService,
        hub: Hub,
        metrics: Metrics,
        limits: SessionLimits,
        max_frame_bytes: int,
        send_queue_bytes: int,
        auth_timeout_s: float,
        heartbeat_s: int,
        listener: Listener | None = None,
    ) -> None:
        self.node_id = node_id
        self.accounts = accounts
        self.messaging = messaging
        self.receipts = receipts
        self.presence = presence
        self.hub = hub
        self.metrics = metrics
        self.limits = limits
        self.max_frame_bytes = max_frame_bytes
        self.send_queue_bytes = send_queue_bytes
        self.auth_timeout_s = auth_timeout_s
        self.heartbeat_s = heartbeat_s
        self.listener = listener
        self.accepting = True
        self.in_flight = 0  # commands being handled right now, across connections
        self._ids = itertools.count(1)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            raise web.HTTPServiceUnavailable(text="server is restarting")
        # aiohttp refuses a message whose size is >= max_msg_size; the documented limit is
        # inclusive. Pings are answered by _serve, so they spend the frame budget.
        ws = web.WebSocketResponse(
            max_msg_size=self.max_frame_bytes + 1, compress=False, autoping=False
        )
        await ws.prepare(request)
        guard = self.listener.socket_of(request) if self.listener is not None else None
        if guard is not None and not guard.frames_checked:
            # The listener did not see this upgrade's head (it came pipelined behind
            # other requests), so it cannot vouch for frame masking: refuse it.
            await ws.close(code=CloseCode.PROTOCOL_ERROR, message=b"upgrade must open a request")
            return ws
        connection_id = f"{self.node_id}.{next(self._ids)}"
        authenticated = await self._authenticate(ws, connection_id)
        if authenticated is None:
            return ws
        if guard is not None:
            guard.mark_authenticated()
        principal, device, rid = authenticated
        stream = request.transport
        if stream is None:  # the peer left during the handshake
            return ws
        conn = Connection(
            connection_id,
            ws,
            stream,
            user_id=principal.user_id,
            login_id=principal.login_id,
            device=device,
            max_buffer_bytes=self.send_queue_bytes,
        )
        self.hub.add(conn)
        log.info("connected", extra={"conn": connection_id, "user": principal.user_id})
        try:
            await self.presence.connected(principal.user_id, principal.login_id, connection_id)
            ready = frames.ready_frame(
                principal.user_id, device, principal.login_id, self.heartbeat_s, now_ms(), rid
            )
            conn.push(encode_frame(ready))
            await self._serve(
                ws,
                conn,
                Session(
                    principal,
                    connection_id,
                    self.messaging,
                    self.receipts,
                    self.metrics,
                    self.limits,
                ),
            )
        finally:
            self.hub.remove(conn)
            conn.closed = True
            await self.presence.disconnected(principal.user_id, principal.login_id, connection_id)
            # ws.close_code is the peer's code when it answered ours; log what we sent.
            sent = next(
                (c for c in (conn.close_code, guard and guard.close_code) if c is not None),
                ws.close_code,
            )
            log.info("disconnected", extra={"conn": connection_id, "close_code": sent})
        return ws

    async def quiesce(self, timeout_s: float) -> None:
        """Wait (bounded) until no command is mid-flight, so their replies are queued."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - a counter, not an event
            await asyncio.sleep(0.01)

    async def _authenticate(
        self, ws: web.WebSocketResponse, connection_id: str
    ) -> tuple[Principal, str, frames.Rid] | None:
        """Wait for a valid ``auth`` frame; close the socket and return None otherwise."""
        deadline = time.monotonic() + self.auth_timeout_s
        while True:
            try:
                msg = await asyncio.wait_for(ws.receive(), deadline - time.monotonic())
            except TimeoutError:
                await ws.close(code=CloseCode.AUTH_TIMEOUT, message=b"auth timeout")
                return None
            if msg.type is not WSMsgType.TEXT:
                if msg.type is WSMsgType.PING:  # bounded by the auth timeout
                    await ws.pong(msg.data)
                    continue
                if msg.type is WSMsgType.PONG:
                    continue
                if msg.type is WSMsgType.BINARY:
                    await self._send_error(ws, ErrorCode.MALFORMED_FRAME, None)
                    continue
                return None  # closed or errored before authenticating
            try:
                command = decode_command(msg.data)
            except ProtocolError as exc:
                await self._send_error(ws, exc.code, exc.rid, exc.message)
                continue
            if not isinstance(command, frames.Auth):
                await self._send_error(
                    ws, ErrorCode.NOT_AUTHENTICATED, command.rid, "first frame must be 'auth'"
                )
                continue
            try:
                principal = await self.accounts.authenticate(command.token)
            except CoreError as exc:
                await self._send_error(ws, exc.code, command.rid, exc.message)
                code = _TOKEN_CLOSE_CODES.get(exc.code, CloseCode.BAD_TOKEN)
                await ws.close(code=code, message=exc.message.encode())
                return None
            self.metrics.frames_in.labels("auth").inc()
            # The device is the login's name; an auth frame's `device` is ignored (protocol.md).
            return principal, principal.device, command.rid

    async def _send_error(
        self,
        ws: web.WebSocketResponse,
        code: ErrorCode,
        rid: frames.Rid,
        message: str | None = None,
    ) -> None:
        self.metrics.errors.labels(str(int(code))).inc()
        frame = frames.error_frame(int(code), message or DEFAULT_MESSAGES[code], rid)
        await ws.send_str(encode_frame(frame))

    async def _serve(self, ws: web.WebSocketResponse, conn: Connection, session: Session) -> None:
        async for msg in ws:
            conn.last_seen = time.monotonic()
            if msg.type is WSMsgType.TEXT:
                try:
                    command = decode_command(msg.data)
                except ProtocolError as exc:
                    self.metrics.errors.labels(str(int(exc.code))).inc()
                    conn.push(
                        encode_frame(
                            frames.error_frame(int(exc.code), exc.message, exc.rid, exc.cid)
                        )
                    )
                    continue
                self.metrics.frames_in.labels(type(command).__name__.lower()).inc()
                self.in_flight += 1
                try:
                    reply = await session.handle(command)
                except PolicyViolation:
                    conn.close(CloseCode.POLICY, "rate limit exceeded repeatedly")
                    break
                finally:
                    self.in_flight -= 1
                if reply is not None:
                    conn.push(encode_frame(reply))
                    self.metrics.frames_out.labels(reply["t"]).inc()
            elif msg.type is WSMsgType.PING:
                try:
                    if session.admit_control_frame():
                        conn.push_frame(pong_frame(msg.data))
                except PolicyViolation:
                    conn.close(CloseCode.POLICY, "rate limit exceeded repeatedly")
                    break
            elif msg.type is WSMsgType.BINARY:
                conn.push(
                    encode_frame(
                        frames.error_frame(
                            int(ErrorCode.MALFORMED_FRAME), "binary frames are not supported", None
                        )
                    )
                )
            if conn.closed:
                break
        # Returning first would let aiohttp close with 1000 before our code goes out.
        await conn.wait_closed()
