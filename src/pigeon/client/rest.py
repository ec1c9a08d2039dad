"""``PigeonClient``: the REST half of the SDK, and the keeper of the login's tokens.

Every REST response is the envelope ``{code, message, data}``; the helpers
return ``data`` and raise ``PigeonApiError`` for any non-zero code. The client
holds the access token and the rotating refresh token of one login: a call
rejected because the access token expired is refreshed and repeated once, and
refreshes are serialized so a spent refresh token is never replayed (replaying
one revokes the whole login, by the server's contract).
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson

from pigeon.client.channel import TlsOptions
from pigeon.client.connection import Connection, ConnectionOptions
from pigeon.client.errors import PigeonApiError
from pigeon.client.sending import message_body, new_cid
from pigeon.protocol.errors import ErrorCode

JSON = dict[str, Any]
T = TypeVar("T")
API = "/api/v1"


def _error_from_response(status: int, payload: Any, text: str) -> PigeonApiError:
    if isinstance(payload, dict) and isinstance(payload.get("code"), int):
        data = payload.get("data")
        return PigeonApiError(
            payload["code"],
            str(payload.get("message", "")),
            status,
            data if isinstance(data, dict) else None,
        )
    # Not our envelope (e.g. a proxy's error page): keep the status, code it like ours.
    return PigeonApiError(status * 100, text[:200] or f"HTTP {status}", status)


def _json_or_none(text: str) -> Any:
    try:
        return orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        return None


def _envelope_data(status: int, text: str) -> Any:
    """The ``data`` of an envelope whose code is 0; any other answer raises."""
    payload = _json_or_none(text)
    if not isinstance(payload, dict) or payload.get("code") != 0:
        raise _error_from_response(status, payload, text)
    return payload.get("data")


class PigeonClient:
    """Talks to one Pigeon server over REST; ``connect()`` opens the live connection.

    Use as ``async with PigeonClient(base_url) as client:``. After ``register``
    or ``login`` the client holds ``access_token``, ``refresh_token`` and
    ``user``; both tokens may also be given up front to resume a login. ``tls``
    says how to check the server's certificate (``https``, and by default the
    live connection's ``wss``/``tls``); it applies to a session the client
    creates, not to one given.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | None = None,
        refresh_token: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        tls: TlsOptions | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tls = tls
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.user: JSON | None = None
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._refresh_lock = asyncio.Lock()
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()

    # --- lifecycle

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (created on first use unless one was given)."""
        if self._session is None:
            connector = (
                aiohttp.TCPConnector(ssl=self.tls.context()) if self.tls is not None else None
            )
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), connector=connector
            )
        return self._session

    async def close(self) -> None:
        """Close this client's live connections, then its HTTP session if it created it."""
        for connection in list(self._connections):
            await connection.close()
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> PigeonClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- transport

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        auth: bool = True,
    ) -> Any:
        """One REST call under ``/api/v1``; returns the envelope's ``data``.

        With ``auth``, an expired access token is refreshed and the call repeated once.
        """
        if not auth:
            return await self._call_once(method, path, json, params, None)
        return await self._authorized(
            lambda token: self._call_once(method, path, json, params, token)
        )

    async def _authorized(self, attempt: Callable[[str], Awaitable[T]]) -> T:
        """Run ``attempt`` with the access token; once more after a refresh if it expired."""
        token = self._require_token()
        try:
            return await attempt(token)
        except PigeonApiError as exc:
            if exc.code != ErrorCode.TOKEN_EXPIRED or self.refresh_token is None:
                raise
        await self.refresh_if_stale(token)
        return await attempt(self._require_token())

    def _require_token(self) -> str:
        if self.access_token is None:
            raise PigeonApiError(ErrorCode.NOT_AUTHENTICATED, "not logged in", 401)
        return self.access_token

    async def _call_once(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, str | int] | None,
        token: str | None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        clean = {k: str(v) for k, v in (params or {}).items()}
        body = orjson.dumps(json) if json is not None else None
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, f"{self.base_url}{API}{path}", data=body, params=clean, headers=headers
        ) as response:
            return _envelope_data(response.status, await response.text())

    # --- auth

    def _keep_grant(self, grant: JSON) -> JSON:
        self.access_token = grant["access_token"]
        self.refresh_token = grant["refresh_token"]
        self.user = grant.get("user")
        return grant

    async def register(
        self,
        username: str,
        password: str,
        display_name: str | None = None,
        device: str | None = None,
    ) -> JSON:
        """Create an account and log in; returns ``{user, access_token, refresh_token, …}``."""
        body: JSON = {"username": username, "password": password}
        if display_name is not None:
            body["display_name"] = display_name
        if device is not None:
            body["device"] = device
        return self._keep_grant(await self.call("POST", "/auth/register", json=body, auth=False))

    async def login(self, username: str, password: str, device: str | None = None) -> JSON:
        body: JSON = {"username": username, "password": password}
        if device is not None:
            body["device"] = device
        return self._keep_grant(await self.call("POST", "/auth/login", json=body, auth=False))

    async def login_bot(self, token: str, device: str | None = None) -> JSON:
        """Sign in as a bot with its token from ``pigeon bot create`` (docs/bots.md);
        the grant is the same as a password login's, ``user.bot`` true."""
        body: JSON = {"token": token}
        if device is not None:
            body["device"] = device
        return self._keep_grant(await self.call("POST", "/auth/bot", json=body, auth=False))

    async def set_bot_webhook(self, url: str, events: Sequence[str] = ("message",)) -> JSON:
        """Subscribe this bot's outgoing webhook; the answer's ``secret`` signs every
        event and is shown only here."""
        body = {"url": url, "events": list(events)}
        return dict(await self.call("PUT", "/bots/me/webhook", json=body))

    async def create_incoming_webhook(self, conv: str, name: str | None = None) -> JSON:
        """An incoming webhook of ``conv``; the answer's ``url`` holds its secret."""
        body = {"name": name} if name is not None else {}
        return dict(await self.call("POST", f"/conversations/{conv}/webhooks", json=body))

    async def refresh(self) -> JSON:
        """Trade the refresh token for a new pair (the old one is spent)."""
        async with self._refresh_lock:
            return await self._refresh_locked()

    async def refresh_if_stale(self, stale_access_token: str | None) -> None:
        """Refresh unless another caller already replaced ``stale_access_token``.

        Callers that saw the same token fail at the same moment refresh only once.
        """
        async with self._refresh_lock:
            if self.access_token == stale_access_token:
                await self._refresh_locked()

    async def _refresh_locked(self) -> JSON:
        if self.refresh_token is None:
            raise PigeonApiError(ErrorCode.REFRESH_INVALID, "no refresh token", 401)
        grant = await self.call(
            "POST", "/auth/refresh", json={"refresh_token": self.refresh_token}, auth=False
        )
        return self._keep_grant(grant)

    async def logout(self) -> None:
        """Revoke this login (both tokens); its live sockets are closed by the server."""
        await self.call("POST", "/auth/logout")
        self.access_token = self.refresh_token = None

    # --- users

    async def me(self) -> JSON:
        return dict(await self.call("GET", "/users/me"))

    async def update_me(self, **changes: Any) -> JSON:
        """PATCH the caller's profile (``display_name``, ``avatar``, ``dm_policy``)."""
        return dict(await self.call("PATCH", "/users/me", json=changes))

    async def delete_account(self, password: str) -> None:
        """Delete the signed-in account for good (docs/protocol.md, "Deleting an
        account"); a wrong password raises 40101 and changes nothing. This client is
        signed out afterwards."""
        await self.call("DELETE", "/users/me", json={"password": password})
        self.access_token = self.refresh_token = None

    async def export_data(self, path: str | os.PathLike[str]) -> int:
        """Save the caller's data export (a zip; docs/protocol.md, "Exporting your
        data") at ``path``; returns its size in bytes. Raises ``PigeonApiError`` as any
        call does, e.g. 42920 (with ``retry_after``) when exported a short while ago."""

        async def attempt(token: str) -> bytes:
            url = f"{self.base_url}{API}/users/me/export"
            headers = {"Authorization": f"Bearer {token}"}
            async with self.session.post(url, headers=headers) as response:
                if response.status != 200:
                    text = await response.text()
                    raise _error_from_response(response.status, _json_or_none(text), text)
                return await response.read()

        archive = await self._authorized(attempt)
        await asyncio.to_thread(Path(path).write_bytes, archive)
        return len(archive)

    async def get_user(self, user_id: str) -> JSON:
        return dict(await self.call("GET", f"/users/{user_id}"))

    async def search_users(self, q: str, limit: int = 20) -> JSON:
        """``{items: [user], more}``."""
        return dict(await self.call("GET", "/users", params={"q": q, "limit": limit}))

    # --- conversations and messages

    async def open_direct(self, user_id: str) -> JSON:
        """The direct conversation with ``user_id`` (created on first use; idempotent)."""
        return dict(await self.call("POST", "/conversations/direct", json={"user_id": user_id}))

    async def conversations(self, cursor: str | None = None, limit: int | None = None) -> JSON:
        """One page of the conversation list: ``{items, cursor, more}``."""
        params: dict[str, str | int] = {}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        return dict(await self.call("GET", "/conversations", params=params))

    async def history(
        self,
        conv: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> JSON:
        """``{items, more}``, items ascending by seq (see the contract for before/after)."""
        params = {
            k: v
            for k, v in (("before", before), ("after", after), ("limit", limit))
            if v is not None
        }
        return dict(await self.call("GET", f"/conversations/{conv}/messages", params=params))

    async def search_messages(
        self,
        q: str,
        *,
        conv: str | None = None,
        sender: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSON:
        """Messages you may read containing ``q``: ``{items, cursor, more}``, newest first.

        Each item is ``{conv, seq, from, ts, snippet}``; ``snippet`` is a list of plain
        strings whose odd entries are the matches (render as text, never as HTML).
        ``sender`` is sent as the ``from`` filter; ``before``/``after`` are times in ms.
        """
        params: dict[str, str | int] = {"q": q}
        for name, value in (
            ("conv", conv),
            ("from", sender),
            ("before", before),
            ("after", after),
            ("limit", limit),
            ("cursor", cursor),
        ):
            if value is not None:
                params[name] = value
        return dict(await self.call("GET", "/search/messages", params=params))

    async def send_rest(
        self,
        conv: str,
        kind: str = "text",
        body: Mapping[str, Any] | str | None = None,
        *,
        reply_to: int | None = None,
        mentions: list[str] | None = None,
        cid: str | None = None,
    ) -> JSON:
        """Send over REST; returns the ack ``{conv, seq, id, ts, cid}``.

        Repeating a call with the same ``cid`` returns the original ack.
        """
        payload: JSON = {"cid": cid or new_cid(), "kind": kind, "body": message_body(kind, body)}
        if reply_to is not None:
            payload["reply_to"] = reply_to
        if mentions is not None:
            payload["mentions"] = mentions
        return dict(await self.call("POST", f"/conversations/{conv}/messages", json=payload))

    async def forward(self, conv: str, seq: int, to: str, *, cid: str | None = None) -> JSON:
        """Forward message ``seq`` of ``conv`` into conversation ``to``; returns the copy's
        ack. The copy carries ``forwarded: {from, ts}``; the same ``cid`` returns the
        first copy's ack."""
        payload: JSON = {"cid": cid or new_cid(), "to": to}
        return dict(
            await self.call("POST", f"/conversations/{conv}/messages/{seq}/forward", json=payload)
        )

    async def retention(self, conv: str) -> JSON:
        """``{conv, days, effective_days, first_seq}``: how long ``conv`` keeps messages."""
        return dict(await self.call("GET", f"/conversations/{conv}/retention"))

    async def set_retention(self, conv: str, days: int | None) -> JSON:
        """Keep ``conv``'s messages ``days`` (0: forever; None: as the server does).
        Groups and channels only, by their owner and admins."""
        return dict(await self.call("PUT", f"/conversations/{conv}/retention", json={"days": days}))

    # --- reactions and pins (docs/protocol.md, "Reactions and pins")

    def _reaction_path(self, conv: str, seq: int, emoji: str) -> str:
        return f"/conversations/{conv}/messages/{seq}/reactions/{quote(emoji, safe='')}"

    async def react(self, conv: str, seq: int, emoji: str, *, cid: str | None = None) -> JSON:
        """Add your reaction ``emoji`` to message ``seq``; returns the entry's ack.
        Already there: ``PigeonApiError`` 40920."""
        params = {"cid": cid or new_cid()}
        path = self._reaction_path(conv, seq, emoji)
        return dict(await self.call("POST", path, params=params))

    async def unreact(self, conv: str, seq: int, emoji: str, *, cid: str | None = None) -> JSON:
        """Remove your reaction ``emoji`` from message ``seq``; not there: 40920."""
        params = {"cid": cid or new_cid()}
        path = self._reaction_path(conv, seq, emoji)
        return dict(await self.call("DELETE", path, params=params))

    async def pin(self, conv: str, seq: int, *, cid: str | None = None) -> JSON:
        """Pin message ``seq`` for the conversation; returns the ``pin`` entry's ack."""
        payload = {"seq": seq, "cid": cid or new_cid()}
        return dict(await self.call("POST", f"/conversations/{conv}/pins", json=payload))

    async def unpin(self, conv: str, seq: int, *, cid: str | None = None) -> JSON:
        """Unpin message ``seq``; returns the ``unpin`` entry's ack."""
        params = {"cid": cid or new_cid()}
        return dict(await self.call("DELETE", f"/conversations/{conv}/pins/{seq}", params=params))

    async def pins(self, conv: str) -> list[JSON]:
        """The pinned messages you may read, newest pin first: ``[{seq, by, at, message}]``."""
        page = await self.call("GET", f"/conversations/{conv}/pins")
        return [dict(item) for item in page["items"]]

    async def mark_read(self, conv: str, seq: int) -> JSON:
        """Move the read watermark (only forward); returns ``{conv, read_seq, recv_seq}``."""
        return dict(await self.call("PUT", f"/conversations/{conv}/read", json={"seq": seq}))

    # --- files (docs/files.md)

    async def upload_file(self, name: str, data: bytes, content_type: str | None = None) -> JSON:
        """Upload ``data`` in one shot (``POST /files``); returns the file object.

        ``name`` is kept as the file's name; the server sniffs the real type from the
        bytes, so ``content_type`` (guessed from the name when absent) is only a hint.
        """
        mime = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"

        async def attempt(token: str) -> JSON:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=name, content_type=mime)
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{self.base_url}{API}/files"
            async with self.session.post(url, data=form, headers=headers) as response:
                return dict(_envelope_data(response.status, await response.text()))

        return await self._authorized(attempt)

    async def file_info(self, file_id: str) -> JSON:
        """The file object ``{id, url, mime, size, name, width?, height?, …}``; its
        ``url`` is signed afresh and works without a token until ``url_expires_at``."""
        return dict(await self.call("GET", f"/files/{file_id}"))

    async def download_file(self, file_id: str) -> tuple[JSON, bytes]:
        """The file object and the file's bytes, fetched through a freshly signed link."""
        info = await self.file_info(file_id)
        async with self.session.get(str(info["url"])) as response:
            if response.status != 200:
                text = await response.text()
                raise _error_from_response(response.status, _json_or_none(text), text)
            return info, await response.read()

    async def config(self) -> JSON:
        """``{ws_url, version, limits, features}`` (no auth needed)."""
        return dict(await self.call("GET", "/config", auth=False))

    # --- live connection

    async def connect(
        self, device: str | None = None, options: ConnectionOptions | None = None
    ) -> Connection:
        """Open the live connection (see ``Connection``); returns once it is caught up."""

        connection = Connection(self, device=device, options=options)
        self._connections.add(connection)
        await connection.start()
        return connection
