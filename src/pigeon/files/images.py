"""Content sniffing and image handling: dimensions and thumbnails, safely.

Types come from the bytes, never from a name or a client's claim. An image is
only *displayable* (served inline, given dimensions and a thumbnail) when Pillow
decodes it as one of the allow-listed formats and its pixel count is within the
configured limit; anything else — including a decompression bomb — is kept as
a plain attachment. Thumbnails have the EXIF orientation applied and carry no
metadata (no EXIF, GPS, ICC or text chunks): they are freshly encoded pixels.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

# Formats we decode and serve inline; everything else is an attachment.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_PILLOW_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})  # orientations that rotate by 90 or 270 degrees

# (offset, signature, mime); checked in order, first match wins.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftypM4A", "audio/mp4"),
    (4, b"ftyp", "video/mp4"),
)
_RIFF_KINDS = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
OCTET_STREAM = "application/octet-stream"


def sniff(head: bytes) -> str:
    """The MIME type the leading bytes show; ``application/octet-stream`` when unsure.

    Markup (HTML, SVG, XML) is deliberately never recognised: it would be text the
    browser might run, so it stays an opaque attachment.
    """
    if head[:4] == b"RIFF" and head[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[head[8:12]]
    for offset, signature, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    if _looks_like_plain_text(head):
        return "text/plain"
    return OCTET_STREAM


def _looks_like_plain_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    sample = head.lstrip()[:512].lower()
    if sample.startswith((b"<", b"\xef\xbb\xbf<")):
        return False  # markup: never given a text type a browser could reinterpret
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the end
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    mime: str
    width: int
    height: int
    animated: bool
    thumbnail: bytes
    thumbnail_mime: str


def inspect_image(path: Path, *, max_pixels: int, thumbnail_px: int) -> ImageInfo | None:
    """Dimensions (as displayed) and a thumbnail, or None when this is no displayable image.

    Blocking, CPU- and memory-heavy: run it in a worker process (files/decoder.py).
    Only the header is read before the pixel limit is checked. The limit bounds the
    pixels actually *decoded*: a JPEG is decoded at 1/2, 1/4 or 1/8 scale when that
    still covers the thumbnail (``draft``), so a large photo costs little, while a
    PNG, GIF or WebP is decoded whole and so must itself be within the limit.
    """
    try:
        with Image.open(path, formats=list(_PILLOW_FORMATS)) as image:
            mime = _PILLOW_FORMATS[str(image.format)]
            width, height = image.size
            if width < 1 or height < 1:
                return None
            # JPEG only: pick a reduced decoding scale; other formats keep their size.
            image.draft("RGB", (thumbnail_px * 2, thumbnail_px * 2))
            if image.size[0] * image.size[1] > max_pixels:
                return None
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            if orientation in _SWAPS_AXES:
                width, height = height, width
            animated = bool(getattr(image, "is_animated", False))
            thumbnail, thumbnail_mime = _thumbnail(image, thumbnail_px)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError):
        return None  # undecodable, truncated or refused by Pillow: an attachment
    except MemoryError:
        return None  # the worker's memory is bounded: keep it as an attachment
    return ImageInfo(mime, width, height, animated, thumbnail, thumbnail_mime)


def _thumbnail(image: Image.Image, size: int) -> tuple[bytes, str]:
    image.seek(0)  # first frame of an animation
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    frame: Image.Image = image.convert("RGBA" if has_alpha else "RGB")
    # Shrink by a whole factor first (cheap box averaging) so the copies made below
    # are small; the final resize then starts from at most twice the thumbnail.
    factor = max(1, max(frame.size) // (size * 2))
    if factor > 1:
        frame = frame.reduce(factor)
    frame = ImageOps.exif_transpose(frame)
    frame.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # Saved without exif/icc/pnginfo arguments: the thumbnail carries no metadata.
    if has_alpha:
        frame.save(out, format="PNG", optimize=True)
        return out.getvalue(), "image/png"
    frame.save(out, format="JPEG", quality=82, optimize=True)
    return out.getvalue(), "image/jpeg"


def sanitize_filename(raw: str | None, *, max_chars: int = 255, fallback: str = "file") -> str:
    """A display name: no directories, no control or bidi characters, bounded length.

    The name is metadata only — nothing is ever stored under it — but clients
    show it and offer it as the download name, so it must not carry a path or
    spoof its extension with right-to-left overrides.
    """
    text = unicodedata.normalize("NFC", raw or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    text = text.strip().lstrip(".").strip()
    if not text:
        return fallback
    if len(text) > max_chars:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 16 and stem:
            text = stem[: max_chars - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:max_chars]
    return text
