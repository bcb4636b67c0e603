"""Photos and documents of hidden hazards and inspections: checked by content, stored
content-addressed (SHA-256).

A small storage interface with two backends, chosen by RISKMAP_FILES_BACKEND: `local` (the default)
under `$RISKMAP_DATA_DIR/files/`, or `s3`, an S3-compatible object store (boto3). Either way the same
bytes are stored once, whatever name they came with. The type is sniffed from the bytes (filetype),
never taken from the name or the client's Content-Type: images, PDF and office documents only.

Both backends answer alike: a digest that is not SHA-256 hex is a ValueError (a programming error),
bytes that do not hash to the digest are refused (ValueError), a missing file is StoredFileMissing
(a NotFound: 404), and a store that cannot be reached is StorageUnavailable (503). The bytes are
written before the database row that names them commits: a failed commit leaves orphan bytes, which
are harmless (the next upload of the same content finds them), never a row without its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import filetype

from backend.core.config import FileStorageSettings, paths
from backend.domain.errors import Invalid, NotFound, Unavailable

log = logging.getLogger("riskmap.files")

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


class StoredFileMissing(NotFound):
    """The database names a file whose bytes the store does not have (HTTP 404, never a 500)."""


class StorageUnavailable(Unavailable):
    """The object store could not be reached, refused our credentials or failed: the request may be
    retried later (HTTP 503 with Retry-After, backend/api/errors.py; a page shows its form again
    with the reason); nothing was recorded."""


class Storage(Protocol):
    """Where the bytes live; keyed by their SHA-256."""

    def put(self, digest: str, data: bytes) -> None: ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...


def _checked(digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("not a SHA-256 digest")
    return digest


def _verify(digest: str, data: bytes) -> None:
    """Refuse bytes that are not the content their key claims (a caller's bug, never stored)."""
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"the bytes do not hash to {digest}")


@dataclass(frozen=True)
class LocalStorage:
    """Files under a folder, fanned out by the digest's first two characters."""

    root: Path

    def _path(self, digest: str) -> Path:
        digest = _checked(digest)
        return self.root / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> None:
        target = self._path(digest)
        _verify(digest, data)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # atomic: a reader never sees half a file

    def get(self, digest: str) -> bytes:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise StoredFileMissing(f"附件内容缺失（{digest[:12]}…）") from None

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Storage:
    """Objects in an S3-compatible bucket under `<prefix>/<first 2 hex>/<sha256>`.

    A put checks the bytes against the digest, is skipped when the object exists (HEAD), and
    otherwise sends the SHA-256 taken from the digest itself (x-amz-checksum-sha256, kept with the
    object) and the bytes' MD5 (Content-MD5, which every S3-compatible store checks): bytes altered
    on the way are refused by the store, and nothing is kept. A get checks what came back against
    the digest. The credentials need s3:GetObject, s3:PutObject and s3:ListBucket (without the
    last, S3 answers a HEAD of a missing key with 403). Timeouts and retries are botocore's
    (connect/read timeouts, standard retry mode). Calls block: the routes that use it are plain
    `def` routes, run in the threadpool, never on the event loop."""

    def __init__(self, settings: FileStorageSettings) -> None:
        import boto3  # imported here: a deployment on local files never loads it
        from botocore.config import Config

        secret = settings.s3_secret_access_key
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_key_prefix
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            config=Config(
                connect_timeout=settings.s3_connect_timeout_s,
                read_timeout=settings.s3_read_timeout_s,
                retries={"mode": "standard", "max_attempts": settings.s3_max_attempts},
                s3={"addressing_style": settings.s3_addressing_style},
                # Only the checksums we send ourselves: stores that predate flexible checksums
                # accept a plain PUT with Content-MD5, not an aws-chunked body with a trailer.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def key(self, digest: str) -> str:
        digest = _checked(digest)
        return f"{self.prefix}/{digest[:2]}/{digest}" if self.prefix else f"{digest[:2]}/{digest}"

    def _unavailable(self, action: str, digest: str, exc: Exception) -> StorageUnavailable:
        log.warning("object store: %s %s in bucket %s failed: %s", action, self.key(digest), self.bucket, exc)
        return StorageUnavailable(f"对象存储暂时无法访问（{action}），请稍后重试")

    def exists(self, digest: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return False
            raise self._unavailable("查询", digest, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("查询", digest, exc) from exc
        return True

    def put(self, digest: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key(digest)
        _verify(digest, data)
        if self.exists(digest):
            return
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
                ContentMD5=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
                ContentType="application/octet-stream",
            )
        except ClientError as exc:
            # BadDigest and the like: our bytes were right (checked above) but arrived altered; the
            # store kept nothing. Like any other refusal: retry later.
            raise self._unavailable("写入", digest, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("写入", digest, exc) from exc

    def get(self, digest: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=self.key(digest))["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise StoredFileMissing(f"附件内容缺失（{digest[:12]}…）") from None
            raise self._unavailable("读取", digest, exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable("读取", digest, exc) from exc
        try:
            _verify(digest, data)  # content-addressed: what comes back is checked too
        except ValueError as exc:
            raise self._unavailable("读取", digest, exc) from exc
        return data


def _code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ('NoSuchKey', '404', 'BadDigest', …)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def settings() -> FileStorageSettings:
    """The file-storage settings, validated: an incomplete `s3` configuration raises, naming what is
    missing (called when the app starts, so a bad configuration stops it there)."""
    return FileStorageSettings()


@lru_cache
def storage() -> Storage:
    """The configured store, made once (an S3 client is thread-safe and costly to make); tests that
    switch the backend call `storage.cache_clear()`."""
    conf = settings()
    if conf.files_backend == "s3":
        return S3Storage(conf)
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
