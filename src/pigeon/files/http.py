"""HTTP handlers for files: multipart upload, tus 1.0 uploads, file objects, downloads.

They are plain aiohttp handlers rather than FastAPI routes because upload bodies
are streamed straight to blob storage (never held in memory) and downloads go
out through ``FileResponse`` (sendfile, Range requests). Every error is the JSON
envelope with a stable code, as everywhere else.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from pigeon.core.accounts import Principal
from pigeon.core.ratelimit import RateLimited
from pigeon.files.images import sanitize_filename
from pigeon.files.service import Download, FileService
from pigeon.files.signing import VARIANTS, FileError
from pigeon.protocol.cursors import parse_client_int
from pigeon.protocol.errors import ErrorCode, PigeonError
from pigeon.protocol.text import TextKind, check
from pigeon.store.files import AVATAR_URL_PREFIX

log = logging.getLogger("pigeon.files")

Authenticate = Callable[[str], Awaitable[Principal]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
TUS_CONTENT_TYPE = "application/offset+octet-stream"
UPLOADS_PATH = "/api/v1/uploads"
FILES_PATH = "/api/v1/files"
# Paths whose bodies are streamed by these handlers, exempt from the JSON body limit.
STREAMED_BODY_PATHS = (FILES_PATH, UPLOADS_PATH)

_CHUNK = 64 * 1024
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
_MAX_PARTS = 8
_MAX_FIELD_BYTES = 16 * 1024
# Downloads run in the API's origin: never let one execute or frame anything.
_DOWNLOAD_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def envelope_error(error: PigeonError, headers: dict[str, str] | None = None) -> web.Response:
    body = {"code": int(error.code), "message": error.message, "data": error.details}
    return web.json_response(body, status=error.code.http_status, headers=headers)


def _enveloped(handler: Handler, *, tus: bool = False) -> Handler:
    extra = {"Tus-Resumable": TUS_VERSION} if tus else {}

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except PigeonError as exc:
            headers = {**extra, "Cache-Control": "no-store"}
            if isinstance(exc, RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            return envelope_error(exc, headers)
        except Exception:
            log.exception("file request failed", extra={"path": request.path})
            return envelope_error(PigeonError(ErrorCode.INTERNAL), extra)
        if not response.prepared:
            response.headers.update(extra)
        return response

    return wrapped


class FileHandlers:
    def __init__(
        self,
        files: FileService,
        authenticate: Authenticate,
        public_url: str | None,
    ) -> None:
        self.files = files
        self.authenticate = authenticate
        self.public_url = public_url.rstrip("/") if public_url else None

    def routes(self) -> list[web.RouteDef]:
        uploads = f"{UPLOADS_PATH}/{{file_id}}"
        return [
            web.post(FILES_PATH, _enveloped(self.upload_multipart)),
            web.get(f"{FILES_PATH}/{{file_id}}", _enveloped(self.describe), allow_head=False),
            web.get(f"{FILES_PATH}/{{file_id}}/{{variant}}", _enveloped(self.download)),
            web.get(f"{AVATAR_URL_PREFIX}{{file_id}}", _enveloped(self.avatar)),
            web.options(UPLOADS_PATH, self.tus_options),
            web.options(UPLOADS_PATH + "/", self.tus_options),
            web.post(UPLOADS_PATH, _enveloped(self.tus_create, tus=True)),
            web.post(UPLOADS_PATH + "/", _enveloped(self.tus_create, tus=True)),
            web.options(uploads, self.tus_options),
            web.head(uploads, _enveloped(self.tus_head, tus=True)),
            web.patch(uploads, _enveloped(self.tus_patch, tus=True)),
            web.delete(uploads, _enveloped(self.tus_delete, tus=True)),
        ]

    # --- shared

    async def _principal(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PigeonError(ErrorCode.NOT_AUTHENTICATED)
        return await self.authenticate(token.strip())

    def _base_url(self, request: web.Request) -> str:
        return self.public_url or f"{request.scheme}://{request.host}"

    # --- one-shot upload and file objects

    async def upload_multipart(self, request: web.Request) -> web.Response:
        principal = await self._principal(request)
        limit = self.files.limits.max_upload_bytes
        if (
            request.content_length is not None
            and request.content_length > limit + _MULTIPART_OVERHEAD
        ):
            raise FileError(ErrorCode.FILE_TOO_LARGE, details={"max_upload_bytes": limit})
        if not request.content_type.startswith("multipart/"):
            raise FileError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send multipart/form-data with a 'file' part"
            )
        reader, part = await _file_part(request)
        name = sanitize_filename(_checked_text("filename", part.filename, TextKind.NAME))
        record = await self.files.upload_whole(principal.user_id, name, _part_chunks(reader, part))
        data = self.files.public(record, self._base_url(request))
        return web.json_response({"code": 0, "message": "ok", "data": data}, status=201)

    async def describe(self, request: web.Request) -> web.Response:
        principal = await self._principal(request)
        data = await self.files.describe(
            request.match_info["file_id"], principal.user_id, self._base_url(request)
        )
        return web.json_response(
            {"code": 0, "message": "ok", "data": data}, headers={"Cache-Control": "no-store"}
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        variant = request.match_info["variant"]
        if variant not in VARIANTS:
            raise FileError(ErrorCode.NOT_FOUND)
        found = await self.files.download(
            request.match_info["file_id"],
            variant,
            request.query.get("exp"),
            request.query.get("sig"),
        )
        return web.FileResponse(found.path, headers=_download_headers(found, variant))

    async def avatar(self, request: web.Request) -> web.Response:
        """A user's or group's avatar, for anyone (an <img> sends no token): a redirect to a freshly
        signed link of its thumbnail, or of the image when it has none. Only files some
        user or group shows as their avatar are served this way."""
        file_id = request.match_info["file_id"]
        record = await self.files.store.get(file_id)
        if record is None or not await self.files.store.is_avatar(file_id):
            raise FileError(ErrorCode.FILE_NOT_FOUND)
        links = self.files.public(record, self._base_url(request))
        return web.Response(
            status=302,
            headers={
                "Location": links.get("thumbnail_url") or links["url"],
                "Cache-Control": "public, max-age=60",
            },
        )

    # --- tus 1.0: core, creation, termination

    async def tus_options(self, request: web.Request) -> web.Response:
        return web.Response(
            status=204,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(self.files.limits.max_upload_bytes),
            },
        )

    async def tus_create(self, request: web.Request) -> web.Response:
        _check_tus_version(request)
        principal = await self._principal(request)
        if "Upload-Defer-Length" in request.headers:
            raise FileError(ErrorCode.BAD_REQUEST, "Upload-Defer-Length is not supported")
        length = _header_int(request, "Upload-Length")
        metadata = _parse_metadata(request.headers.get("Upload-Metadata", ""))
        name = sanitize_filename(metadata.get("filename") or metadata.get("name"))
        record = await self.files.create_upload(principal.user_id, length, name)
        location = f"{self._base_url(request)}{UPLOADS_PATH}/{record.id}"
        return web.json_response(
            {"code": 0, "message": "ok", "data": {"id": record.id, "offset": 0, "length": length}},
            status=201,
            headers={"Location": location, "Upload-Offset": "0"},
        )

    async def tus_head(self, request: web.Request) -> web.Response:
        _check_tus_version(request)
        principal = await self._principal(request)
        offset, record = await self.files.offset(request.match_info["file_id"], principal.user_id)
        return web.Response(
            status=200,
            headers={
                "Upload-Offset": str(offset),
                "Upload-Length": str(record.length),
                "Cache-Control": "no-store",
            },
        )

    async def tus_patch(self, request: web.Request) -> web.Response:
        _check_tus_version(request)
        principal = await self._principal(request)
        if request.content_type != TUS_CONTENT_TYPE:
            raise FileError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {TUS_CONTENT_TYPE}"
            )
        offset = _header_int(request, "Upload-Offset")
        new_offset, _ = await self.files.append(
            request.match_info["file_id"],
            principal.user_id,
            offset,
            _body_chunks(request),
            request.content_length,
        )
        return web.Response(status=204, headers={"Upload-Offset": str(new_offset)})

    async def tus_delete(self, request: web.Request) -> web.Response:
        _check_tus_version(request)
        principal = await self._principal(request)
        await self.files.terminate(request.match_info["file_id"], principal.user_id)
        return web.Response(status=204)


def _check_tus_version(request: web.Request) -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise FileError(ErrorCode.TUS_VERSION_UNSUPPORTED)


def _header_int(request: web.Request, name: str) -> int:
    value = parse_client_int(request.headers.get(name, ""))
    if value is None:
        raise FileError(ErrorCode.BAD_REQUEST, f"{name} must be a non-negative integer")
    return value


def _checked_text(where: str, value: str | None, kind: TextKind) -> str | None:
    """``value`` unless it breaks its ``protocol.text`` rule (an empty one is left unset)."""
    if value:
        violation = check(kind, value)
        if violation is not None:
            raise FileError(violation.code, f"{where} {violation.reason}")
    return value


def _parse_metadata(raw: str) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    found: dict[str, str] = {}
    for pair in raw.split(",")[:32]:
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        try:
            text = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise FileError(
                ErrorCode.BAD_REQUEST, f"Upload-Metadata {key!r} is not base64"
            ) from None
        kind = TextKind.NAME if key in ("filename", "name") else TextKind.LINE
        found[key] = _checked_text(f"Upload-Metadata {key!r}", text, kind) or ""
    return found


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The body as it arrives; a dropped connection just ends it (tus keeps what came)."""
    try:
        async for chunk in request.content.iter_chunked(_CHUNK):
            yield chunk
    except Exception as exc:  # aiohttp reports a cut-off body as a payload error
        log.info(
            "upload body interrupted", extra={"path": request.path, "error": type(exc).__name__}
        )


@contextmanager
def _multipart_errors(code: ErrorCode = ErrorCode.MULTIPART_INVALID) -> Iterator[None]:
    """What aiohttp's multipart reader raises on a malformed body, as a client error."""
    try:
        yield
    except LineTooLong:
        raise FileError(
            ErrorCode.MULTIPART_INVALID, "a multipart header line is too long"
        ) from None
    except (ValueError, LookupError, AssertionError, HttpProcessingError):
        raise FileError(code) from None


async def _file_part(request: web.Request) -> tuple[MultipartReader, BodyPartReader]:
    with _multipart_errors():
        reader = await request.multipart()
        for _ in range(_MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise FileError(ErrorCode.BAD_REQUEST, "nested multipart is not supported")
            if part.name == "file":
                return reader, part
            await _skip_small_part(part)
    raise FileError(ErrorCode.BAD_REQUEST, "multipart body has no 'file' part")


async def _skip_small_part(part: BodyPartReader) -> None:
    seen = 0
    while chunk := await part.read_chunk(_CHUNK):
        seen += len(chunk)
        if seen > _MAX_FIELD_BYTES:
            raise FileError(ErrorCode.TOO_LARGE, "form fields besides 'file' must be small")


async def _part_chunks(reader: MultipartReader, part: BodyPartReader) -> AsyncIterator[bytes]:
    """The file part's bytes; raises at the end unless the body closes properly.

    A body cut off before its closing boundary reads like a shorter file: the
    error raised here makes the upload fail instead of storing the truncated file.
    """
    while True:
        with _multipart_errors():
            chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            break
        yield chunk
    with _multipart_errors(ErrorCode.MULTIPART_INCOMPLETE):
        for _ in range(_MAX_PARTS):
            following = await reader.next()
            if following is None:
                return
            if not isinstance(following, BodyPartReader):
                raise FileError(ErrorCode.BAD_REQUEST, "nested multipart is not supported")
            await _skip_small_part(following)
    raise FileError(ErrorCode.BAD_REQUEST, f"multipart body has more than {_MAX_PARTS} parts")


def _content_disposition(kind: str, name: str) -> str:
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _download_headers(found: Download, variant: str) -> dict[str, Any]:
    mime = found.mime + ("; charset=utf-8" if found.mime == "text/plain" else "")
    name = found.name if variant == "content" else "thumbnail"
    return {
        "Content-Type": mime,
        "Content-Disposition": _content_disposition(
            "inline" if found.inline else "attachment", name
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": _DOWNLOAD_CSP,
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-site",
        "Cache-Control": "private, max-age=300",
    }
