"""What an authenticated connection may do: one command in, at most one reply out.

The session knows the services, the rate limits and the connection it speaks
for; it knows nothing about sockets. Every failure becomes an ``error`` frame —
a handler never lets an exception escape to the transport.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pigeon.core.accounts import Principal
from pigeon.core.messaging import MessagingService
from pigeon.core.ratelimit import TokenBucket
from pigeon.core.receipts import ReceiptService
from pigeon.metrics import Metrics
from pigeon.protocol import frames
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.frames import Command, Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    send_rate_per_s: float
    send_burst: int
    frame_rate_per_s: float
    frame_burst: int
    violations_before_close: int


class PolicyViolation(Exception):
    """The client keeps exceeding its rate limits: close with 4008."""


class Session:
    def __init__(
        self,
        principal: Principal,
        connection_id: str,
        messaging: MessagingService,
        receipts: ReceiptService,
        metrics: Metrics,
        limits: SessionLimits,
    ) -> None:
        self.principal = principal
        self.connection_id = connection_id
        self.messaging = messaging
        self.receipts = receipts
        self.metrics = metrics
        self.limits = limits
        self._sends = TokenBucket(limits.send_rate_per_s, limits.send_burst)
        self._frames = TokenBucket(limits.frame_rate_per_s, limits.frame_burst)
        self._violations = 0

    async def handle(self, command: Command) -> Frame | None:
        """Run one command; returns the reply frame, if the command has one."""
        cid = command.cid if isinstance(command, frames.Send) else None
        try:
            self._check_rate(command)
            return await self._dispatch(command)
        except PolicyViolation:
            raise
        except PigeonError as exc:
            self.metrics.errors.labels(str(int(exc.code))).inc()
            return frames.error_frame(int(exc.code), exc.message, command.rid, cid)
        except Exception:
            log.exception("command failed", extra={"conn": self.connection_id})
            self.metrics.errors.labels(str(int(ErrorCode.INTERNAL))).inc()
            return frames.error_frame(
                int(ErrorCode.INTERNAL), "internal server error", command.rid, cid
            )

    def _check_rate(self, command: Command) -> None:
        allowed = self._frames.take()
        if allowed and isinstance(command, frames.Send):
            allowed = self._sends.take()
        if allowed:
            self._violations = 0
            return
        self._note_violation()
        raise PigeonError(ErrorCode.RATE_LIMITED)

    def admit_control_frame(self) -> bool:
        """A client PING spends the frame budget like a command: True to answer it,
        False to drop it; overrunning repeatedly raises PolicyViolation (4008)."""
        if self._frames.take():
            self._violations = 0
            return True
        self._note_violation()
        return False

    def _note_violation(self) -> None:
        self._violations += 1
        if self._violations >= self.limits.violations_before_close:
            raise PolicyViolation

    async def _dispatch(self, command: Command) -> Frame | None:
        user = self.principal.user_id
        match command:
            case frames.Send():
                started = time.perf_counter()
                message = await self.messaging.send(user, command, self.connection_id)
                self.metrics.send_to_ack.observe(time.perf_counter() - started)
                return frames.ack_frame(
                    message.cid, message.conv_id, message.seq, message.id, message.ts, command.rid
                )
            case frames.Pull():
                items, more = await self.messaging.history(
                    user,
                    command.conv,
                    before=command.before,
                    after=command.after,
                    limit=command.limit,
                )
                return frames.messages_frame(
                    command.conv, [m.public() for m in items], more, command.rid
                )
            case frames.Sync():
                page = await self.messaging.sync(user, command.cursor)
                return frames.sync_frame(page.cursor, page.convs, page.more, command.rid)
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
                await self.messaging.typing(user, command.conv, command.on)
                return None
            case frames.Ping():
                return frames.pong_frame(int(time.time() * 1000), command.rid)
            case frames.Auth():
                raise PigeonError(ErrorCode.ALREADY_AUTHENTICATED)
        raise AssertionError(f"unhandled command {command!r}")
