"""Chat traffic that survives failures, and the checks of what it leaves behind.

A ``Chatter`` sends a bounded run of messages into one conversation, each with
its own cid. When its node dies, drains or loses a request it reconnects to a
live node and resends the same cid, as a real client does, so the server's
dedup decides. Everything it receives live is kept, so the final check can say
that live delivery plus sync and pull gave exactly the stored stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from harness import ServerProcess
from integration.wsclient import Account, Closed, WsClient, connect, pull_everything

Frame = dict[str, Any]
RECONNECT_ATTEMPTS = 60
# A request unanswered this long is treated as lost: reconnect and resend the same cid
# (the server dedups). Generous, so a merely slow node under load is not abandoned.
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Chatter:
    account: Account
    http: aiohttp.ClientSession
    live_nodes: Callable[[], Sequence[ServerProcess]]
    node_index: int = 0
    ws: WsClient | None = None
    acked: dict[str, int] = field(default_factory=dict)  # cid -> seq
    live: list[Frame] = field(default_factory=list)  # msg frames received live
    close_codes: list[int | None] = field(default_factory=list)
    reconnects: int = 0

    async def open(self) -> None:
        """Connect to a live node, starting from this chatter's preferred one."""
        for attempt in range(RECONNECT_ATTEMPTS):
            nodes = self.live_nodes()
            node = nodes[(self.node_index + attempt) % len(nodes)]
            try:
                self.ws, _ = await asyncio.wait_for(
                    connect(self.http, node, self.account), REQUEST_TIMEOUT_S
                )
                self.node_index = (self.node_index + attempt) % len(nodes)
                return
            except Exception:  # refused, draining or dying: try the next node
                await asyncio.sleep(min(1.0, 0.05 * (attempt + 1)))
        raise AssertionError(f"{self.account.username} could not reconnect")

    async def reconnect(self, error: BaseException | None = None) -> None:
        if self.ws is not None:
            self.close_codes.append(await self._close_code(error))
            self._harvest()
            await self.ws.ws.close()
        self.ws = None
        self.reconnects += 1
        self.node_index += 1
        await self.open()

    async def _close_code(self, error: BaseException | None) -> int | None:
        """How the server ended the socket: read on to its close frame if need be."""
        if isinstance(error, Closed) and error.code is not None:
            return error.code
        assert self.ws is not None
        try:
            return await self.ws.closed(timeout=REQUEST_TIMEOUT_S)
        except Exception:  # no close frame: the node died or the socket broke
            return self.ws.ws.close_code

    def _harvest(self) -> None:
        if self.ws is not None:
            self.live.extend(f for f in self.ws.backlog if f.get("t") == "msg")
            self.ws.backlog = [f for f in self.ws.backlog if f.get("t") != "msg"]

    async def send(self, conv: str, cid: str, text: str) -> int:
        """Send until acknowledged, reconnecting and resending the same cid."""
        for _ in range(RECONNECT_ATTEMPTS):
            if self.ws is None:
                await self.open()
            assert self.ws is not None
            try:
                answer = await self.ws.request(
                    {"t": "send", "cid": cid, "conv": conv, "kind": "text", "body": {"text": text}},
                    timeout=REQUEST_TIMEOUT_S,
                )
            except (
                Closed,
                TimeoutError,
                ConnectionError,
                AssertionError,
                aiohttp.ClientError,
            ) as exc:
                await self.reconnect(exc)
                continue
            if answer["t"] == "ack":
                self.acked[cid] = int(answer["seq"])
                return int(answer["seq"])
            # a refused send (e.g. the store briefly unreachable) is retried like a client would
            await asyncio.sleep(0.2)
        raise AssertionError(f"{cid} was never acknowledged")

    async def run(self, conv: str, count: int, started: asyncio.Event | None = None) -> None:
        for index in range(count):
            await self.send(conv, f"{self.account.username}-{index}", f"message {index}")
            if started is not None and index == 0:
                started.set()

    async def catch_up(self, conv: str) -> list[Frame]:
        """What a client does after any disconnect: sync, then pull after what it has."""
        self._harvest()
        for _ in range(RECONNECT_ATTEMPTS):
            if self.ws is None:
                await self.open()
            assert self.ws is not None
            try:
                await self.ws.sync()
                return await pull_everything(self.ws, conv)
            except (Closed, TimeoutError, ConnectionError, AssertionError, aiohttp.ClientError):
                await self.reconnect()
        raise AssertionError("catch-up never succeeded")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def check_stream(stream: Sequence[Frame], chatters: Sequence[Chatter], expected_total: int) -> None:
    """The stored stream is gapless and holds every acknowledged message exactly once."""
    seqs = [m["seq"] for m in stream]
    assert seqs == list(range(1, len(stream) + 1)), f"gap or disorder in {seqs}"
    keys = [(m["from"], m["cid"]) for m in stream]
    assert len(keys) == len(set(keys)), "a (sender, cid) was stored twice"
    by_key = {(m["from"], m["cid"]): m["seq"] for m in stream}
    for chatter in chatters:
        for cid, seq in chatter.acked.items():
            assert by_key.get((chatter.account.id, cid)) == seq, f"acked {cid} lost or moved"
    assert sum(len(c.acked) for c in chatters) == expected_total


def check_recipient(chatter: Chatter, pulled: Sequence[Frame], stream: Sequence[Frame]) -> None:
    """Live pushes merged with the pull give exactly the stream: nothing conflicting."""
    by_seq = {m["seq"]: m for m in stream}
    for frame in chatter.live:
        stored = by_seq.get(frame["seq"])
        assert stored is not None, f"live push {frame} not stored"
        assert stored["id"] == frame["id"], f"live push {frame} differs from the stored one"
    merged = {m["seq"]: m["id"] for m in [*chatter.live, *pulled]}
    assert sorted(merged) == sorted(by_seq), "recipient's view differs from the stream"
    assert [m["seq"] for m in pulled] == sorted(m["seq"] for m in pulled)


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        if check():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")
