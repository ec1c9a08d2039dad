"""The core services in process: for testing rules without a server, sockets or sleeping.

``core_kit`` builds a whole ``PigeonApp`` (the real composition root) on a temporary
SQLite database with the in-memory broker, starts its background work but listens
on nothing, records every event the services publish, and hands the services a
clock that moves only when the test says so. A rule with a time window (recall, a
member's mute) is then tested by moving the clock across the window's edge.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pigeon.app import PigeonApp
from pigeon.broker.base import ConvPush, Event, Membership, Push
from pigeon.config import Settings
from pigeon.protocol.frames import Frame, Send
from pigeon.services import Services
from pigeon.store.records import MessageRecord

KIT_PASSWORD = "kit-password-1"
_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class ManualClock:
    """A clock that stands still until ``advance``; implements ``pigeon.core.clock.Clock``."""

    def __init__(self, start_ms: int = _START_MS) -> None:
        self.now = start_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


@dataclass
class Recorder:
    """Every event the broker carried, in order, and to whom each push went: a
    conversation push to the conversation's members as membership events had it then."""

    events: list[Event] = field(default_factory=list)
    members: dict[str, set[str]] = field(default_factory=dict)  # conv -> users
    delivered: list[tuple[Frame, frozenset[str]]] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Membership):
            users = self.members.setdefault(event.conv_id, set())
            (users.add if event.joined else users.discard)(event.user_id)
        elif isinstance(event, Push):
            self.delivered.append((event.frame, frozenset(event.users)))
        elif isinstance(event, ConvPush):
            to = self.members.get(event.conv_id, set()) - {event.skip_user}
            self.delivered.append((event.frame, frozenset(to)))

    def frames_to(self, user_id: str, kind: str | None = None) -> list[Frame]:
        """The frames pushed to ``user_id`` (of type ``kind``, if given)."""
        return [
            frame
            for frame, users in self.delivered
            if user_id in users and (kind is None or frame.get("t") == kind)
        ]

    def clear(self) -> None:
        self.events.clear()
        self.delivered.clear()


@dataclass
class CoreKit:
    app: PigeonApp
    clock: ManualClock
    pushes: Recorder

    @property
    def services(self) -> Services:
        return self.app.services

    async def user(self, prefix: str = "u") -> str:
        """A new account's id."""
        name = f"{prefix}{secrets.token_hex(4)}"
        return (await self.services.accounts.create_user(name, KIT_PASSWORD)).id

    async def direct(self, user_id: str, peer_id: str) -> str:
        return (await self.services.conversations.open_direct(user_id, peer_id)).id

    async def group(self, owner_id: str, *members: str, **options: Any) -> str:
        created = await self.services.groups.create(owner_id, "kit group", members, **options)
        return created["id"]

    async def send(
        self, user_id: str, conv_id: str, text: str = "hi", **fields: Any
    ) -> MessageRecord:
        request = Send(
            cid=secrets.token_hex(6), conv=conv_id, kind="text", body={"text": text}, **fields
        )
        return await self.services.messaging.send(user_id, request)

    async def amend(self, user_id: str, conv_id: str, kind: str, **body: Any) -> MessageRecord:
        request = Send(cid=secrets.token_hex(6), conv=conv_id, kind=kind, body=body)
        return await self.services.messaging.send(user_id, request)


@contextlib.asynccontextmanager
async def core_kit(directory: Path, **settings: Any) -> AsyncIterator[CoreKit]:
    """A started ``CoreKit`` in ``directory``; ``settings`` override the defaults."""
    chosen = Settings(
        data_dir=directory,
        jwt_secret=secrets.token_urlsafe(32),
        argon2_time_cost=1,
        argon2_memory_kib=256,
        redis_url=None,
        database_url=None,
        **settings,
    )
    clock = ManualClock()
    app = PigeonApp(chosen, clock)
    pushes = Recorder()
    await app.start_core()
    app.broker.subscribe(pushes)
    try:
        yield CoreKit(app, clock, pushes)
    finally:
        await app.stop()
