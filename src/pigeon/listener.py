"""The TCP listener's own defences, below HTTP: connection caps and the header timeout.

aiohttp bounds neither how long a request head may take to arrive (its only timer
is the idle keep-alive one, which a client trickling a header never meets) nor how
many sockets one address holds. So every accepted socket is wrapped in a
``GuardedProtocol`` that sits between the event loop and aiohttp's own protocol:

* a request head (request line and headers) must be complete within
  ``header_timeout_s`` of the connection opening, or of the first byte of a later
  request on a kept-alive connection; otherwise 408 and close;
* one address holds at most ``max_per_ip`` sockets, of which at most
  ``max_pending_per_ip`` are not yet useful: a request in progress or a WebSocket
  before ``auth``. The address is the TCP peer: a trusted proxy is exempt (it
  speaks for many clients, and its own limits apply);
* all sockets together stay under ``max_connections`` (derived from the fd limit),
  so accept never meets EMFILE; at the cap the oldest socket still sending its
  head is dropped for the newcomer, so a slowloris flood cannot lock out
  ``/healthz`` or real clients, whose heads arrive at once;
* WebSocket frames from a client must be masked (RFC 6455 §5.1): the frame
  headers after an upgrade are scanned, and an unmasked one closes with 1002
  before aiohttp sees it.

With ``tls_cert``/``tls_key`` the sockets speak TLS (``server_tls_context``); the
checks above then see the decrypted stream, and the TLS handshake itself must end
within ``header_timeout_s``. The raw TCP listener (``gateway/tcp.py``) counts its
sockets in the same ``Listener``, so the per-address and total caps cover both
ports together.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import resource
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum, auto
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
from aiohttp import StreamReader, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from pigeon.config import IPNetwork
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode

log = logging.getLogger(__name__)

_HEAD_END = b"\r\n\r\n"
#: The longest request line read (method, target and version): aiohttp's own limit on
#: the target alone, so a longer line is answered here, as 414, before aiohttp sees it.
MAX_REQUEST_LINE = 8190
_LOG_EVERY_S = 10.0
_MAX_HEAD_KEPT = 16 * 1024  # an upgrade request is far smaller; others need only the end
_UPGRADE = re.compile(rb"^upgrade:[ \t]*websocket\b", re.IGNORECASE | re.MULTILINE)


def derived_max_connections(reserve: int) -> int:
    """Sockets this process may hold: its soft fd limit minus ``reserve`` for the
    database, Redis, files and logs (at least 16)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - reserve)


class ListenFailed(OSError):
    """A listener could not bind: ``setting`` names the port setting that chose it."""

    def __init__(self, setting: str, where: str, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.setting = setting
        self.where = where


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) from PEM files.

    Raises ``ValueError`` naming the settings when they cannot be loaded, so the
    server refuses to start rather than serve in clear text.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            "cannot load the TLS certificate --tls-cert / PIGEON_TLS_CERT and key "
            f"--tls-key / PIGEON_TLS_KEY: {exc}"
        ) from exc
    return context


def _canned(code: ErrorCode, message: str | None = None) -> bytes:
    """A whole HTTP response in the REST envelope, for sockets refused below HTTP."""
    body = orjson.dumps(
        {"code": int(code), "message": message or DEFAULT_MESSAGES[code], "data": None}
    )
    status = HTTPStatus(code.http_status)
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class Refusal(Enum):
    """Why a socket was turned away; each transport says it in its own way."""

    TOO_MANY_FROM_IP = ErrorCode.TOO_MANY_CONNECTIONS
    SERVER_FULL = ErrorCode.UNAVAILABLE

    @property
    def code(self) -> ErrorCode:
        return ErrorCode(self.value)

    @property
    def message(self) -> str:
        if self is Refusal.SERVER_FULL:
            return "too many connections; retry shortly"
        return DEFAULT_MESSAGES[self.code]


_HTTP_REFUSALS = {refusal: _canned(refusal.code, refusal.message) for refusal in Refusal}
_TOO_MANY_FROM_IP = _HTTP_REFUSALS[Refusal.TOO_MANY_FROM_IP]
_SERVER_FULL = _HTTP_REFUSALS[Refusal.SERVER_FULL]
_HEAD_TIMEOUT = _canned(ErrorCode.HEAD_TIMEOUT)
_URI_TOO_LONG = _canned(
    ErrorCode.URI_TOO_LONG, f"the request line is longer than {MAX_REQUEST_LINE} bytes"
)
# aiohttp says "Too many headers received" (both parsers) past its max_headers.
_TOO_MANY_HEADERS = "Too many headers"


class EnvelopedRequestHandler(RequestHandler):
    """aiohttp's protocol for one connection, whose own error replies are the envelope.

    aiohttp answers what it cannot parse (a header line over its limit, too many
    headers, a malformed request line), a handler's uncaught exception and a
    handler's timeout in ``handle_error`` with plain text; here they get a code
    from the table like every other error. It adds no state (empty ``__slots__``),
    so ``enveloped`` can turn the handler aiohttp's ``Server`` built into one.
    """

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own logging, and its refusal once a response has begun.
        super().handle_error(request, status, exc, message)
        code, text = _handler_error(status, exc, message)
        body = orjson.dumps({"code": int(code), "message": text, "data": None})
        response = web.Response(status=code.http_status, body=body, content_type="application/json")
        response.force_close()
        return response


def _handler_error(
    status: int, exc: BaseException | None, message: str | None
) -> tuple[ErrorCode, str]:
    if isinstance(exc, LineTooLong) or (
        isinstance(exc, BadHttpMessage) and exc.message.startswith(_TOO_MANY_HEADERS)
    ):
        # The request line never gets here (``GuardedProtocol`` answers it as 414).
        return ErrorCode.HEADERS_TOO_LARGE, DEFAULT_MESSAGES[ErrorCode.HEADERS_TOO_LARGE]
    if isinstance(exc, BadHttpMessage):
        reason = (message or exc.message).splitlines()[0][:200]
        return ErrorCode.BAD_REQUEST, f"malformed HTTP request: {reason}"
    if status == HTTPStatus.GATEWAY_TIMEOUT:
        return ErrorCode.HANDLER_TIMEOUT, DEFAULT_MESSAGES[ErrorCode.HANDLER_TIMEOUT]
    return ErrorCode.INTERNAL, DEFAULT_MESSAGES[ErrorCode.INTERNAL]  # never a traceback


def enveloped(handler: RequestHandler) -> EnvelopedRequestHandler:
    """``handler`` with enveloped error replies (aiohttp's ``Server`` offers no factory)."""
    handler.__class__ = EnvelopedRequestHandler
    return cast(EnvelopedRequestHandler, handler)


def _close_frame(code: CloseCode, reason: bytes) -> bytes:
    payload = int(code).to_bytes(2, "big") + reason
    return bytes((0x88, len(payload))) + payload


class FrameScanner:
    """Follows client WebSocket frame headers across reads, skipping payloads."""

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._head = b""
        self._skip = 0

    def feed(self, data: bytes) -> int | None:
        """Offset in ``data`` where an unmasked frame starts (0 if it began in an
        earlier read), or None while every frame is masked."""
        pos, size = 0, len(data)
        while pos < size:
            if self._skip:
                taken = min(self._skip, size - pos)
                self._skip -= taken
                pos += taken
                continue
            if not self._head and size - pos >= 14:  # a whole header at hand: no copies
                second = data[pos + 1]
                if not second & 0x80:
                    return pos
                length = second & 0x7F
                if length == 126:
                    length, pos = int.from_bytes(data[pos + 2 : pos + 4]), pos + 8
                elif length == 127:
                    length, pos = int.from_bytes(data[pos + 2 : pos + 10]), pos + 14
                else:
                    pos += 6
                self._skip = length
                continue
            start = pos - len(self._head)
            if len(self._head) < 2:
                taken = min(2 - len(self._head), size - pos)
                self._head += data[pos : pos + taken]
                pos += taken
                if len(self._head) < 2:
                    return None
            length = self._head[1] & 0x7F
            if not self._head[1] & 0x80:
                return max(start, 0)
            extended = 2 if length == 126 else 8 if length == 127 else 0
            need = 2 + extended + 4
            taken = min(need - len(self._head), size - pos)
            self._head += data[pos : pos + taken]
            pos += taken
            if len(self._head) < need:
                return None
            if extended:
                length = int.from_bytes(self._head[2 : 2 + extended], "big")
            self._skip = length
            self._head = b""
        return None


class Phase(Enum):
    HEAD = auto()  # a request head is arriving; the header timer runs
    BUSY = auto()  # a request is being handled
    IDLE = auto()  # kept alive between requests
    FRAMES = auto()  # upgraded to a WebSocket


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    header_timeout_s: float
    max_connections: int
    max_per_ip: int
    max_pending_per_ip: int
    trusted: tuple[IPNetwork, ...] = ()


class CountedSocket(Protocol):
    """What the listener needs of a socket to count it, whatever protocol it speaks.

    ``ip`` is the peer's address; ``capped`` and ``pending`` belong to the listener,
    which sets them; ``evict`` closes the socket to make room at the global cap.
    """

    ip: str
    capped: bool
    pending: bool

    def evict(self) -> None: ...


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one socket, behind the checks above."""

    def __init__(self, listener: Listener, inner: Any) -> None:
        self.listener = listener
        self.inner = inner  # aiohttp's RequestHandler
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.capped = True  # counts against the per-address caps
        self.phase = Phase.HEAD
        self.pending = False
        self.authenticated = False
        self.frames_checked = False
        self.close_code: int | None = None  # a close frame this layer sent
        self._head = bytearray()
        self._head_overflow = False
        self._line_read = False  # the current head's request line has ended
        # A finished request's unread body: its bytes still to come (None: chunked).
        self._body_stream: StreamReader | None = None
        self._body_left: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._scanner: FrameScanner | None = None
        self._blocked = False

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unix"
        refusal = self.listener.admit(self)
        if refusal is not None:
            self.transport = None
            transport.write(_HTTP_REFUSALS[refusal])
            transport.close()
            return
        self.listener.track_handler(self)
        self._arm()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self._blocked:
            return
        if self._body_stream is not None:
            data = self._pass_body(data)
            if not data:
                return
        if self.phase is Phase.IDLE:
            if not self.listener.enter_pending(self):
                self._refuse(_TOO_MANY_FROM_IP)
                return
            self.phase = Phase.HEAD
            self._arm()
        if self.phase is Phase.HEAD:
            data = self._read_head(data)
        elif self.phase is Phase.FRAMES:
            data = self._check_frames(data)
        if data:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self.transport is None:
            return None
        result: bool | None = self.inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.transport is None:
            return
        self.transport = None
        self.listener.release(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # --- request heads

    def _read_head(self, data: bytes) -> bytes:
        """Pass ``data`` on; when it completes the head, stop the timer and note
        whether the frames that follow are a WebSocket's."""
        prior = len(self._head)
        self._head += data
        if not self._line_read and not self._request_line_fits(prior):
            self._refuse(_URI_TOO_LONG)
            return b""
        end = self._head.find(_HEAD_END, max(0, prior - 3))
        if end < 0:
            if len(self._head) > _MAX_HEAD_KEPT:  # aiohttp refuses it; just find its end
                self._head_overflow = True
                del self._head[:-3]
            return data
        self.head_complete()
        upgrade = not self._head_overflow and _UPGRADE.search(self._head, 0, end)
        consumed = end + len(_HEAD_END) - prior  # where the head ends inside ``data``
        self._head.clear()
        self._head_overflow = False
        self._line_read = False
        if not upgrade:
            return data
        self.phase = Phase.FRAMES
        self.frames_checked = True
        self._scanner = FrameScanner()
        return data[:consumed] + self._check_frames(data[consumed:])

    def _request_line_fits(self, prior: int) -> bool:
        """False once the request line is known to exceed ``MAX_REQUEST_LINE``.

        The first ``prior`` bytes held no line end (else the line was read), so a
        head trickled a byte at a time is still scanned once.
        """
        end = self._head.find(b"\n", prior)
        if end < 0:
            return len(self._head) <= MAX_REQUEST_LINE + 1  # room for its CR
        self._line_read = True
        return len(self._head[:end].rstrip(b"\r")) <= MAX_REQUEST_LINE

    def head_complete(self) -> None:
        self._disarm()
        self.listener.head_done(self)
        if self.phase is Phase.HEAD:
            self.phase = Phase.BUSY

    def _check_frames(self, data: bytes) -> bytes:
        assert self._scanner is not None
        bad = self._scanner.feed(data)
        if bad is None:
            return data
        # Nothing from the unmasked frame on reaches aiohttp.
        self._blocked = True
        self.close_code = CloseCode.PROTOCOL_ERROR
        transport = self.transport
        if transport is not None:
            transport.write(_close_frame(CloseCode.PROTOCOL_ERROR, b"frames must be masked"))
            transport.close()
        return data[:bad]

    def request_done(self, request: web.BaseRequest | None = None) -> None:
        """The handler returned: a kept-alive connection waits for its next head —
        after what is left of this request's body. A handler may answer before
        reading the body (a 413); aiohttp then reads and drops the rest ("lingering
        close"), and those bytes are not a request head."""
        if self.phase is not Phase.BUSY:
            return
        body = request.content if request is not None else None
        if body is not None and not body.is_eof():
            length = request.content_length if request is not None else None
            # Chunked bodies have no length: then wait for aiohttp to see their end.
            self._body_left = None if length is None else max(0, length - body.total_bytes)
            self._body_stream = body
            if self._body_left != 0:
                return
        self._body_left = self._body_stream = None
        self.phase = Phase.IDLE
        self.listener.leave_pending(self)

    def _pass_body(self, data: bytes) -> bytes:
        """Hand the rest of a finished request's body to aiohttp unscanned; returns
        what follows it in ``data`` (the next request), once the body is complete."""
        left = self._body_left
        part, rest = (data, b"") if left is None else (data[:left], data[left:])
        self.inner.data_received(part)
        if left is not None:
            self._body_left = left - len(part)
        assert self._body_stream is not None
        if self._body_left == 0 or self._body_stream.is_eof():
            self._body_left = 0
            self.request_done()
            return rest
        return b""

    def mark_authenticated(self) -> None:
        if not self.authenticated:
            self.authenticated = True
            self.listener.leave_pending(self)

    # --- header timer

    def _arm(self) -> None:
        self._disarm()
        self.listener.heading(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.listener.limits.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.phase is Phase.HEAD:
            self._refuse(_HEAD_TIMEOUT)

    def _refuse(self, reply: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self._blocked = True
            transport.write(reply)
            transport.close()

    def evict(self) -> None:
        """Make room at the global cap (an incomplete head, the oldest one)."""
        self._refuse(_SERVER_FULL)


class Listener:
    """Counts sockets per address and in total; hands aiohttp guarded protocols."""

    def __init__(self, limits: ListenerLimits) -> None:
        self.limits = limits
        self.total = 0
        self._open: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._by_handler: dict[object, GuardedProtocol] = {}
        self._heads: dict[CountedSocket, None] = {}  # insertion order: oldest first
        self._installed = False
        self._evicted = 0
        self._last_logged = -_LOG_EVERY_S

    def _trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.limits.trusted)

    # --- counting

    def admit(self, guard: CountedSocket) -> Refusal | None:
        """None to accept the socket (counted from now on, and pending), else why not.

        Every admitted socket must be ``release``d exactly once when it ends.
        """
        guard.capped = not self._trusted(guard.ip)
        if guard.capped and (
            self._open.get(guard.ip, 0) >= self.limits.max_per_ip
            or self._pending.get(guard.ip, 0) >= self.limits.max_pending_per_ip
        ):
            return Refusal.TOO_MANY_FROM_IP
        if self.total >= self.limits.max_connections:
            oldest = next(iter(self._heads), None)
            if oldest is None:
                return Refusal.SERVER_FULL
            self._heads.pop(oldest)
            oldest.evict()
            self._note_eviction()
        self.total += 1
        self._open[guard.ip] = self._open.get(guard.ip, 0) + 1
        self.enter_pending(guard)
        return None

    def track_handler(self, guard: GuardedProtocol) -> None:
        """Remember which aiohttp handler an admitted HTTP socket has (``socket_of``)."""
        self._by_handler[guard.inner] = guard

    def _note_eviction(self) -> None:
        """Log evictions at most every few seconds: a flood must not flood the log."""
        self._evicted += 1
        now = time.monotonic()
        if now - self._last_logged >= _LOG_EVERY_S:
            log.warning("connection cap reached", extra={"dropped_heads": self._evicted})
            self._evicted = 0
            self._last_logged = now

    def enter_pending(self, guard: CountedSocket) -> bool:
        if guard.pending:
            return True
        if guard.capped and self._pending.get(guard.ip, 0) >= self.limits.max_pending_per_ip:
            return False
        guard.pending = True
        self._pending[guard.ip] = self._pending.get(guard.ip, 0) + 1
        return True

    def leave_pending(self, guard: CountedSocket) -> None:
        if not guard.pending:
            return
        guard.pending = False
        _decrement(self._pending, guard.ip)

    def release(self, guard: CountedSocket) -> None:
        self.head_done(guard)
        self.leave_pending(guard)
        if isinstance(guard, GuardedProtocol):
            self._by_handler.pop(guard.inner, None)
        self.total -= 1
        _decrement(self._open, guard.ip)

    # --- hooks for aiohttp and the gateway

    def socket_of(self, request: web.BaseRequest) -> GuardedProtocol | None:
        return self._by_handler.get(request.protocol)

    def heading(self, guard: CountedSocket) -> None:
        """``guard`` is not yet useful (a head arriving, a TCP socket before auth): at
        the global cap the oldest such socket makes room for a newcomer."""
        self._heads[guard] = None

    def head_done(self, guard: CountedSocket) -> None:
        self._heads.pop(guard, None)

    def wrap_handler(
        self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.BaseRequest) -> web.StreamResponse:
            guard = self._by_handler.get(request.protocol)
            if guard is not None:  # aiohttp parsed a head: it is complete whatever we saw
                guard.head_complete()
            try:
                return await handler(request)
            finally:
                if guard is not None:
                    guard.request_done(request)

        return guarded

    def install(self, server: web.Server) -> None:
        """Hook aiohttp's server once: its handler reports each request's end."""
        if not self._installed:
            # Read by each aiohttp protocol when it is created, so this covers them all.
            server.request_handler = self.wrap_handler(server.request_handler)
            self._installed = True


class GuardedSite(web.BaseSite):
    """A TCP site like aiohttp's ``TCPSite`` whose sockets all pass the listener."""

    __slots__ = ("_host", "_listener", "_port", "_reuse_port")

    def __init__(
        self,
        runner: web.AppRunner,
        listener: Listener,
        host: str,
        port: int,
        *,
        backlog: int,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, backlog=backlog, ssl_context=ssl_context)
        self._listener = listener
        self._host = host
        self._port = port
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() first"
        self._listener.install(server)
        listener = self._listener
        self._server = await asyncio.get_running_loop().create_server(
            lambda: GuardedProtocol(listener, enveloped(server())),
            self._host,
            self._port,
            backlog=self._backlog,
            ssl=self._ssl_context,
            reuse_port=self._reuse_port or None,
            # A TLS handshake is part of the head: it gets the same time to arrive.
            ssl_handshake_timeout=listener.limits.header_timeout_s
            if self._ssl_context is not None
            else None,
        )


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
