"""Where the core services read the time, so rules with windows can be tested without waiting.

Services that judge time windows (the recall window, a member's mute, stamps on
messages and membership changes) take a ``Clock``; production passes
``SystemClock``, the in-process test kit (tests/corekit.py) a clock it moves by hand.
"""

from __future__ import annotations

from typing import Protocol

from pigeon.core.ids import now_ms


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        return now_ms()
