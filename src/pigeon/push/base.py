"""The provider port: what a notification is and what delivering one promises.

Guarantees of the outbox (``pigeon.push.store`` and ``pigeon.push.dispatcher``) that
every provider relies on:

- **Durable.** A notification is planned from the stored message stream by a
  per-conversation cursor committed with the notification rows, so a crash at any
  point after a message is committed loses none: the next planning pass (at start,
  and every ``push_scan_s`` on every node) finds the messages past the cursor.
- **At least once.** A delivery that fails or whose node dies is tried again after
  a backoff, until ``push_max_attempts``; then it is dead-lettered (kept, with the
  last error, for the operator). A receiver may therefore see a notification twice:
  ``Notification.key`` is the same on every attempt, so it can drop repeats.
- **Collapsed.** Messages to one user in one conversation that arrive before the
  first attempt are one notification, with their ``count``.

A provider's only duty is ``deliver``: send one notification to one target and say
how it went, never raising for a failure of the far end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from pigeon.protocol.membership import ConversationKind

# Longest message text a payload carries: notification UIs show a line or two, and
# Web Push payloads must stay under ~4 KB once encrypted.
PREVIEW_CHARS = 200


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # the far end failed or is unreachable: try again later
    GONE = "gone"  # the target no longer exists (an expired Web Push subscription)
    REFUSED = "refused"  # this server will never send there (a forbidden address)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """One collapsed notification: ``count`` messages in ``conv`` for ``user``, the
    newest at ``last_seq``. ``preview`` is None when text must not be sent."""

    user_id: str
    conv_id: str
    conv_kind: ConversationKind
    title: str | None
    first_seq: int
    last_seq: int
    count: int
    mention: bool
    sender_id: str
    sender_name: str
    message_kind: str
    preview: str | None
    ts: int

    @property
    def key(self) -> str:
        """Idempotency key: the same for every attempt at this notification, different
        for any notification covering a newer message."""
        return f"{self.user_id}:{self.conv_id}:{self.last_seq}"

    def payload(self) -> dict[str, Any]:
        """The JSON document both providers send (docs/push.md, "Payload")."""
        return {
            "id": self.key,
            "user": self.user_id,
            "conv": {"id": self.conv_id, "kind": self.conv_kind, "title": self.title},
            "count": self.count,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "mention": self.mention,
            "sender": {"id": self.sender_id, "name": self.sender_name},
            "kind": self.message_kind,
            "preview": self.preview,
            "ts": self.ts,
        }


class Provider(Protocol):
    """One way of reaching a user who is offline."""

    async def deliver(self, target: str, notification: Notification) -> Result:
        """Send ``notification`` to ``target`` (provider-specific: a subscription id
        for Web Push, the fixed name ``webhook`` for the webhook). Never raises for
        network or remote failures; those are ``RETRY``."""

    async def close(self) -> None:
        """Release connections."""
