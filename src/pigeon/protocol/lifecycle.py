"""Words of the account lifecycle that clients and the server share (docs/protocol.md,
"Deleting an account", "Exporting your data")."""

from __future__ import annotations

from enum import StrEnum


class AccountDeletionMode(StrEnum):
    """What becomes of a deleted account's messages (setting ``account_deletion``)."""

    KEEP = "keep"  # they stay, shown as from a deleted user
    REMOVE = "remove"  # recalled in every conversation, the files deleted


#: The display name every deleted account carries from then on.
DELETED_DISPLAY_NAME = "Deleted user"
#: A deleted account's username: ``deleted~<id>``. No sign-up can take it (``~`` is not
#: allowed in usernames), so the old name is free and the row still unique.
DELETED_USERNAME_PREFIX = "deleted~"
