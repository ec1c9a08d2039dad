"""The connection machine driven as data: no sockets, no event loop, times as numbers."""

from __future__ import annotations

from pigeon.gateway.machine import (
    Authenticate,
    Close,
    ConnectionMachine,
    Dispatch,
    MachineLimits,
    Pong,
    Reply,
    State,
)
from pigeon.protocol import frames
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import ErrorCode

LIMITS = MachineLimits(
    auth_timeout_s=10.0,
    heartbeat_s=25.0,
    send_rate_per_s=1.0,
    send_burst=2,
    frame_rate_per_s=1.0,
    frame_burst=4,
    violations_before_close=3,
)
AUTH = frames.Auth(token="t", rid=1)
SEND = frames.Send(cid="c1", conv="c_x", kind="text", body={"text": "hi"}, rid=2)


def _open(now: float = 0.0) -> ConnectionMachine:
    machine = ConnectionMachine(LIMITS, now)
    assert machine.command(AUTH, now) == [Authenticate(AUTH)]
    assert machine.authenticated(now) == []
    assert machine.state is State.OPEN
    return machine


def _frame(action: object) -> frames.Frame:
    assert isinstance(action, Reply), action
    return action.frame


def _error_code(action: object) -> int:
    frame = _frame(action)
    assert frame["t"] == "error", frame
    code: int = frame["code"]
    return code


def test_commands_before_auth_are_answered_40100_and_nothing_runs() -> None:
    machine = ConnectionMachine(LIMITS, 0.0)
    [reply] = machine.command(frames.Ping(rid=7), 1.0)
    assert _error_code(reply) == ErrorCode.NOT_AUTHENTICATED
    assert _frame(reply)["rid"] == 7
    assert machine.state is State.AWAITING_AUTH


def test_auth_deadline_closes_4002_once() -> None:
    machine = ConnectionMachine(LIMITS, 100.0)
    assert machine.tick(109.9) == []
    assert machine.tick(110.0) == [Close(CloseCode.AUTH_TIMEOUT, "auth timeout")]
    assert machine.state is State.CLOSING
    assert machine.tick(200.0) == []
    assert machine.command(AUTH, 200.0) == []


def test_refused_tokens_reply_then_close_with_the_code_that_says_what_to_do() -> None:
    for code, close in [
        (ErrorCode.TOKEN_INVALID, CloseCode.BAD_TOKEN),
        (ErrorCode.TOKEN_EXPIRED, CloseCode.REVOKED),
        (ErrorCode.TOKEN_REVOKED, CloseCode.REVOKED),
        (ErrorCode.ACCOUNT_DISABLED, CloseCode.REVOKED),
    ]:
        machine = ConnectionMachine(LIMITS, 0.0)
        machine.command(AUTH, 0.0)
        reply, closing = machine.auth_refused(code, "no", AUTH.rid)
        assert _error_code(reply) == code
        assert closing == Close(close, "no")


def test_open_connection_dispatches_and_refuses_a_second_auth() -> None:
    machine = _open()
    assert machine.command(SEND, 1.0) == [Dispatch(SEND)]
    [reply] = machine.command(AUTH, 1.0)
    assert _error_code(reply) == ErrorCode.ALREADY_AUTHENTICATED


def test_send_budget_answers_42900_with_the_cid_then_closes_4008() -> None:
    machine = _open()
    assert machine.command(SEND, 0.0) == [Dispatch(SEND)]
    assert machine.command(SEND, 0.0) == [Dispatch(SEND)]
    replies = [machine.command(SEND, 0.0) for _ in range(2)]
    for [reply] in replies:
        assert _error_code(reply) == ErrorCode.RATE_LIMITED
        assert _frame(reply)["cid"] == "c1"
    assert machine.command(SEND, 0.0) == [Close(CloseCode.POLICY, "rate limit exceeded repeatedly")]
    assert machine.command(SEND, 100.0) == []


def test_a_good_frame_resets_the_violation_count() -> None:
    machine = _open()
    for _ in range(2):
        machine.command(SEND, 0.0)
    for _ in range(2):
        machine.command(SEND, 0.0)  # two violations
    for _ in range(2):  # the budget refilled; an admitted frame resets the count
        assert machine.command(SEND, 10.0) == [Dispatch(SEND)]
    for _ in range(2):  # so two more overruns are not yet the third in a row
        [reply] = machine.command(SEND, 10.0)
        assert _error_code(reply) == ErrorCode.RATE_LIMITED


def test_malformed_frames_are_answered_and_spend_the_frame_budget() -> None:
    machine = _open()
    bad = ProtocolError(ErrorCode.MALFORMED_FRAME, "nope", rid="r")
    for _ in range(LIMITS.frame_burst):
        [reply] = machine.malformed(bad, 0.0)
        assert _error_code(reply) == ErrorCode.MALFORMED_FRAME
    actions = [machine.malformed(bad, 0.0) for _ in range(LIMITS.violations_before_close)]
    assert actions[-1] == [Close(CloseCode.POLICY, "rate limit exceeded repeatedly")]


def test_pings_are_answered_while_the_budget_lasts_then_dropped_then_closed() -> None:
    machine = _open()
    for _ in range(LIMITS.frame_burst):
        assert machine.control_ping(b"x", 0.0) == [Pong(b"x")]
    assert machine.control_ping(b"x", 0.0) == []
    assert machine.control_ping(b"x", 0.0) == []
    assert machine.control_ping(b"x", 0.0) == [
        Close(CloseCode.POLICY, "rate limit exceeded repeatedly")
    ]


def test_silence_for_two_heartbeats_closes_4010_and_any_frame_counts_as_life() -> None:
    machine = _open(0.0)
    assert machine.tick(50.0) == []
    machine.activity(40.0)
    assert machine.tick(90.0) == []
    assert machine.tick(90.1) == [Close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")]


def test_the_first_close_wins() -> None:
    machine = _open()
    assert machine.close(CloseCode.TOO_SLOW, "too slow") == [Close(CloseCode.TOO_SLOW, "too slow")]
    assert machine.close(CloseCode.REVOKED, "") == []
    assert machine.tick(1000.0) == []
    machine.transport_closed()
    assert machine.state is State.CLOSED
    assert machine.command(SEND, 1000.0) == []
