"""What the audit log records: one typed action per administrative or moderating act.

The strings are part of the public contract (``GET /admin/audit`` returns and filters
by them) and of the stored rows, so they are never renamed, only added.
"""

from __future__ import annotations

from enum import StrEnum

#: The sender (``from``, a system message's ``actor``) of stream entries made by the
#: operator's `pigeon admin` commands, where no account acts; audit rows of those
#: acts have no actor (null).
OPERATOR = "operator"


class AuditAction(StrEnum):
    # server admins (and the operator's `pigeon admin` commands)
    ADMIN_GRANTED = "admin_granted"
    ADMIN_REVOKED = "admin_revoked"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    SESSIONS_ENDED = "sessions_ended"
    MESSAGE_DELETED = "message_deleted"  # a server admin's recall of any message
    # group owners and admins (and server admins acting on a group)
    MEMBER_REMOVED = "member_removed"
    MEMBER_MUTED = "member_muted"
    ROLE_CHANGED = "role_changed"
    OWNERSHIP_TRANSFERRED = "ownership_transferred"
    GROUP_DISSOLVED = "group_dissolved"
    MEMBER_BANNED = "member_banned"
    MEMBER_UNBANNED = "member_unbanned"
    MESSAGE_RECALLED = "message_recalled"  # someone else's message, by a group moderator
    WEBHOOK_DELETED = "webhook_deleted"
