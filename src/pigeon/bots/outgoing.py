"""Outgoing webhooks: each message a bot is to hear of, POSTed to the bot's URL.

The events ride the notification outbox (docs/push.md, "How it works"): the planner
derives them from the stored message stream past each conversation's cursor
(``push.planner.bot_jobs``), one row per (bot, message) with the target
``BOT_TARGET``, and the dispatcher leases, retries and dead-letters them like any
notification. So an event survives a crash between commit and delivery, two nodes
never send the same row at once, and a receiver may see an event twice (at least
once): ``id`` is the same on every attempt.

This module is the provider: it turns one planned row into the event document and
sends it with the push webhook's signature scheme, under the bot's own secret.
"""

from __future__ import annotations

from typing import Any

import orjson

from pigeon.bots.store import BotStore
from pigeon.push.base import Notification, Outcome, Result
from pigeon.push.webhook import SignedPoster
from pigeon.store.accounts import AccountStore
from pigeon.store.messages import MessageStore
from pigeon.store.records import MessageRecord, UserRecord

EVENT_TYPE = "message"


def event_payload(
    note: Notification, message: MessageRecord, sender: UserRecord | None
) -> dict[str, Any]:
    """The document a bot's webhook receives (docs/bots.md, "Event payload")."""
    return {
        "id": note.key,
        "type": EVENT_TYPE,
        "bot": note.user_id,
        "conv": {"id": note.conv_id, "kind": note.conv_kind, "title": note.title},
        "mention": note.mention,
        "message": message.public(),
        "sender": sender.public() if sender is not None else {"id": message.sender_id},
    }


class BotWebhookProvider:
    """Delivers planned bot events; the target is always ``BOT_TARGET`` and the
    notification's user is the bot."""

    def __init__(
        self,
        bots: BotStore,
        messages: MessageStore,
        accounts: AccountStore,
        poster: SignedPoster,
    ) -> None:
        self.bots = bots
        self.messages = messages
        self.accounts = accounts
        self.poster = poster

    async def deliver(self, target: str, notification: Notification) -> Result:
        hook = await self.bots.webhook(notification.user_id)
        if hook is None:  # unsubscribed since: nothing to send, nobody to blame
            return Result(Outcome.GONE, "the bot has no webhook any more")
        message = await self.messages.message_at(notification.conv_id, notification.last_seq)
        if message is None:
            return Result(Outcome.GONE, "the message is gone")
        sender = await self.accounts.user_by_id(message.sender_id)
        body = orjson.dumps(event_payload(notification, message, sender))
        return await self.poster.post(hook.url, hook.secret, notification.key, body)

    async def close(self) -> None:
        await self.poster.close()
