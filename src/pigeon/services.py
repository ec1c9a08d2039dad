"""The wired services, handed to the REST API and the gateway by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.bots.service import BotService
from pigeon.broker.base import Broker, Presence
from pigeon.config import Settings
from pigeon.core.accounts import AccountService
from pigeon.core.admin import AdminService
from pigeon.core.conversations import ConversationService
from pigeon.core.export import DataExport
from pigeon.core.groups import GroupService
from pigeon.core.lifecycle import AccountDeletion
from pigeon.core.messaging import MessagingService
from pigeon.core.presence import PresenceService
from pigeon.core.ratelimit import KeyedLimiter, LoginGuard
from pigeon.core.receipts import ReceiptService
from pigeon.core.retention import RetentionService
from pigeon.core.search import SearchService
from pigeon.core.social import SocialService
from pigeon.core.typing_indicators import TypingService
from pigeon.files.service import FileService
from pigeon.metrics import Metrics
from pigeon.push.service import PushService
from pigeon.store.facade import Store


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    broker: Broker
    metrics: Metrics
    accounts: AccountService
    conversations: ConversationService
    messaging: MessagingService
    typing: TypingService
    groups: GroupService
    receipts: ReceiptService
    social: SocialService
    online: Presence  # who is connected, on which node (the port)
    presence: PresenceService  # announcing it to those allowed to see
    auth_by_ip: KeyedLimiter
    login_guard: LoginGuard
    files: FileService
    search: SearchService
    push: PushService
    retention: RetentionService
    bots: BotService
    admin: AdminService
    deletion: AccountDeletion
    export: DataExport
