"""Photos and documents of hidden hazards and inspections: checked by content, stored
content-addressed (SHA-256).

A small storage interface with the local default under `$RISKMAP_DATA_DIR/files/`: the same bytes
are stored once, whatever name they came with. The type is sniffed from the bytes (filetype), never
taken from the name or the client's Content-Type: images, PDF and office documents only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

import filetype

from backend.core.config import paths
from backend.domain.errors import Invalid

# What may be attached: sniffed MIME type → what a person calls it.
ALLOWED = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "image/gif": "GIF 图片",
    "image/webp": "WebP 图片",
    "image/heic": "HEIC 图片",
    "application/pdf": "PDF 文件",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint 演示文稿",
    "application/msword": "Word 文档",
    "application/vnd.ms-excel": "Excel 表格",
    "application/vnd.ms-powerpoint": "PowerPoint 演示文稿",
}
MAX_FILE_BYTES = 10 * 1024 * 1024  # per file; the request as a whole is bounded by RISKMAP_MAX_UPLOAD_BYTES


class Storage(Protocol):
    """Where the bytes live; keyed by their SHA-256."""

    def put(self, digest: str, data: bytes) -> None: ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...


@dataclass(frozen=True)
class LocalStorage:
    """Files under a folder, fanned out by the digest's first two characters."""

    root: Path

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a SHA-256 digest")
        return self.root / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> None:
        target = self._path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # atomic: a reader never sees half a file

    def get(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()


def storage() -> Storage:
    return LocalStorage(paths().data_dir / "files")


@dataclass(frozen=True)
class Checked:
    digest: str
    content_type: str
    size: int


def check(data: bytes, max_bytes: int = MAX_FILE_BYTES) -> Checked:
    """The file's digest and sniffed type, or Invalid (empty, too large, or not an allowed type)."""
    if not data:
        raise Invalid("文件为空", "file")
    if len(data) > max_bytes:
        raise Invalid(f"文件超过 {max_bytes // (1024 * 1024)} MB", "file")
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED:
        raise Invalid("只接受图片（JPEG、PNG、GIF、WebP、HEIC）、PDF 和 Office 文档", "file")
    return Checked(hashlib.sha256(data).hexdigest(), kind.mime, len(data))


def safe_name(name: str | None) -> str:
    """The uploaded name without any folder, bounded; only for display."""
    base = os.path.basename((name or "").replace("\\", "/")).strip() or "附件"
    return "".join(c for c in base if c.isprintable())[:200]


def keep(stream: BinaryIO, max_bytes: int = MAX_FILE_BYTES) -> Checked:
    """An upload read (at most one byte past the limit, so a huge one is refused without reading it
    all), checked and stored: what every attachment route does before it records its row."""
    data = stream.read(max_bytes + 1)
    checked = check(data, max_bytes)
    storage().put(checked.digest, data)
    return checked


def served_headers(content_type: str, name: str) -> dict[str, str]:
    """Headers for serving a stored file: its sniffed type is never re-guessed by the browser
    (nosniff), nothing in it runs (a sandboxing CSP), and only an image is shown in place (a phone
    shows the photo); anything else is downloaded under its safe name."""
    kind = "inline" if content_type.startswith("image/") else "attachment"
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name) or "file"
    return {
        "Content-Disposition": f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=3600",
    }
