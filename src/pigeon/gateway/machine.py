"""The life of one client connection, decided without I/O: ``ConnectionMachine``.

Every transport (WebSocket, raw TCP, line mode) feeds the same machine with what
it read — decoded commands, frames that would not decode, control pings — and
with the clock, and carries out the actions it gets back. The machine owns the
rules: authenticate first and within ``auth_timeout_s``; answer everything
else before that with 40100; spend the frame budget on every frame and the send
budget on every ``send``; close with 4008 after repeated overruns; close a
connection silent for two heartbeats; one close, with one code, per connection.

States (h11-style: each input is legal in every state; what it does depends on
the state)::

    AWAITING_AUTH --authenticated--> OPEN
    AWAITING_AUTH --auth refused / deadline--> CLOSING
    OPEN --policy, heartbeat, server close--> CLOSING
    any --transport gone--> CLOSED

Nothing here awaits, reads a socket or a clock: times are arguments, so tests
drive the machine as data (tests/unit/test_machine.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pigeon.core.ratelimit import TokenBucket
from pigeon.protocol import frames
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode
from pigeon.protocol.frames import Command, Frame, Rid


class State(Enum):
    AWAITING_AUTH = "awaiting_auth"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class MachineLimits:
    auth_timeout_s: float
    heartbeat_s: float
    send_rate_per_s: float
    send_burst: int
    frame_rate_per_s: float
    frame_burst: int
    violations_before_close: int

    @property
    def silence_s(self) -> float:
        """How long a connection may stay silent before it is closed: two heartbeats."""
        return 2 * self.heartbeat_s


# --- actions: what the transport must do next


@dataclass(frozen=True, slots=True)
class Reply:
    """Write ``frame`` to this connection."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check ``command.token``; report with ``authenticated`` or ``auth_refused``."""

    command: frames.Auth


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Run ``command`` through the session; write its reply, if any."""

    command: Command


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer a transport-level PING with ``payload``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` (after writing what is queued)."""

    code: CloseCode
    reason: str


Action = Reply | Authenticate | Dispatch | Pong | Close

# Refused tokens that a fresh token fixes close with 4003, every other refusal with 4001.
_REFUSAL_CLOSE_CODES = {
    ErrorCode.TOKEN_EXPIRED: CloseCode.REVOKED,
    ErrorCode.TOKEN_REVOKED: CloseCode.REVOKED,
    ErrorCode.ACCOUNT_DISABLED: CloseCode.REVOKED,
}
_POLICY_REASON = "rate limit exceeded repeatedly"


def error_reply(
    code: ErrorCode, rid: Rid = None, message: str | None = None, cid: str | None = None
) -> Reply:
    return Reply(frames.error_frame(int(code), message or DEFAULT_MESSAGES[code], rid, cid))


class ConnectionMachine:
    """One connection's state and budgets. Not thread-safe; one per connection."""

    __slots__ = (
        "_frames",
        "_sends",
        "_violations",
        "auth_deadline",
        "last_seen",
        "limits",
        "state",
    )

    def __init__(self, limits: MachineLimits, now: float) -> None:
        self.limits = limits
        self.state = State.AWAITING_AUTH
        self.auth_deadline = now + limits.auth_timeout_s
        self.last_seen = now
        self._frames = TokenBucket(limits.frame_rate_per_s, limits.frame_burst, now)
        self._sends = TokenBucket(limits.send_rate_per_s, limits.send_burst, now)
        self._violations = 0

    # --- inputs from the transport

    def command(self, command: Command, now: float) -> list[Action]:
        """A frame that decoded into ``command``."""
        self.last_seen = now
        if self.state is State.AWAITING_AUTH:
            return self._before_auth(command)
        if self.state is not State.OPEN:
            return []
        if isinstance(command, frames.Auth):
            return [error_reply(ErrorCode.ALREADY_AUTHENTICATED, command.rid)]
        if not self._frames.take(now) or (
            isinstance(command, frames.Send) and not self._sends.take(now)
        ):
            cid = command.cid if isinstance(command, frames.Send) else None
            return self._overrun(error_reply(ErrorCode.RATE_LIMITED, command.rid, cid=cid))
        self._violations = 0
        return [Dispatch(command)]

    def malformed(self, error: ProtocolError, now: float) -> list[Action]:
        """A frame that did not decode: answered with its code, spending the frame budget."""
        self.last_seen = now
        if self.state not in (State.AWAITING_AUTH, State.OPEN):
            return []
        reply = error_reply(error.code, error.rid, error.message, error.cid)
        if self.state is State.OPEN and not self._frames.take(now):
            return self._overrun(reply)
        return [reply]

    def control_ping(self, payload: bytes, now: float) -> list[Action]:
        """A transport PING: answered while the frame budget lasts, else dropped."""
        self.last_seen = now
        if self.state not in (State.AWAITING_AUTH, State.OPEN):
            return []
        if self.state is State.OPEN and not self._frames.take(now):
            return self._overrun()
        self._violations = 0
        return [Pong(payload)]

    def activity(self, now: float) -> None:
        """Anything else arrived (a PONG, a fragment): the connection is alive."""
        self.last_seen = now

    def tick(self, now: float) -> list[Action]:
        """The clock: the auth deadline before auth, the heartbeat after."""
        if self.state is State.AWAITING_AUTH and now >= self.auth_deadline:
            return self.close(CloseCode.AUTH_TIMEOUT, "auth timeout")
        if self.state is State.OPEN and now - self.last_seen > self.limits.silence_s:
            return self.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
        return []

    # --- inputs from the services

    def authenticated(self, now: float) -> list[Action]:
        """The token of the pending ``Authenticate`` was good."""
        if self.state is State.AWAITING_AUTH:
            self.state = State.OPEN
            self.last_seen = now
        return []

    def auth_refused(self, code: ErrorCode, message: str, rid: Rid) -> list[Action]:
        """The token was refused: say why, then close (4003 when a new token fixes it)."""
        if self.state is not State.AWAITING_AUTH:
            return []
        close_code = _REFUSAL_CLOSE_CODES.get(code, CloseCode.BAD_TOKEN)
        return [error_reply(code, rid, message), *self.close(close_code, message)]

    def close(self, code: CloseCode, reason: str) -> list[Action]:
        """Close for ``code``; only the first close of a connection has an effect."""
        if self.state in (State.CLOSING, State.CLOSED):
            return []
        self.state = State.CLOSING
        return [Close(code, reason)]

    def transport_closed(self) -> None:
        self.state = State.CLOSED

    # --- rules

    def _before_auth(self, command: Command) -> list[Action]:
        if isinstance(command, frames.Auth):
            return [Authenticate(command)]
        return [error_reply(ErrorCode.NOT_AUTHENTICATED, command.rid, "first frame must be 'auth'")]

    def _overrun(self, *replies: Reply) -> list[Action]:
        self._violations += 1
        if self._violations >= self.limits.violations_before_close:
            return self.close(CloseCode.POLICY, _POLICY_REASON)
        return list(replies)
