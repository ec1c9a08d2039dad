"""Stable error codes and WebSocket close codes: the numbers clients depend on."""

from __future__ import annotations

import pytest

from pigeon.core.errors import CoreError, not_found
from pigeon.protocol.closecodes import CloseCode
from pigeon.protocol.codec import ProtocolError
from pigeon.protocol.errors import DEFAULT_MESSAGES, ErrorCode, PigeonError

# Statuses the contract allows an error to carry (docs/protocol.md, "REST conventions"), plus
# 5xx for the server side, plus 412 and 415, which tus 1.0 mandates for uploads
# (docs/files.md), plus 501, which HTTP/1.1 mandates for a transfer coding the server does
# not understand (RFC 9112 section 6.1), plus the HTTP layer's own refusals: 405 (with
# Allow), 414 (request line), 431 (header fields) and 504 (a handler that timed out), plus
# 410 for a message retention removed (docs/protocol.md, "Retention").
ALLOWED_STATUSES = {
    400, 401, 403, 404, 405, 409, 410, 412, 413, 414, 415, 429, 431, 500, 501, 503, 504
}  # fmt: skip


def test_codes_are_unique() -> None:
    values = [int(code) for code in ErrorCode.__members__.values()]
    assert len(values) == len(set(values)), "an alias hides a duplicate code"


@pytest.mark.parametrize("code", list(ErrorCode))
def test_http_status_is_code_div_100(code: ErrorCode) -> None:
    assert 10000 <= code <= 99999
    assert code.http_status == int(code) // 100
    assert code.http_status in ALLOWED_STATUSES


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_has_a_default_message(code: ErrorCode) -> None:
    message = DEFAULT_MESSAGES[code]
    assert message.strip()
    error = PigeonError(code)
    assert error.message == message
    assert str(error).startswith(str(int(code)))


def test_default_messages_name_only_known_codes() -> None:
    assert set(DEFAULT_MESSAGES) == set(ErrorCode)


def test_contract_codes_keep_their_numbers() -> None:
    # Codes are public: these pins catch an accidental renumbering.
    assert int(ErrorCode.BAD_REQUEST) == 40000
    assert int(ErrorCode.NOT_AUTHENTICATED) == 40100
    assert int(ErrorCode.CONVERSATION_NOT_FOUND) == 40402
    assert int(ErrorCode.RATE_LIMITED) == 42900
    assert int(ErrorCode.INTERNAL) == 50000


def test_error_carries_explicit_message_and_details() -> None:
    error = PigeonError(ErrorCode.CONFLICT, "taken", {"field": "username"})
    assert (error.code, error.message, error.details) == (
        ErrorCode.CONFLICT,
        "taken",
        {"field": "username"},
    )


def test_package_errors_share_one_base() -> None:
    assert issubclass(ProtocolError, PigeonError)
    assert issubclass(CoreError, PigeonError)
    error = not_found()
    assert isinstance(error, CoreError)
    assert error.code == ErrorCode.CONVERSATION_NOT_FOUND
    assert not_found(ErrorCode.USER_NOT_FOUND).code == ErrorCode.USER_NOT_FOUND


CONTRACT_CLOSE_CODES = {
    1009: "MESSAGE_TOO_BIG",
    1012: "SERVICE_RESTART",
    4001: "BAD_TOKEN",
    4002: "AUTH_TIMEOUT",
    4003: "REVOKED",
    4008: "POLICY",
    4009: "TOO_SLOW",
    4010: "HEARTBEAT_TIMEOUT",
}


def test_close_codes_match_the_contract() -> None:
    for value, name in CONTRACT_CLOSE_CODES.items():
        assert CloseCode(value).name == name
    values = [int(code) for code in CloseCode.__members__.values()]
    assert len(values) == len(set(values))


@pytest.mark.parametrize("code", list(CloseCode))
def test_only_token_problems_need_a_new_token(code: CloseCode) -> None:
    expected = code in (CloseCode.BAD_TOKEN, CloseCode.AUTH_TIMEOUT, CloseCode.REVOKED)
    assert code.needs_new_token is expected


@pytest.mark.parametrize("code", list(CloseCode))
def test_close_codes_are_valid_websocket_codes(code: CloseCode) -> None:
    # RFC 6455: 1000-1014 defined by the protocol (1004-1006 reserved), 4000-4999 private.
    assert code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or (
        4000 <= code <= 4999
    )
