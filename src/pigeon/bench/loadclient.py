"""A lean WebSocket client for load generation (picows: C-level framing, no per-frame task).

One ``LoadConnection`` per socket. Frames are decoded with orjson and handed to a
callback; replies are matched by ``rid``. Nothing here retries or reconnects: a
benchmark wants failures counted, not hidden.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from pigeon.protocol.frames import Frame

OnFrame = Callable[["LoadConnection", Frame, int], None]  # (conn, frame, recv time ns)

_rids = itertools.count(1)
OPEN_TIMEOUT_S = 30.0


class _Listener(WSListener):
    def __init__(self, owner: LoadConnection) -> None:
        super().__init__()
        self.owner = owner

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.owner._receive(orjson.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type is WSMsgType.CLOSE:
            self.owner.close_code = int(frame.get_close_code().value)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.owner._disconnected()


class LoadConnection:
    def __init__(self, on_frame: OnFrame | None = None) -> None:
        self.on_frame = on_frame
        self.transport: WSTransport | None = None
        self.user_id = ""
        self.close_code: int | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._waiting: dict[Any, asyncio.Future[Frame]] = {}

    async def open(self, url: str, token: str) -> Frame:
        """Connect and authenticate; returns the ``ready`` frame."""
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            self.transport, _ = await ws_connect(
                lambda: _Listener(self),
                url,
                read_buffer_init_size=1024,
                websocket_handshake_timeout=OPEN_TIMEOUT_S,
            )
            ready = await self.request({"t": "auth", "token": token})
        if ready.get("t") != "ready":
            raise RuntimeError(f"auth failed: {ready}")
        self.user_id = str(ready["user"])
        return ready

    def send(self, frame: Frame) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, orjson.dumps(frame))

    def request(self, frame: Frame) -> asyncio.Future[Frame]:
        """Send a frame with a fresh ``rid``; the future gets the reply (or error)."""
        rid = next(_rids)
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        self.send({**frame, "rid": rid})
        return future

    def _receive(self, frame: Frame) -> None:
        now = time.time_ns()
        waiter = self._waiting.pop(frame["rid"], None) if "rid" in frame else None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)
            return
        if self.on_frame is not None:
            self.on_frame(self, frame, now)

    def _disconnected(self) -> None:
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed {self.close_code}"))
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close()
            self.transport.disconnect()
