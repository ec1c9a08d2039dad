"""Logins recently verified for a socket connect, kept for ``auth_cache_s``: ``LoginCache``.

Every connect used to read the login and its user from the database, though a
reconnect storm asks about the same few logins over and over. A login found
active is remembered for a few seconds, so a socket connect is then checked
with the token's signature alone.

Revocations still win: every revocation (logout, disable, delete, password
change, refresh-token replay, expired guest) publishes a ``Kick`` for the
login or user, which reaches every node's subscribers; this cache forgets what
a kick names as it arrives. A kick that never reaches a node (pub/sub is at
most once; an operator's command run without the cluster's broker) leaves
that node accepting the revoked login for at most ``auth_cache_s`` more, and
the periodic revocation check closes such sockets within
``revocation_check_s`` (docs/operations.md, "Every setting").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pigeon.broker.base import Event, Kick

#: Most logins remembered; the oldest go first beyond it.
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    user_id: str
    device: str
    bot: bool
    until: float  # monotonic time after which the database is asked again


class LoginCache:
    __slots__ = ("_clock", "_entries", "_forgets", "ttl_s")

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, VerifiedLogin] = {}
        self._forgets = 0  # kicks seen: a lookup that overlapped one is not kept

    @property
    def generation(self) -> int:
        """Take before reading the database; pass to ``remember``."""
        return self._forgets

    def get(self, login_id: str) -> VerifiedLogin | None:
        entry = self._entries.get(login_id)
        if entry is None:
            return None
        if entry.until <= self._clock():
            del self._entries[login_id]
            return None
        return entry

    def remember(
        self, login_id: str, user_id: str, device: str, bot: bool, generation: int
    ) -> None:
        """Keep a login the database just called active, unless a kick arrived while
        it was being read (it may have revoked exactly this login)."""
        if self.ttl_s <= 0 or generation != self._forgets:
            return
        self._entries.pop(login_id, None)  # re-inserted last: the oldest go first
        self._entries[login_id] = VerifiedLogin(user_id, device, bot, self._clock() + self.ttl_s)
        if len(self._entries) > MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]

    def on_event(self, event: Event) -> None:
        """A broker subscriber: forget every login a kick names (a user's, all of them)."""
        if not isinstance(event, Kick):
            return
        self._forgets += 1
        for login_id in event.login_ids:
            self._entries.pop(login_id, None)
        if event.user_id is not None:
            gone = [k for k, v in self._entries.items() if v.user_id == event.user_id]
            for login_id in gone:
                del self._entries[login_id]
