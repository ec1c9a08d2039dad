"""The async Python SDK for Pigeon: REST helpers and a self-healing live connection.

    async with PigeonClient("http://127.0.0.1:8080") as client:
        await client.login("alice", "correct horse")
        conn = await client.connect()
        async for event in conn.events():
            if event.t == "msg":
                print(event.message.body)

``PigeonClient`` wraps the REST API and keeps the login's tokens;
``Connection`` (from ``client.connect()``) keeps one live socket alive across
drops, catches up after each reconnect, and yields each message once, in seq
order per conversation. The socket is the server's WebSocket in JSON by default;
``ConnectionOptions(codec=Codec.PROTO)`` speaks Protobuf on it, and
``ConnectionOptions(url="tcp://host:port")`` (or ``tls://``) uses the raw TCP
listener instead.
"""

from __future__ import annotations

from pigeon.backoff import Backoff, ReconnectPolicy
from pigeon.client.channel import TlsOptions
from pigeon.client.connection import Connection, ConnectionOptions, EventStream
from pigeon.client.errors import ConnectionClosedError, PigeonApiError, SocketDisplaced
from pigeon.client.events import (
    Ack,
    ClosedEvent,
    ConnectedEvent,
    ConversationChange,
    DisconnectedEvent,
    ErrorEvent,
    Event,
    Message,
    MessageEvent,
    MessagePage,
    OtherEvent,
    PresenceEvent,
    Reaction,
    Ready,
    ReceiptEvent,
    SyncPage,
    TypingEvent,
)
from pigeon.client.inbox import SyncState
from pigeon.client.rest import PigeonClient
from pigeon.client.sending import new_cid
from pigeon.client.tracker import StreamTracker
from pigeon.protocol.wire import Codec

__all__ = [
    "Ack",
    "Backoff",
    "ClosedEvent",
    "Codec",
    "ConnectedEvent",
    "Connection",
    "ConnectionClosedError",
    "ConnectionOptions",
    "ConversationChange",
    "DisconnectedEvent",
    "ErrorEvent",
    "Event",
    "EventStream",
    "Message",
    "MessageEvent",
    "MessagePage",
    "OtherEvent",
    "PigeonApiError",
    "PigeonClient",
    "PresenceEvent",
    "Reaction",
    "Ready",
    "ReceiptEvent",
    "ReconnectPolicy",
    "SocketDisplaced",
    "StreamTracker",
    "SyncPage",
    "SyncState",
    "TlsOptions",
    "TypingEvent",
    "new_cid",
]
