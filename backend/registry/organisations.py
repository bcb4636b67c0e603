"""Organisations by hand: the departments that share information (水利, 气象, 自然资源 …).

Bureaus (one 应急管理局 per region) and enterprises' organisations follow the register by triggers
(migration 0010); a department is added here, in a region, and its users may only read (viewer):
they see what their region holds, as the bureau of that region does, and change nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.domain.errors import Conflict, Invalid
from backend.models import Organisation, Region


def add_department(session: Session, code: str, name: str, region_adcode: str) -> Organisation:
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32 or not name or len(name) > 128:
        raise Invalid("部门编码（至多 32 字符）和名称（至多 128 字符）均不能为空", "code")
    if session.get(Region, region_adcode) is None:
        raise Invalid(f"没有行政区划代码 {region_adcode}", "region")
    if session.scalar(select(Organisation.id).where(Organisation.code == code)) is not None:
        raise Conflict(f"编码 {code} 已被使用")
    org = Organisation(code=code, name=name, kind="department", region_adcode=region_adcode)
    session.add(org)
    session.flush()
    return org


def list_organisations(session: Session, kind: str | None = None) -> list[Organisation]:
    q = select(Organisation).order_by(Organisation.kind, Organisation.code)
    return list(session.scalars(q.where(Organisation.kind == kind) if kind else q))
