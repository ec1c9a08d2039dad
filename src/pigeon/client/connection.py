"""``Connection``: the live, self-healing session of one logged-in client.

It owns a succession of ``Link`` objects (one per socket: a WebSocket in JSON or
Protobuf, or a raw TCP/TLS stream, as ``ConnectionOptions`` choose). When a socket
drops it reconnects with exponential backoff and full jitter — after
4001/4002/4003 it first refreshes the access token once; after 4011 (a newer
socket of the same user took this one's place) it stops, ending with a
``ClosedEvent`` whose error is ``SocketDisplaced``, rather than displace the newer
socket in turn — and after every (re)connect it catches up: ``sync`` from the last cursor, then ``pull after=<delivered>`` for each
changed conversation, so the application sees every stored message.

Guarantees, for the messages yielded by ``events()``:

* Each ``(conv, seq)`` is yielded at most once, and the messages of one
  conversation are yielded in ascending seq order, whichever path (live push,
  catch-up, gap fill) brought them.
* Every message stored with a seq above the starting point is yielded, unless
  it is the application's own send on this connection (reported by the ack
  ``send`` returns). The starting point is the ``resume`` state if given, else
  the conversations' ``last_seq`` when ``connect()`` returned; use
  ``PigeonClient.history`` for what lies before.
* A conversation first seen after the start is yielded from its beginning
  (or from the user's join point in it).

Calls (``send``, ``pull``, ``sync``, ``read``, ``recv``, ``ping``) wait for a
live socket and are repeated on the next one if the socket drops before the
reply. ``send`` repeats with the same ``cid``, which the server deduplicates, so
it returns the original ack and stores the message once. Calls wait as long as
that takes; bound them with ``asyncio.timeout()`` where needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from pigeon.backoff import Backoff, ReconnectPolicy
from pigeon.client.channel import Channel, ChannelUnsupported, TlsOptions, open_channel
from pigeon.client.errors import ConnectionClosedError, PigeonApiError, SocketDisplaced
from pigeon.client.events import (
    Ack,
    ClosedEvent,
    ConnectedEvent,
    DisconnectedEvent,
    Event,
    Message,
    MessagePage,
    OtherEvent,
    Ready,
    SyncPage,
    error_event,
    push_event,
)
from pigeon.client.inbox import TRANSIENT_RETRY, Inbox, SyncState
from pigeon.client.link import FINAL_CLOSE_CODES, TOKEN_CLOSE_CODES, AuthRejected, Link, LinkLost
from pigeon.client.sending import message_body, new_cid
from pigeon.protocol.frames import Frame
from pigeon.protocol.wire import Codec

log = logging.getLogger("pigeon.client")


class Account(Protocol):
    """What a ``Connection`` needs of the ``PigeonClient`` that opened it.

    A protocol rather than the class itself, so the live connection depends on
    four members of the REST client, not on the module that creates connections.
    """

    access_token: str | None
    tls: TlsOptions | None

    @property
    def session(self) -> aiohttp.ClientSession: ...

    async def config(self) -> dict[str, Any]: ...

    async def refresh_if_stale(self, stale_access_token: str | None) -> None: ...


_CONNECT_ERRORS = (LinkLost, aiohttp.ClientError, OSError, TimeoutError, PigeonApiError)


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """Tuning of a ``Connection``; the defaults suit an interactive client."""

    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    request_timeout: float = 30.0
    """How long one call waits for its reply on one socket before sending it again."""
    connect_timeout: float = 30.0
    """How long ``connect()`` may take, reconnects included; also bounds one handshake."""
    pull_limit: int = 100
    transient_retries: int = 8
    """How often a call is repeated after a transient error (rate limited, unavailable)."""
    resume: SyncState | None = None
    url: str | None = None
    """Where to connect: ``ws://``/``wss://`` (a WebSocket), ``tcp://host:port`` or
    ``tls://host:port`` (the raw TCP listener). Default: the server's ``ws_url``."""
    codec: Codec = Codec.JSON
    """The WebSocket codec (offered as its subprotocol); TCP always speaks Protobuf."""
    compress: bool = False
    """Offer permessage-deflate on a WebSocket; used when the server has
    ``ws_compression`` on, ignored otherwise (and on TCP)."""
    tls: TlsOptions | None = None
    """Certificate checks for ``wss://`` and ``tls://``; default: the client's own."""


class EventStream:
    """Async iterator over a connection's events; ends after the ``closed`` event."""

    def __init__(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queue = queue

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # so every later read ends too
            raise StopAsyncIteration
        return event


class Connection:
    """A logged-in client's live session; create it with ``PigeonClient.connect()``.

    Events are buffered until read from ``events()`` (one reader); read them
    promptly. ``close()`` ends the session; calls still waiting then raise
    ``ConnectionClosedError``.
    """

    def __init__(
        self,
        client: Account,
        *,
        device: str | None = None,
        options: ConnectionOptions | None = None,
    ) -> None:
        self.client = client
        self.device = device
        self.options = options or ConnectionOptions()
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._inbox = Inbox(
            self._emit,
            resume=self.options.resume,
            pull_limit=self.options.pull_limit,
            transient_retries=self.options.transient_retries,
        )
        self._rids = itertools.count(1)
        self._link: Link | None = None
        self._ready: Ready | None = None
        self._changed = asyncio.Event()
        self._backoff = Backoff(self.options.reconnect)
        self._token_renewed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._caught_up: asyncio.Future[None] | None = None
        self._closed = False
        self._error: Exception | None = None

    # --- lifecycle

    async def start(self) -> None:
        """Connect and catch up; raises the auth error, or TimeoutError, if that fails."""
        self._caught_up = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._supervise(), name="pigeon-connection")
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await asyncio.shield(self._caught_up)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the socket, stop reconnecting and cancel this connection's tasks."""
        supervisor = self._supervisor
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        if self._link is not None:
            await self._link.close()
        self._finish(None)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def events(self) -> EventStream:
        """The events, in arrival order: ``async for event in conn.events(): …``."""
        return EventStream(self._events)

    # --- state

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.ended

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def ready(self) -> Ready | None:
        """The server's ``ready`` of the current (or last) socket."""
        return self._ready

    @property
    def in_flight(self) -> int:
        """Calls sent on the current socket that still await their reply."""
        return self._link.in_flight if self._link is not None else 0

    def state(self) -> SyncState:
        """The cursor and per-conversation positions, for ``ConnectionOptions.resume``."""
        return self._inbox.state()

    # --- calls

    async def send(
        self,
        conv: str,
        kind: str = "text",
        body: Mapping[str, Any] | str | None = None,
        *,
        reply_to: int | None = None,
        mentions: list[str] | None = None,
        cid: str | None = None,
    ) -> Ack:
        """Send a message; retried with the same ``cid`` until the server acks it.

        Returns the ack (the original one if the message was stored by an earlier
        attempt). Raises ``PigeonApiError`` if the server refuses the message.
        """
        frame: Frame = {
            "t": "send",
            "cid": cid or new_cid(),
            "conv": conv,
            "kind": kind,
            "body": message_body(kind, body),
        }
        if reply_to is not None:
            frame["reply_to"] = reply_to
        if mentions is not None:
            frame["mentions"] = mentions
        return await self._send_frame(frame)

    async def forward(self, conv: str, seq: int, to: str, *, cid: str | None = None) -> Ack:
        """Forward message ``seq`` of ``conv`` into ``to``: the same retries and ack as
        ``send``; the copy reaches others with ``forwarded: {from, ts}``."""
        frame: Frame = {
            "t": "send",
            "cid": cid or new_cid(),
            "conv": to,
            "forward": {"conv": conv, "seq": seq},
        }
        return await self._send_frame(frame)

    async def _send_frame(self, frame: Frame) -> Ack:
        with self._inbox.sending(frame["cid"]):
            ack = Ack.from_frame(await self._reply(frame))
        self._inbox.acked(ack)
        return ack

    async def react(
        self, conv: str, seq: int, emoji: str, *, on: bool | None = None, cid: str | None = None
    ) -> Ack:
        """React to message ``seq`` with ``emoji``: ``on`` True adds, False removes,
        None toggles. Returns the ``react`` entry's ack."""
        body: dict[str, Any] = {"seq": seq, "emoji": emoji}
        if on is not None:
            body["on"] = on
        return await self.send(conv, "react", body, cid=cid)

    async def pin(self, conv: str, seq: int, *, cid: str | None = None) -> Ack:
        """Pin message ``seq`` for the whole conversation."""
        return await self.send(conv, "pin", {"seq": seq}, cid=cid)

    async def unpin(self, conv: str, seq: int, *, cid: str | None = None) -> Ack:
        return await self.send(conv, "unpin", {"seq": seq}, cid=cid)

    async def pull(
        self,
        conv: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> MessagePage:
        """Fetch messages (a plain request: nothing is emitted as events)."""
        frame: Frame = {"t": "pull", "conv": conv}
        for name, value in (("after", after), ("before", before), ("limit", limit)):
            if value is not None:
                frame[name] = value
        return MessagePage.from_frame(await self._reply(frame))

    async def sync(self, cursor: str | None = None) -> SyncPage:
        """One ``sync`` page (a plain request: the connection's own cursor is untouched)."""
        frame: Frame = {"t": "sync"} if cursor is None else {"t": "sync", "cursor": cursor}
        return SyncPage.from_frame(await self._reply(frame))

    async def read(self, conv: str, seq: int) -> None:
        """Move the read watermark; returns once the server applied it."""
        await self._call({"t": "read", "conv": conv, "seq": seq}, barrier=True)

    async def recv(self, conv: str, seq: int) -> None:
        """Move the delivered watermark; returns once the server applied it."""
        await self._call({"t": "recv", "conv": conv, "seq": seq}, barrier=True)

    async def typing(self, conv: str, on: bool = True) -> bool:
        """Say the user is (not) typing. Best effort: False if no socket is up right now."""
        link = self._link
        if link is None or link.ended:
            return False
        try:
            await link.post({"t": "typing", "conv": conv, "on": on, "rid": "typing"})
        except LinkLost:
            return False
        return True

    async def ping(self) -> int:
        """Round trip to the server; returns the server's time (ms)."""
        return int((await self._reply({"t": "ping"})).get("ts", 0))

    async def _reply(self, frame: Frame) -> Frame:
        reply = await self._call(frame, barrier=False)
        assert reply is not None
        return reply

    async def _call(self, frame: Frame, *, barrier: bool) -> Frame | None:
        """Run one call on whichever socket is up, repeating it until it gets an answer.

        Calls wait as long as it takes; bound them with ``asyncio.timeout()``.
        """
        retry_delays = Backoff(TRANSIENT_RETRY)
        while True:
            link = await self._wait_link()
            try:
                if barrier:
                    await link.command(frame)
                    return None
                return await link.request(frame)
            except (LinkLost, TimeoutError) as exc:
                # Every call is idempotent (send by its cid), so repeating it is safe.
                log.debug("repeating %s after %r", frame["t"], exc)
                continue
            except PigeonApiError as exc:
                if not exc.transient or retry_delays.attempt >= self.options.transient_retries:
                    raise
                await asyncio.sleep(retry_delays.next_delay())

    async def _wait_link(self) -> Link:
        while True:
            if self._closed:
                raise ConnectionClosedError(error=self._error)
            link = self._link
            if link is not None and not link.ended:
                return link
            await self._changed.wait()

    def _notify(self) -> None:
        """Wake everyone waiting for a state change."""
        self._changed.set()
        self._changed = asyncio.Event()

    # --- the reconnect loop

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                token = self.client.access_token
                try:
                    link = await self._open_link(token)
                except AuthRejected as exc:
                    self._emit(DisconnectedEvent(exc.code, str(exc.error or ""), 0.0))
                    await self._renew_token(token, exc)
                    continue
                except ChannelUnsupported as exc:
                    self._finish(exc)  # a wrong URL or codec: retrying cannot help
                    return
                except _CONNECT_ERRORS as exc:
                    await self._pause(None, f"{type(exc).__name__}: {exc}")
                    continue
                attempt += 1
                await self._serve(link, attempt)
                if link.close_code in FINAL_CLOSE_CODES:
                    # A newer socket took this one's place: reconnecting would displace it.
                    self._finish(SocketDisplaced(link.close_code, link.close_reason))
                    return
                if link.close_code in TOKEN_CLOSE_CODES:
                    self._emit(DisconnectedEvent(link.close_code, link.close_reason, 0.0))
                    await self._renew_token(token, AuthRejected(link.close_code, None))
                else:
                    await self._pause(link.close_code, link.close_reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: stop and say so rather than leave callers hanging
            log.exception("connection supervisor failed")
            self._finish(exc)

    async def _open_link(self, token: str | None) -> Link:
        if token is None:
            raise AuthRejected(4001, PigeonApiError(40100, "not logged in"))
        options = self.options
        url = options.url or str((await self.client.config())["ws_url"])
        tls = options.tls or self.client.tls

        async def opener() -> Channel:
            return await open_channel(
                self.client.session, url, options.codec, tls, compress=options.compress
            )

        return await Link.open(
            opener,
            token,
            self.device,
            self._rids,
            handshake_s=self.options.connect_timeout,
            reply_within_s=self.options.request_timeout,
        )

    async def _renew_token(self, stale_token: str | None, rejected: AuthRejected) -> None:
        """Refresh once after the server refused the token; stop for good if that fails."""
        if self._token_renewed:
            self._finish(
                rejected.error
                or PigeonApiError(40100, f"authentication rejected (close {rejected.code})")
            )
            return
        try:
            await self.client.refresh_if_stale(stale_token)
        except PigeonApiError as exc:
            self._finish(exc)
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await self._pause(rejected.code, f"token refresh failed: {exc}")
            return
        self._token_renewed = True

    async def _pause(self, code: int | None, reason: str) -> None:
        delay = self._backoff.next_delay()
        log.info("disconnected (%s: %s); reconnecting in %.2fs", code, reason, delay)
        self._emit(DisconnectedEvent(code, reason, delay))
        await asyncio.sleep(delay)

    async def _serve(self, link: Link, attempt: int) -> None:
        self._link, self._ready = link, link.ready
        self._inbox.user = link.ready.user
        self._notify()
        self._emit(ConnectedEvent(link.ready, attempt))
        catch_up = asyncio.create_task(
            self._inbox.catch_up(link, self._caught_up_now), name="pigeon-catch-up"
        )
        try:
            await link.run(self._on_push)
        finally:
            self._link = None
            self._notify()
            catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await catch_up

    # --- incoming

    def _on_push(self, frame: Frame) -> None:
        if frame.get("t") != "msg":
            self._emit(push_event(frame))
            return
        try:
            message = Message.from_frame(frame)
        except (KeyError, TypeError, ValueError):
            self._emit(OtherEvent("msg", frame))
            return
        self._inbox.accept(message, live=True)

    def _caught_up_now(self) -> None:
        self._backoff.reset()
        self._token_renewed = False
        if self._caught_up is not None and not self._caught_up.done():
            self._caught_up.set_result(None)

    # --- outgoing events

    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _finish(self, error: Exception | None) -> None:
        """Stop for good: wake every waiter, end the event stream with ``closed``."""
        if self._closed:
            return
        if error is not None:
            if isinstance(error, PigeonApiError):
                self._emit(error_event({"code": error.code, "message": error.message}))
            self._emit(ClosedEvent(error))
        else:
            self._emit(ClosedEvent(None))
        self._closed = True
        self._error = error
        self._events.put_nowait(None)
        if self._caught_up is not None and not self._caught_up.done():
            self._caught_up.set_exception(error or ConnectionClosedError())
            self._caught_up.exception()  # retrieved here; start() re-raises it if waiting
        self._notify()
