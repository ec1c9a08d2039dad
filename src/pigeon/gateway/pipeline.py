"""One connection's commands in flight, answered in the order they arrived: ``Pipeline``.

A client may write its next ``send`` before the previous one is acknowledged
(docs/protocol.md, "Pipelining"). The reader starts each send as a task and
goes on reading, so the sends of one busy client share a group commit instead
of waiting for one commit each. What the connection writes back stays in
arrival order: every entry (a command's reply, or the machine's own reply or
close for a frame it refused) waits behind the entries before it, whichever
finishes first.

Bounded: with ``depth`` entries waiting, the reader stops reading until the
oldest is answered, so a fast writer is slowed down (TCP back-pressure), never
refused. Commands other than ``send`` run alone, as before pipelining: they wait
for everything before them and the reader waits for them, so a ``pull`` or a
``sync`` sees every earlier send of the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from pigeon.gateway.machine import Action

log = logging.getLogger(__name__)

CarryOut = Callable[[list[Action]], None]


class Pipeline:
    """Entries in arrival order; each is carried out once it and all before it are done."""

    __slots__ = ("_carry_out", "_depth", "_entries", "_room")

    def __init__(self, depth: int, carry_out: CarryOut) -> None:
        self._depth = depth
        self._carry_out = carry_out
        self._entries: deque[asyncio.Future[list[Action]]] = deque()
        self._room: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def start(self, work: Coroutine[Any, Any, list[Action]]) -> None:
        """Run ``work`` beside the others; its actions go out after every earlier entry's."""
        task = asyncio.create_task(work)
        self._entries.append(task)
        task.add_done_callback(self._on_done)

    def then(self, actions: list[Action]) -> None:
        """Actions decided now (a refusal, a close) that still go out in arrival order."""
        if not self._entries:
            self._carry_out(actions)
            return
        ready: asyncio.Future[list[Action]] = asyncio.get_running_loop().create_future()
        ready.set_result(actions)
        self._entries.append(ready)

    async def room(self) -> None:
        """Wait until fewer than ``depth`` entries are waiting (the reader pauses here)."""
        while len(self._entries) >= self._depth:
            await self._changed()

    async def settled(self) -> None:
        """Wait until every entry is carried out."""
        while self._entries:
            await self._changed()

    async def _changed(self) -> None:
        if self._room is None:
            self._room = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._room)

    def _on_done(self, _: asyncio.Future[list[Action]]) -> None:
        while self._entries and self._entries[0].done():
            self._carry_out(self._outcome(self._entries.popleft()))
        if self._room is not None:
            self._room.set_result(None)
            self._room = None

    @staticmethod
    def _outcome(entry: asyncio.Future[list[Action]]) -> list[Action]:
        # A command answers its own failures with an error frame (Session.handle);
        # anything that still escapes only costs that command its reply.
        if entry.cancelled():
            return []
        error = entry.exception()
        if error is not None:
            log.error("pipelined command failed", exc_info=error)
            return []
        return entry.result()
