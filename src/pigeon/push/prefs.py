"""A user's notification preferences and the do-not-disturb rule.

Do-not-disturb is a daily window of local time in the user's time zone, from
``dnd_start`` to ``dnd_end`` minutes after midnight; a window whose end is not after
its start spans midnight (22:00 to 07:00). During the window nothing is sent, mentions
included: it is the user's explicit quiet time, while mute is a per-conversation
filter that mentions break through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MINUTES_PER_DAY = 24 * 60


def valid_time_zone(name: str) -> bool:
    if name not in available_timezones() and name != "UTC":
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Preferences:
    enabled: bool = True
    preview: bool = True
    dnd_start: int | None = None  # minutes after local midnight
    dnd_end: int | None = None
    time_zone: str = "UTC"

    def quiet_at(self, now_ms: int) -> bool:
        """Whether ``now_ms`` falls in the do-not-disturb window."""
        if self.dnd_start is None or self.dnd_end is None or self.dnd_start == self.dnd_end:
            return False
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")  # a zone removed from the system since it was saved
        local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone)
        minute = local.hour * 60 + local.minute
        if self.dnd_start < self.dnd_end:
            return self.dnd_start <= minute < self.dnd_end
        return minute >= self.dnd_start or minute < self.dnd_end

    def public(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "preview": self.preview,
            "dnd": None
            if self.dnd_start is None or self.dnd_end is None
            else {"start": _clock(self.dnd_start), "end": _clock(self.dnd_end)},
            "time_zone": self.time_zone,
        }


def parse_clock(text: str) -> int:
    """``"HH:MM"`` (24-hour) → minutes after midnight; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        raise ValueError("time must be HH:MM")
    if not (hours.isdigit() and minutes.isdigit()):
        raise ValueError("time must be HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("time must be between 00:00 and 23:59")
    return value


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
