"""Page sizes: what a caller gets when it names no limit, and the most it may ask for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Paging:
    default: int
    maximum: int

    def clamp(self, limit: int | None) -> int:
        return self.default if limit is None else max(1, min(limit, self.maximum))
