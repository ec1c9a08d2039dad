"""Sniffing, image inspection and filename sanitising, as pure functions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pigeon.files.images import inspect_image, sanitize_filename, sniff
from pigeon.files.signing import FileError, UrlSigner
from pigeon.protocol.errors import ErrorCode


def _save(path: Path, image: Image.Image, fmt: str, **options: object) -> Path:
    image.save(path, format=fmt, **options)
    return path


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_images_are_sniffed_from_their_bytes(fmt: str, mime: str) -> None:
    assert sniff(_encoded(Image.new("RGB", (4, 4)), fmt)) == mime


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"PK\x03\x04rest", "application/zip"),
        (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
        (b"hello, world\n", "text/plain"),
        (b"<!doctype html><script>", "application/octet-stream"),
        (b"  <svg xmlns='http://www.w3.org/2000/svg'>", "application/octet-stream"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_other_types_and_markup_is_never_text(head: bytes, mime: str) -> None:
    assert sniff(head) == mime


def test_orientation_is_applied_and_the_thumbnail_has_no_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored landscape, shown portrait
    exif[0x010F] = "Camera"
    path = _save(tmp_path / "p.jpg", Image.new("RGB", (1200, 800), "red"), "JPEG", exif=exif)
    info = inspect_image(path, max_pixels=10_000_000, thumbnail_px=320)
    assert info is not None
    assert (info.mime, info.width, info.height, info.animated) == ("image/jpeg", 800, 1200, False)
    assert info.thumbnail_mime == "image/jpeg"
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (213, 320)
        assert not thumb.getexif()
        assert "icc_profile" not in thumb.info


def test_transparency_keeps_a_png_thumbnail(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", Image.new("RGBA", (50, 40), (0, 0, 0, 0)), "PNG")
    info = inspect_image(path, max_pixels=10_000, thumbnail_px=320)
    assert info is not None
    assert (info.width, info.height, info.thumbnail_mime) == (50, 40, "image/png")


def test_animated_gif_is_flagged_and_thumbnailed_from_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (400, 200), colour) for colour in ("red", "green", "blue")]
    path = tmp_path / "a.gif"
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    info = inspect_image(path, max_pixels=1_000_000, thumbnail_px=100)
    assert info is not None
    assert (info.width, info.height, info.animated) == (400, 200, True)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (100, 50)


def test_the_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", Image.new("1", (3000, 3000)), "PNG")
    assert inspect_image(path, max_pixels=8_999_999, thumbnail_px=320) is None
    assert inspect_image(path, max_pixels=9_000_000, thumbnail_px=320) is not None


@pytest.mark.parametrize("content", [b"not an image", b"\x89PNG\r\n\x1a\ntruncated"])
def test_undecodable_content_is_no_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x"
    path.write_bytes(content)
    assert inspect_image(path, max_pixels=1_000_000, thumbnail_px=320) is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\secret.txt", "secret.txt"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        (".htaccess", "htaccess"),
        ("bad\x00name\n.txt", "badname.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ],
)
def test_filenames_are_sanitised(raw: str | None, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_filenames_keep_their_extension() -> None:
    name = sanitize_filename("x" * 1000 + ".jpeg")
    assert len(name) == 255
    assert name.endswith(".jpeg")
    assert len(sanitize_filename("y" * 1000)) == 255


def test_signed_links_verify_and_expire() -> None:
    signer = UrlSigner("secret")
    sig = signer.sign("f_1", "content", 2000)
    signer.verify("f_1", "content", "2000", sig, now_s=1999)
    cases = [
        (("f_1", "content", "2000", sig, 2000), ErrorCode.FILE_URL_EXPIRED),
        (("f_2", "content", "2000", sig, 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "thumbnail", "2000", sig, 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "content", "2001", sig, 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "content", "2000", sig + "x", 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "content", "-5", sig, 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "content", "2000", "\u00e9", 1), ErrorCode.FILE_URL_INVALID),
        (("f_1", "content", None, None, 1), ErrorCode.FILE_URL_INVALID),
    ]
    for (file_id, variant, exp, given, now), code in cases:
        with pytest.raises(FileError) as caught:
            signer.verify(file_id, variant, exp, given, now_s=now)
        assert caught.value.code == code
    assert UrlSigner("other").sign("f_1", "content", 2000) != sig


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_within_the_limit(tmp_path: Path) -> None:
    # 12 M pixels stored, but decoding at 1/4 scale (1000 x 750) covers a 320 thumbnail.
    path = _save(tmp_path / "big.jpg", Image.new("RGB", (4000, 3000), "blue"), "JPEG")
    info = inspect_image(path, max_pixels=1_000_000, thumbnail_px=320)
    assert info is not None
    assert (info.width, info.height) == (4000, 3000)
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (320, 240)
    # A PNG has no reduced decoding: the same pixels are refused.
    png = _save(tmp_path / "big.png", Image.new("RGB", (4000, 3000), "blue"), "PNG")
    assert inspect_image(png, max_pixels=1_000_000, thumbnail_px=320) is None


def test_orientation_survives_the_early_reduction(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    image = Image.new("RGBA", (2000, 1000), (10, 20, 30, 128))
    path = _save(tmp_path / "r.png", image, "PNG", exif=exif)
    info = inspect_image(path, max_pixels=10_000_000, thumbnail_px=100)
    assert info is not None
    assert (info.width, info.height, info.thumbnail_mime) == (1000, 2000, "image/png")
    with Image.open(io.BytesIO(info.thumbnail)) as thumb:
        assert thumb.size == (50, 100)
