"""Reconnect delays: exponential growth with full jitter, bounded (pure, no I/O).

Full jitter (a delay drawn uniformly from ``[0, cap]`` where the cap doubles per
failed attempt) spreads the reconnects of many clients that lost the same
server at the same moment, so a restarting node is not hit by all of them at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How a ``Connection`` waits between attempts.

    The n-th consecutive failure (n = 0, 1, …) waits a uniform random time in
    ``[0, min(max_delay, initial_delay * factor**n)]``.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.initial_delay <= 0 or self.max_delay < self.initial_delay or self.factor < 1:
            raise ValueError("need 0 < initial_delay <= max_delay and factor >= 1")


class Backoff:
    """Successive delays of one run of failures; ``reset`` after a success."""

    def __init__(self, policy: ReconnectPolicy | None = None, rng: random.Random | None = None):
        self.policy = policy or ReconnectPolicy()
        self._rng = rng or random.Random()
        self.attempt = 0

    def cap(self) -> float:
        """The upper bound of the next delay."""
        policy = self.policy
        # Compare logarithms: factor**attempt itself overflows after enough failures.
        if self.attempt * math.log(policy.factor) >= math.log(
            policy.max_delay / policy.initial_delay
        ):
            return policy.max_delay
        return policy.initial_delay * policy.factor**self.attempt

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        delay = self._rng.uniform(0.0, self.cap())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
