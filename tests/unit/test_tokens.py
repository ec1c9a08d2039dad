"""Access tokens (HS256 JWT) and refresh tokens: every bad token maps to a stable code."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pigeon.core.errors import CoreError
from pigeon.core.tokens import (
    AccessClaims,
    TokenService,
    hash_refresh_token,
    new_refresh_token,
)
from pigeon.protocol.errors import ErrorCode

SECRET = "unit-test-secret-" + "s" * 48  # long enough for HS512 too, used in one test
TTL = 900


@pytest.fixture
def service() -> TokenService:
    return TokenService(SECRET, TTL)


def _now() -> int:
    return int(time.time())


def _claims(**overrides: Any) -> dict[str, Any]:
    now = _now()
    claims: dict[str, Any] = {
        "sub": "u_1",
        "sid": "l_1",
        "dev": "phone",
        "typ": "access",
        "iat": now,
        "exp": now + TTL,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _rejected_with(service: TokenService, token: str) -> ErrorCode:
    with pytest.raises(CoreError) as caught:
        service.verify_access(token)
    return caught.value.code


def test_issued_token_verifies_into_its_claims(service: TokenService) -> None:
    now = _now()
    token = service.issue_access("u_42", "l_7", "laptop", now)
    assert service.verify_access(token) == AccessClaims("u_42", "l_7", "laptop", now + TTL)


def test_token_without_device_claim_has_empty_device(service: TokenService) -> None:
    token = jwt.encode(_claims(dev=None), SECRET, algorithm="HS256")
    assert service.verify_access(token).device == ""


def test_expired_token(service: TokenService) -> None:
    token = service.issue_access("u", "l", "d", _now() - TTL - 60)
    assert _rejected_with(service, token) == ErrorCode.TOKEN_EXPIRED


def test_wrong_secret(service: TokenService) -> None:
    other = TokenService("another-secret-" + "o" * 32, TTL)
    token = other.issue_access("u", "l", "d", _now())
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


def test_alg_none_is_refused(service: TokenService) -> None:
    token = jwt.encode(_claims(), None, algorithm="none")
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


def test_other_hmac_algorithm_with_the_right_secret_is_refused(service: TokenService) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "sid", "typ"])
def test_missing_claim(service: TokenService, missing: str) -> None:
    token = jwt.encode(_claims(**{missing: None}), SECRET, algorithm="HS256")
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize("typ", ["refresh", "ACCESS", "", 1])
def test_wrong_typ(service: TokenService, typ: Any) -> None:
    token = jwt.encode(_claims(typ=typ), SECRET, algorithm="HS256")
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


@pytest.mark.parametrize(("claim", "value"), [("sub", 5), ("sid", ["l"]), ("sid", 7)])
def test_ids_must_be_strings(service: TokenService, claim: str, value: Any) -> None:
    token = jwt.encode(_claims(**{claim: value}), SECRET, algorithm="HS256")
    assert _rejected_with(service, token) == ErrorCode.TOKEN_INVALID


def test_tampered_payload_is_refused(service: TokenService) -> None:
    header, _, signature = service.issue_access("u", "l", "d", _now()).split(".")
    forged = jwt.encode(_claims(sub="admin"), "x" * 40, algorithm="HS256").split(".")[1]
    assert _rejected_with(service, f"{header}.{forged}.{signature}") == ErrorCode.TOKEN_INVALID


@settings(max_examples=200)
@given(st.text(max_size=300) | st.sampled_from(["a.b.c", "..", "eyJ.eyJ.x", "x" * 5000]))
def test_garbage_is_token_invalid_and_nothing_else(garbage: str) -> None:
    assert _rejected_with(TokenService(SECRET, TTL), garbage) == ErrorCode.TOKEN_INVALID


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        TokenService("too-short", TTL)


def test_refresh_tokens_are_random_and_hash_stably() -> None:
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    token = next(iter(tokens))
    assert token.startswith("r_")
    assert len(token) >= 40
    digest = hash_refresh_token(token)
    assert digest == hash_refresh_token(token)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest != hash_refresh_token(token + "x")
