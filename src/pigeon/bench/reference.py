"""Bare WebSocket servers with no application logic: what the stack alone costs.

``pigeon bench --reference`` runs one of these per stack, pinned like the server under
test, and drives it with the same load clients, so Pigeon's CPU per operation can be
read as a multiple of the stack's own. Each speaks just enough of the JSON protocol for
the load clients to run unchanged:

- ``auth`` → a canned ``ready`` of Pigeon's shape; the token *is* the user id (no
  database, no signature);
- ``send`` → an ``ack`` of Pigeon's shape to the sender, and one ``msg`` frame (encoded
  once, as Pigeon does) written to the user named by ``conv`` — the bare echo of a
  direct message — or, when ``conv`` names nobody, to every other authenticated
  connection — a fan-out to one group of everyone online. Nothing is stored.

    python -m pigeon.bench.reference --stack aiohttp|picows --port 0

prints one JSON ``listening`` line with the port, as ``pigeon serve`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any

import orjson

from pigeon.protocol.wire import Codec

# Ids of the length Pigeon's have (a letter and 26 characters), so frames weigh the same.
_DEVICE = "d" + "0" * 26
_SESSION = "s" + "0" * 26


class Stack(StrEnum):
    AIOHTTP = "aiohttp"  # the stack Pigeon serves its WebSockets with
    PICOWS = "picows"  # C-level framing, no per-frame task: the floor for Python


class Peer:
    """One authenticated connection; ``write`` sends a text frame the stack's way."""

    def __init__(self, user: str, write: Callable[[bytes], Any]) -> None:
        self.user = user
        self.write = write


class Relay:
    """Who is connected, and the canned answer to each frame (shared by both stacks)."""

    def __init__(self) -> None:
        self.by_user: dict[str, list[Peer]] = {}
        self.seq = itertools.count(1)

    def join(self, peer: Peer) -> None:
        self.by_user.setdefault(peer.user, []).append(peer)

    def leave(self, peer: Peer) -> None:
        peers = self.by_user.get(peer.user, [])
        if peer in peers:
            peers.remove(peer)
        if not peers:
            self.by_user.pop(peer.user, None)

    @staticmethod
    def ready(frame: dict[str, Any]) -> tuple[str, bytes]:
        """The user (the token itself) and the ``ready`` reply."""
        user = str(frame.get("token", ""))
        reply = {
            "t": "ready",
            "user": user,
            "device": _DEVICE,
            "session": _SESSION,
            "heartbeat": 600,
            "server_time": time.time_ns() // 1_000_000,
            "bot": False,
            "rid": frame.get("rid"),
        }
        return user, orjson.dumps(reply)

    def send(self, sender: Peer, frame: dict[str, Any]) -> tuple[bytes, bytes, Iterable[Peer]]:
        """The ``ack``, the ``msg`` frame and the connections it goes to."""
        seq = next(self.seq)
        conv = str(frame.get("conv", ""))
        stamp = {"conv": conv, "seq": seq, "id": f"m{seq:026d}", "ts": time.time_ns() // 1_000_000}
        cid = frame.get("cid", "")
        ack: dict[str, Any] = {"t": "ack", **stamp, "cid": cid}
        if "rid" in frame:
            ack["rid"] = frame["rid"]
        message = {
            "t": "msg",
            **stamp,
            "from": sender.user,
            "kind": frame.get("kind", "text"),
            "body": frame.get("body", {}),
            "cid": cid,
        }
        receivers = self.by_user.get(conv)
        if receivers is None:  # a group of everyone online, the sender's socket excepted
            receivers = [p for peers in self.by_user.values() for p in peers if p is not sender]
        return orjson.dumps(ack), orjson.dumps(message), receivers


# --- aiohttp -----------------------------------------------------------------------


async def serve_aiohttp(relay: Relay, port: int) -> int:
    from aiohttp import WSMsgType, web

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=(Codec.JSON.subprotocol,), autoping=False)
        await ws.prepare(request)
        peer: Peer | None = None

        def write(payload: bytes) -> Awaitable[None]:
            return ws.send_frame(payload, WSMsgType.TEXT)

        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = orjson.loads(message.data)
                if peer is None:
                    user, reply = relay.ready(frame)
                    peer = Peer(user, write)
                    relay.join(peer)
                    await peer.write(reply)
                elif frame.get("t") == "send":
                    ack, msg, receivers = relay.send(peer, frame)
                    await peer.write(ack)
                    for receiver in receivers:
                        await receiver.write(msg)
        finally:
            if peer is not None:
                relay.leave(peer)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    return int(runner.addresses[0][1])


# --- picows ------------------------------------------------------------------------


async def serve_picows(relay: Relay, port: int) -> int:
    from picows import (
        WSFrame,
        WSListener,
        WSMsgType,
        WSTransport,
        WSUpgradeRequest,
        WSUpgradeResponse,
        WSUpgradeResponseWithListener,
        ws_create_server,
    )

    class Listener(WSListener):
        def __init__(self) -> None:
            super().__init__()
            self.peer: Peer | None = None

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if frame.msg_type is not WSMsgType.TEXT:
                return
            data = orjson.loads(frame.get_payload_as_memoryview())
            if self.peer is None:
                user, reply = relay.ready(data)
                self.peer = Peer(user, lambda payload: transport.send(WSMsgType.TEXT, payload))
                relay.join(self.peer)
                transport.send(WSMsgType.TEXT, reply)
            elif data.get("t") == "send":
                ack, msg, receivers = relay.send(self.peer, data)
                transport.send(WSMsgType.TEXT, ack)
                for receiver in receivers:
                    receiver.write(msg)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if self.peer is not None:
                relay.leave(self.peer)

    def accept(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        # Answer the load client's subprotocol, as Pigeon does, or it hangs up.
        headers = {"Sec-WebSocket-Protocol": Codec.JSON.subprotocol}
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(headers), Listener()
        )

    server = await ws_create_server(accept, "127.0.0.1", port, backlog=4096)
    return int(server.sockets[0].getsockname()[1])


SERVE = {Stack.AIOHTTP: serve_aiohttp, Stack.PICOWS: serve_picows}


async def main(stack: Stack, port: int) -> None:
    bound = await SERVE[stack](Relay(), port)
    print(orjson.dumps({"event": "listening", "port": bound, "stack": stack}).decode(), flush=True)
    await asyncio.Event().wait()  # until SIGTERM ends the process


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack", type=Stack, choices=list(Stack), required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # as many sockets as Pigeon
    run: Callable[..., None] = asyncio.run
    try:
        import uvloop  # the loop `pigeon serve` runs on

        run = uvloop.run
    except ImportError:  # pragma: no cover - no uvloop on Windows
        pass
    run(main(args.stack, args.port))
    sys.exit(0)
