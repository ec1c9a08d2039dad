"""The store as the core sees it: one object per concern over one database."""

from __future__ import annotations

from dataclasses import dataclass

from pigeon.store import migrate
from pigeon.store.accounts import AccountStore
from pigeon.store.admin import AdminStore
from pigeon.store.audit import AuditStore
from pigeon.store.bans import BanStore
from pigeon.store.conversations import ConversationStore
from pigeon.store.engine import Database
from pigeon.store.groups import GroupStore
from pigeon.store.marks import MarkStore
from pigeon.store.messages import MessageStore
from pigeon.store.retention import RetentionStore
from pigeon.store.search import SearchStore
from pigeon.store.social import SocialStore


@dataclass(frozen=True, slots=True)
class Store:
    db: Database
    accounts: AccountStore
    conversations: ConversationStore
    messages: MessageStore
    groups: GroupStore
    social: SocialStore
    search: SearchStore
    retention: RetentionStore
    admin: AdminStore
    audit: AuditStore
    bans: BanStore
    marks: MarkStore

    @classmethod
    def open(cls, url: str, *, sqlite_synchronous: str = "FULL") -> Store:
        db = Database(url, sqlite_synchronous=sqlite_synchronous)
        return cls(
            db,
            AccountStore(db),
            ConversationStore(db),
            MessageStore(db),
            GroupStore(db),
            SocialStore(db),
            SearchStore(db),
            RetentionStore(db),
            AdminStore(db),
            AuditStore(db),
            BanStore(db),
            MarkStore(db),
        )

    async def upgrade(self) -> None:
        await migrate.upgrade(self.db)

    async def close(self) -> None:
        await self.db.close()
