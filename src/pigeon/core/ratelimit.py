"""Token buckets: per connection and per user for sends, keyed ones for logins and uploads."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from pigeon.protocol.errors import ErrorCode, PigeonError


class RateLimited(PigeonError):
    """Refused for now; ``retry_after`` (whole seconds, at least 1) says when to try again.

    REST turns it into 429 with ``Retry-After``; a WebSocket gets an error frame.
    """

    def __init__(self, retry_after: float, code: ErrorCode = ErrorCode.RATE_LIMITED) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(code, details={"retry_after": self.retry_after})


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic() if now is None else now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)  # a clock read out of order adds nothing
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)

    def take(self, now: float | None = None) -> bool:
        self._refill(time.monotonic() if now is None else now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def has_token(self, now: float | None = None) -> bool:
        """Whether ``take`` would succeed now, without taking anything."""
        self._refill(time.monotonic() if now is None else now)
        return self._tokens >= 1

    def retry_after(self) -> float:
        """Seconds until one token is available."""
        return max(0.0, (1 - self._tokens) / self.rate)


class KeyedLimiter:
    """One bucket per key (an IP, a username, a user id), forgetting the least recently used.

    ``per_minute`` tokens a minute, at most ``burst`` (default: a minute's worth)
    at once. Memory stays bounded by ``max_keys`` whatever an attacker sends.
    """

    def __init__(
        self, per_minute: float, max_keys: int = 100_000, *, burst: float | None = None
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute if burst is None else burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket

    def take(self, key: str) -> float | None:
        """None when allowed; otherwise seconds to wait."""
        bucket = self._bucket(key)
        if bucket.take():
            return None
        return bucket.retry_after()

    def wait(self, key: str) -> float | None:
        """Like ``take`` but takes nothing: None when a token is there, else seconds to wait."""
        bucket = self._bucket(key)
        return None if bucket.has_token() else bucket.retry_after()

    def check(self, key: str, code: ErrorCode = ErrorCode.RATE_LIMITED) -> None:
        """Take a token or raise ``RateLimited``."""
        wait = self.take(key)
        if wait is not None:
            raise RateLimited(wait, code)


class LoginGuard:
    """Brute force stays slow; nobody can lock an account's owner out.

    - Every attempt spends from a bucket per (username, address): one host guesses
      slowly, and its failures cost nobody else anything.
    - Failed attempts from addresses that never signed in to that username spend
      from a bucket per username: a botnet guessing from many addresses is slowed
      as a whole. When it is empty, only such unknown addresses are refused
      (``LOGIN_SLOWED``); an address that signed in to the account before passes,
      so the owner's usual devices keep working during an attack.

    Known addresses are remembered per node, a bounded number per username.
    """

    KNOWN_PER_USERNAME = 16

    def __init__(
        self, per_address_per_min: int, failures_per_min: int, max_keys: int = 100_000
    ) -> None:
        self._pairs = KeyedLimiter(per_address_per_min, max_keys)
        self._failures = KeyedLimiter(failures_per_min, max_keys)
        self._known: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._max_keys = max_keys

    @staticmethod
    def _name(username: str) -> str:
        return username.strip().lower()

    def _is_known(self, name: str, address: str) -> bool:
        return address in self._known.get(name, ())

    def check(self, username: str, address: str) -> None:
        """Before verifying a password: raise ``RateLimited`` when this attempt must wait."""
        name = self._name(username)
        self._pairs.check(f"{name}\x00{address}")
        if not self._is_known(name, address):
            wait = self._failures.wait(name)
            if wait is not None:
                raise RateLimited(wait, ErrorCode.LOGIN_SLOWED)

    def failed(self, username: str, address: str) -> None:
        name = self._name(username)
        if not self._is_known(name, address):
            self._failures.take(name)

    def succeeded(self, username: str, address: str) -> None:
        name = self._name(username)
        known = self._known.setdefault(name, OrderedDict())
        self._known.move_to_end(name)
        known[address] = None
        known.move_to_end(address)
        if len(known) > self.KNOWN_PER_USERNAME:
            known.popitem(last=False)
        if len(self._known) > self._max_keys:
            self._known.popitem(last=False)
