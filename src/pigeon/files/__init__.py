"""Files and images: blob storage, upload (multipart and tus), thumbnails, signed URLs."""

from __future__ import annotations
