"""Helpers for the hidden-hazard tests: real small files of each kind, and scoped tokens."""

from __future__ import annotations

import io
import struct
import zlib

from openpyxl import Workbook
from sqlalchemy.orm import Session

from backend.core.principal import Role
from backend.core.security import new_api_token, token_digest
from backend.models import ApiToken


def _png() -> bytes:
    """A 1×1 white PNG, built by the format's rules."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _xlsx() -> bytes:
    wb = Workbook()
    assert wb.active is not None
    wb.active["A1"] = "整改验收记录"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
XLSX = _xlsx()


def scoped_token(session: Session, name: str, role: Role, org_id: int | None) -> str:
    """A token acting for an organisation (an enterprise, or a bureau's jurisdiction)."""
    token = new_api_token()
    session.add(ApiToken(name=name, role=str(role), token_hash=token_digest(token), created_by="test", org_id=org_id))
    session.flush()
    return token
