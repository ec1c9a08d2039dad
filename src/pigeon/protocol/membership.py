"""The kinds of conversation, member roles and member states, as clients see them.

These strings are part of the public contract (REST views and WebSocket frames
carry them) and of the stored rows, so they are ``StrEnum``s: a member compares
equal to its string and serialises as it, while code names them by member.
"""

from __future__ import annotations

from enum import StrEnum


class ConversationKind(StrEnum):
    DIRECT = "direct"  # two people; created on first use
    GROUP = "group"  # everyone posts; members see each other
    CHANNEL = "channel"  # owner and admins post; subscribers read

    @property
    def is_group_like(self) -> bool:
        """Groups and channels have owners, admins, titles and member lists."""
        return self is not ConversationKind.DIRECT


class Visibility(StrEnum):
    PRIVATE = "private"  # joined by invitation only, not listed
    PUBLIC = "public"  # listed in the directory; anyone may join


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def is_admin(self) -> bool:
        """Owners are admins too."""
        return self is not Role.MEMBER


class MemberState(StrEnum):
    ACTIVE = "active"
    LEFT = "left"  # left on their own; may rejoin a public group
    REMOVED = "removed"  # removed by an admin
