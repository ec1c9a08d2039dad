"""Signed, expiring file URLs: HMAC-SHA256 over (file id, variant, expiry).

The key is derived from the server's JWT secret, so every node of a cluster
signs and verifies alike without another secret to distribute, and a URL's
signature is useless as a token (and the other way round).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pigeon.protocol.cursors import parse_client_int
from pigeon.protocol.errors import ErrorCode, PigeonError

VARIANTS = frozenset({"content", "thumbnail"})
_KEY_LABEL = b"pigeon/file-url/v1"
_MAX_EXP_DIGITS = 12


class FileError(PigeonError):
    """A file request the server refuses; codes come from the shared code space."""


class UrlSigner:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def sign(self, file_id: str, variant: str, exp: int) -> str:
        message = f"{file_id}\n{variant}\n{exp}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(
        self, file_id: str, variant: str, exp: str | None, sig: str | None, now_s: int
    ) -> None:
        """Raise FILE_URL_INVALID for a tampered or malformed link, FILE_URL_EXPIRED when late.

        The signature is checked first, so an attacker cannot learn anything from
        the expiry answer by editing ``exp``.
        """
        expires = parse_client_int(exp or "")  # ASCII digits only: "²" is no expiry
        if (
            variant not in VARIANTS
            or expires is None
            or not sig
            or len(exp or "") > _MAX_EXP_DIGITS
            or not hmac.compare_digest(self.sign(file_id, variant, expires).encode(), sig.encode())
        ):
            raise FileError(ErrorCode.FILE_URL_INVALID)
        if expires <= now_s:
            raise FileError(ErrorCode.FILE_URL_EXPIRED)
