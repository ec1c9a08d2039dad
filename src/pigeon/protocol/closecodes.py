"""WebSocket close codes of the public contract (docs/protocol.md, "Close codes")."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    INVALID_PAYLOAD = 1007  # a compressed message that does not inflate
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013  # TCP only: refused at connect, too many sockets (address or node)
    BAD_TOKEN = 4001
    AUTH_TIMEOUT = 4002
    REVOKED = 4003
    POLICY = 4008
    TOO_SLOW = 4009
    HEARTBEAT_TIMEOUT = 4010
    TOO_MANY_SOCKETS = 4011

    @property
    def needs_new_token(self) -> bool:
        """A client must obtain a fresh token before reconnecting after these."""
        return self in (CloseCode.BAD_TOKEN, CloseCode.AUTH_TIMEOUT, CloseCode.REVOKED)

    @property
    def ends_session(self) -> bool:
        """A client must not reconnect on its own after these: a newer socket of the
        same user took this one's place, and reconnecting would displace that one."""
        return self is CloseCode.TOO_MANY_SOCKETS
