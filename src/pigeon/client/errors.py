"""The SDK's exceptions: one for every error the server reports, one for a closed connection.

Server errors — REST envelopes and WebSocket ``error`` frames alike — share one
integer code space (``pigeon.protocol.errors.ErrorCode``), so a caller handles
both with a single ``except PigeonApiError`` and branches on ``code``.
"""

from __future__ import annotations

from typing import Any

from pigeon.protocol.errors import is_transient


class PigeonApiError(Exception):
    """An error reported by the server (or, with ``status`` 0, by the SDK itself).

    ``code`` is the stable numeric error code, ``message`` the human text,
    ``status`` the HTTP status (0 for WebSocket errors and local failures), and
    ``data`` the envelope's details, if any.
    """

    def __init__(
        self, code: int, message: str, status: int = 0, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status
        self.data = data

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed if repeated later."""
        return is_transient(self.code)

    def __repr__(self) -> str:
        return f"PigeonApiError(code={self.code}, message={self.message!r}, status={self.status})"


class ConnectionClosedError(Exception):
    """The ``Connection`` was closed (by the caller or for good) before the call finished.

    ``error`` holds the reason when the connection stopped on its own, e.g. the
    ``PigeonApiError`` of a refresh that failed after the server rejected the token.
    """

    def __init__(self, message: str = "connection is closed", error: Exception | None = None):
        super().__init__(message)
        self.error = error


class SocketDisplaced(Exception):
    """The server closed this socket with 4011: the user opened more sockets than it
    allows and this, the oldest, made room for a newer one.

    A ``Connection`` stops on it instead of reconnecting, which would only displace
    the newer socket in turn; the application decides whether to connect again (the
    user came back to this window, say).
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(
            f"replaced by a newer connection ({code}){': ' + reason if reason else ''}"
        )
        self.code = code
        self.reason = reason
