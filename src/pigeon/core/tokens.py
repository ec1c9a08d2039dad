"""Access tokens (JWT, HS256 pinned) and opaque refresh tokens (stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import jwt

from pigeon.core.errors import CoreError
from pigeon.protocol.errors import ErrorCode

ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "typ"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    login_id: str
    device: str
    expires_at: int  # unix seconds


class TokenService:
    def __init__(self, secret: str, access_ttl_s: int) -> None:
        if len(secret) < 32:
            raise ValueError("JWT secret must be at least 32 characters")
        self._secret = secret
        self.access_ttl_s = access_ttl_s

    def issue_access(self, user_id: str, login_id: str, device: str, now_s: int) -> str:
        claims = {
            "sub": user_id,
            "sid": login_id,
            "dev": device,
            "typ": "access",
            "iat": now_s,
            "exp": now_s + self.access_ttl_s,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify_access(self, token: str) -> AccessClaims:
        """Decode and check signature, algorithm and expiry; raise ``CoreError`` otherwise."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
            )
        except jwt.ExpiredSignatureError:
            raise CoreError(ErrorCode.TOKEN_EXPIRED) from None
        except jwt.PyJWTError:
            raise CoreError(ErrorCode.TOKEN_INVALID) from None
        if claims.get("typ") != "access" or not all(
            isinstance(claims.get(k), str) for k in ("sub", "sid")
        ):
            raise CoreError(ErrorCode.TOKEN_INVALID)
        return AccessClaims(
            user_id=claims["sub"],
            login_id=claims["sid"],
            device=str(claims.get("dev") or ""),
            expires_at=int(claims["exp"]),
        )


def new_refresh_token() -> str:
    return "r_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are random and long, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()
