"""``Link``: one authenticated channel — frames out, frames in, replies matched by rid.

A link lives from ``auth``/``ready`` to the channel's end and is never reused:
the ``Connection`` above it opens a new one after every drop. While it runs it
sends a client ``ping`` every ``heartbeat`` seconds (the server closes sockets
silent for two heartbeats) and treats a server silent for two heartbeats as
gone. When it ends, every call still waiting on it fails with ``LinkLost``.
The transport (WebSocket or TCP) and the codec are the ``Channel``'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from pigeon.client.channel import ABNORMAL_CLOSE, Channel, ChannelClosed
from pigeon.client.errors import PigeonApiError
from pigeon.client.events import Ready
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.frames import Frame

log = logging.getLogger("pigeon.client")

# Close codes after which the token must be replaced before reconnecting (protocol.md).
TOKEN_CLOSE_CODES = frozenset(int(code) for code in CloseCode if code.needs_new_token)
# Close codes after which the client must not reconnect by itself (4011: displaced).
FINAL_CLOSE_CODES = frozenset(int(code) for code in CloseCode if code.ends_session)
# The client's own close code for a server that stopped answering.
SILENT_SERVER_CLOSE = 4000

PushHandler = Callable[[Frame], None]
Rid = str | int


class LinkLost(Exception):
    """The socket ended (or could not be set up); the call may be repeated on a new link."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection lost ({code}): {reason}" if reason else f"lost ({code})")
        self.code = code
        self.reason = reason


class AuthRejected(Exception):
    """The server refused the token: closed with 4001/4002/4003."""

    def __init__(self, code: int, error: PigeonApiError | None) -> None:
        super().__init__(f"authentication rejected ({code}): {error}")
        self.code = code
        self.error = error


def _api_error(frame: Frame) -> PigeonApiError:
    retry_after = frame.get("retry_after")
    data = None if retry_after is None else {"retry_after": retry_after}
    return PigeonApiError(int(frame.get("code", 0)), str(frame.get("message", "")), data=data)


def _ready(frame: Frame) -> Ready:
    return Ready(
        user=str(frame["user"]),
        device=str(frame.get("device", "")),
        session=str(frame.get("session", "")),
        heartbeat=float(frame.get("heartbeat", 25)),
        server_time=int(frame.get("server_time", 0)),
        bot=bool(frame.get("bot", False)),
    )


class Link:
    """One live, authenticated socket. Create with ``Link.open``; drive with ``run``."""

    def __init__(
        self,
        channel: Channel,
        ready: Ready,
        rids: Iterator[int],
        reply_within_s: float,
    ) -> None:
        self.ready = ready
        self.reply_within_s = reply_within_s
        self.close_code: int | None = None
        self.close_reason = ""
        self._channel = channel
        self._rids = rids
        self._pending: dict[Rid, asyncio.Future[Frame]] = {}
        self._send_lock = asyncio.Lock()
        self._ended = False
        self._closer: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        opener: Callable[[], Awaitable[Channel]],
        token: str,
        device: str | None,
        rids: Iterator[int],
        *,
        handshake_s: float,
        reply_within_s: float,
    ) -> Link:
        """Open a channel with ``opener``, send ``auth`` and wait for ``ready``.

        Raises ``AuthRejected`` if the server refuses the token, ``LinkLost`` if the
        channel ends first, whatever ``opener`` raises if it cannot be opened at all,
        and ``TimeoutError`` after ``handshake_s``.
        """
        async with asyncio.timeout(handshake_s):
            channel = await opener()
            try:
                auth: Frame = {"t": "auth", "token": token, "rid": next(rids)}
                if device is not None:
                    auth["device"] = device
                await channel.send(auth)
                return cls(channel, await cls._await_ready(channel), rids, reply_within_s)
            except ChannelClosed as exc:
                raise LinkLost(exc.code, exc.reason) from exc
            except BaseException:
                await channel.close()
                raise

    @staticmethod
    async def _await_ready(channel: Channel) -> Ready:
        error: PigeonApiError | None = None
        while True:
            try:
                frame = await channel.receive()
            except ChannelClosed as exc:
                if exc.code in TOKEN_CLOSE_CODES:
                    raise AuthRejected(exc.code, error) from None
                raise LinkLost(
                    exc.code, str(error or exc.reason or "closed before ready")
                ) from None
            if frame.get("t") == "ready":
                return _ready(frame)
            if frame.get("t") == "error":
                error = _api_error(frame)  # the reason for the close that follows

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def run(self, on_push: PushHandler) -> None:
        """Read frames until the channel ends; pushes go to ``on_push``, replies to callers."""
        heartbeat = asyncio.create_task(self._heartbeat(), name="pigeon-heartbeat")
        silence_limit = max(2 * self.ready.heartbeat, 5.0)
        try:
            while True:
                async with asyncio.timeout(silence_limit):
                    frame = await self._channel.receive()
                self._dispatch(frame, on_push)
        except TimeoutError:
            self.close_code, self.close_reason = SILENT_SERVER_CLOSE, "server stopped answering"
        except ChannelClosed as exc:
            self.close_code, self.close_reason = exc.code, exc.reason
        finally:
            heartbeat.cancel()
            self._end()
            await self._channel.close()

    def _dispatch(self, frame: Frame, on_push: PushHandler) -> None:
        rid = frame.get("rid")
        waiter = self._pending.pop(rid, None) if isinstance(rid, str | int) else None
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(frame)
            return
        if rid is not None and frame.get("t") in ("ack", "messages", "sync", "pong"):
            return  # a late reply to a call that already gave up on this link
        try:
            on_push(frame)
        except Exception:
            log.exception("push handler failed", extra={"frame_type": frame.get("t")})

    async def _heartbeat(self) -> None:
        with contextlib.suppress(LinkLost):
            while True:
                await asyncio.sleep(self.ready.heartbeat)
                await self._send({"t": "ping", "rid": next(self._rids)})

    def _end(self) -> None:
        self._ended = True
        lost = LinkLost(self.close_code, self.close_reason)
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(lost)
                waiter.exception()  # retrieved: a caller that gave up must not log it
        self._pending.clear()

    async def _send(self, frame: Frame) -> None:
        if self._ended:
            raise LinkLost(self.close_code, self.close_reason)
        try:
            async with self._send_lock:
                await self._channel.send(frame)
        except ChannelClosed as exc:
            self._break(exc.reason)
            raise LinkLost(ABNORMAL_CLOSE, exc.reason) from exc

    def _break(self, reason: str) -> None:
        """The socket can no longer be written: end the link now, and the reader with it.

        Ending at once matters: a write to a closing transport fails without
        suspending, so a caller that retried on a link still marked live would
        spin without ever letting the reader see the close.
        """
        if self.close_code is None:
            self.close_code, self.close_reason = ABNORMAL_CLOSE, reason
        self._end()
        if self._closer is None:
            self._closer = asyncio.create_task(self.close(), name="pigeon-link-close")

    def _expect(self) -> tuple[Rid, asyncio.Future[Frame]]:
        if self._ended:
            raise LinkLost(self.close_code, self.close_reason)
        rid = next(self._rids)
        waiter: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[rid] = waiter
        return rid, waiter

    async def request(self, frame: Frame) -> Frame:
        """Send a frame that has a reply and return the reply.

        Raises ``PigeonApiError`` for an ``error`` reply, ``LinkLost`` if the socket
        ends first, ``TimeoutError`` after ``reply_within_s`` seconds.
        """
        rid, waiter = self._expect()
        try:
            await self._send({**frame, "rid": rid})
            async with asyncio.timeout(self.reply_within_s):
                reply = await waiter
        finally:
            self._pending.pop(rid, None)
        if reply.get("t") == "error":
            raise _api_error(reply)
        return reply

    async def command(self, frame: Frame) -> None:
        """Send a frame that has no reply, then a ``ping`` as a barrier.

        The server handles a connection's frames in order, so once the pong is
        back the command was applied — or its ``error`` came first and is raised.
        """
        rid, outcome = self._expect()
        try:
            await self._send({**frame, "rid": rid})
            await self.request({"t": "ping"})
        finally:
            self._pending.pop(rid, None)
        if outcome.done() and not outcome.cancelled() and outcome.exception() is None:
            error = outcome.result()
            if error.get("t") == "error":
                raise _api_error(error)

    async def post(self, frame: Frame) -> None:
        """Send a frame without waiting for anything (an error would arrive as a push)."""
        await self._send(frame)

    async def close(self, code: int = 1000) -> None:
        await self._channel.close(code)
