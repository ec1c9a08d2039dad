"""Avatars of users and groups: always an image the setter uploaded, never a link elsewhere.

A link to another host would make every viewer's client fetch from it, leaking their
addresses. An avatar is given as the file id or as the avatar URL this server returned,
and stored and shown as the server's own path for it (``/api/v1/avatars/<file id>``),
which anyone may fetch while some user or group shows the file.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pigeon.core.errors import CoreError
from pigeon.core.ids import now_ms
from pigeon.protocol.errors import ErrorCode
from pigeon.store.files import AVATAR_URL_PREFIX, FileStore

MAX_AVATAR = 2048
_FILE_ID_RE = re.compile(r"[0-9A-Za-z_\-]{1,64}")  # id-shaped; ownership is checked


def avatar_file_id(given: str) -> str | None:
    """The file id in ``given`` (an id or this server's avatar URL), or None."""
    if len(given) > MAX_AVATAR:
        return None
    path = urlsplit(given).path
    candidate = path[len(AVATAR_URL_PREFIX) :] if path.startswith(AVATAR_URL_PREFIX) else given
    return candidate if _FILE_ID_RE.fullmatch(candidate) else None


async def claim_avatar(files: FileStore | None, uploader_id: str, given: str | None) -> str | None:
    """The stored form of an avatar ``uploader_id`` sets, or AVATAR_NOT_UPLOADED.

    ``None`` clears the avatar. The file must be a complete, displayable image that
    ``uploader_id`` uploaded.
    """
    if given is None:
        return None
    file_id = avatar_file_id(given)
    if file_id is None or files is None:
        raise CoreError(ErrorCode.AVATAR_NOT_UPLOADED)
    record = await files.claim(file_id, uploader_id, now_ms())
    if record is None or not record.displayable:
        raise CoreError(ErrorCode.AVATAR_NOT_UPLOADED)
    return AVATAR_URL_PREFIX + file_id
