"""What an authenticated connection may do: one command in, at most one reply out.

The session knows the services and the connection it speaks for; it knows
nothing about sockets or limits (the connection machine admits a command before
the session sees it). Every failure becomes an ``error`` frame — a handler never
lets an exception escape to the transport.

A connection may have several sends in flight at once (the runner pipelines
them); ``handle`` takes each send's commit turn when it is called, so they are
stored in the order they arrived whatever order their checks finish in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from typing import Any

from pigeon.core.accounts import Principal
from pigeon.core.committer import SubmitOrder, SubmitTurn
from pigeon.core.messaging import MessagingService
from pigeon.core.receipts import ReceiptService
from pigeon.core.typing_indicators import TypingService
from pigeon.metrics import Metrics
from pigeon.protocol import frames
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.frames import Command, Frame

log = logging.getLogger(__name__)


class Session:
    # One per signed-in connection: slots keep an idle one small.
    __slots__ = (
        "_submit_order",
        "connection_id",
        "messaging",
        "metrics",
        "principal",
        "receipts",
        "typing",
    )

    def __init__(
        self,
        principal: Principal,
        connection_id: str,
        messaging: MessagingService,
        typing: TypingService,
        receipts: ReceiptService,
        metrics: Metrics,
    ) -> None:
        self.principal = principal
        self.connection_id = connection_id
        self.messaging = messaging
        self.typing = typing
        self.receipts = receipts
        self.metrics = metrics
        self._submit_order = SubmitOrder()

    def handle(self, command: Command) -> Coroutine[Any, Any, Frame | None]:
        """Run one command; the awaitable gives the reply frame, if the command has one.

        Not a coroutine function on purpose: a send's commit turn is taken now, in
        the order the commands arrived, not whenever its coroutine first runs.
        """
        turn = self._submit_order.next_turn() if isinstance(command, frames.Send) else None
        return self._handle(command, turn)

    async def _handle(self, command: Command, turn: SubmitTurn | None) -> Frame | None:
        cid = command.cid if isinstance(command, frames.Send) else None
        try:
            return await self._dispatch(command, turn)
        except PigeonError as exc:
            retry_after = (exc.details or {}).get("retry_after")
            return frames.error_frame(int(exc.code), exc.message, command.rid, cid, retry_after)
        except Exception:
            log.exception("command failed", extra={"conn": self.connection_id})
            return frames.error_frame(
                int(ErrorCode.INTERNAL), "internal server error", command.rid, cid
            )

    async def _dispatch(self, command: Command, turn: SubmitTurn | None) -> Frame | None:
        user = self.principal.user_id
        match command:
            case frames.Send():
                started = time.perf_counter()
                message = await self.messaging.send(user, command, self.connection_id, turn)
                self.metrics.send_to_ack.observe(time.perf_counter() - started)
                return frames.ack_frame(message.ack(), command.rid)
            case frames.Pull():
                page = await self.messaging.history(
                    user,
                    command.conv,
                    before=command.before,
                    after=command.after,
                    limit=command.limit,
                )
                return frames.messages_frame(
                    command.conv,
                    [m.public() for m in page.items],
                    page.more,
                    command.rid,
                    page.first_seq,
                )
            case frames.Sync():
                changes = await self.messaging.sync(user, command.cursor)
                return frames.sync_frame(changes.cursor, changes.convs, changes.more, command.rid)
            case frames.Read():
                await self.receipts.mark(
                    user, command.conv, read=command.seq, connection_id=self.connection_id
                )
                return None
            case frames.Recv():
                await self.receipts.mark(
                    user, command.conv, recv=command.seq, connection_id=self.connection_id
                )
                return None
            case frames.Typing():
                await self.typing.typing(user, command.conv, command.on)
                return None
            case frames.Ping():
                return frames.pong_frame(int(time.time() * 1000), command.rid)
            case frames.Auth():  # the connection machine answers these itself
                raise PigeonError(ErrorCode.ALREADY_AUTHENTICATED)
        raise AssertionError(f"unhandled command {command!r}")
