"""Supervision: inspectors, versioned inspection plans, 双随机 draws, inspections and enforcement.

Every table whose rows belong to a place carries `region_adcode` (the supervising jurisdiction or
the inspector's regulator) and, when a site is concerned, `site_id`, for row-level security.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Audited, Base, Timestamped


class Inspector(Audited, Timestamped, Base):
    """A law-enforcement inspector (执法人员) on a regulator's roster."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_no: Mapped[str] = mapped_column(String(32), unique=True)  # 执法证号
    name: Mapped[str] = mapped_column(String(64))
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    specialities: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    conflicts: Mapped[list[str]] = mapped_column(ARRAY(String(18)), server_default="{}")  # enterprises' credit codes
    unavailable: Mapped[list[date]] = mapped_column(ARRAY(Date), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")

    @property
    def code(self) -> str:  # the audit log's key
        return self.certificate_no


class InspectionPlan(Audited, Base):
    """One jurisdiction's plan for a period; its versions keep every regeneration."""

    __tablename__ = "inspection_plans"
    __table_args__ = (UniqueConstraint("region_adcode", "period", name="uq_inspection_plans_region_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # 2026 or 2026-07
    current_version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PlanVersion(Base):
    """A generated version: never changed afterwards. Written with an audit entry (service)."""

    __tablename__ = "inspection_plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version", name="uq_inspection_plan_versions_plan_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plans.id", ondelete="CASCADE"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(96))
    reason: Mapped[str] = mapped_column(String(500), server_default="")
    seed: Mapped[str] = mapped_column(String(128))
    as_of: Mapped[date | None] = mapped_column(Date)  # a regeneration keeps the visits before this day
    requirements: Mapped[list[dict[str, Any]]] = mapped_column()
    shortfalls: Mapped[list[dict[str, Any]]] = mapped_column()
    summary: Mapped[list[dict[str, Any]]] = mapped_column()  # lines, as [{"text": …}]
    changes: Mapped[list[dict[str, Any]]] = mapped_column()  # what a regeneration changed


class PlanVisit(Base):
    __tablename__ = "plan_visits"
    __table_args__ = (Index("ix_plan_visits_version_day", "version_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan_versions.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)  # supervising jurisdiction
    key: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date)
    inspectors: Mapped[list[str]] = mapped_column(ARRAY(String(32)))  # certificate numbers
    sampled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    seq: Mapped[int] = mapped_column(Integer)


class Draw(Base):
    """A 双随机 draw: kept for ever with its seed, inputs, algorithm and result (一公开)."""

    __tablename__ = "draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("inspection_plans.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("inspection_plan_versions.id", ondelete="CASCADE"))
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    seed: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(32))
    inputs: Mapped[dict[str, Any]] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column()
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    drawn_by: Mapped[str] = mapped_column(String(96))


class Inspection(Audited, Base):
    """An inspection on site: from a plan visit or unscheduled (a 12350 report, an alarm)."""

    __tablename__ = "inspections"
    __table_args__ = (
        CheckConstraint("origin IN ('plan', 'report_12350', 'alarm', 'other')", name="origin_known"),
        CheckConstraint("state IN ('planned', 'in_progress', 'completed', 'cancelled')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    plan_visit_id: Mapped[int | None] = mapped_column(ForeignKey("plan_visits.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(16))
    origin_ref: Mapped[str | None] = mapped_column(String(64))  # the report's or alarm's id
    day: Mapped[date] = mapped_column(Date)
    inspectors: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    state: Mapped[str] = mapped_column(String(16), index=True)
    checklist: Mapped[list[dict[str, Any]]] = mapped_column()  # [{item, result: ok|finding|na, note}]
    findings: Mapped[list[dict[str, Any]]] = mapped_column()  # [{title, major, item}]
    note: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EnforcementAction(Audited, Base):
    """An enforcement decision with its document number (文书编号)."""

    __tablename__ = "enforcement_actions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('rectify_by_deadline', 'suspend_for_rectification', 'fine', 'suspend_licence',"
            " 'revoke_licence', 'transfer')",
            name="kind_known",
        ),
        CheckConstraint("kind <> 'fine' OR amount_yuan > 0", name="fine_has_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    document_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_yuan: Mapped[float | None] = mapped_column(Float)
    deadline: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, server_default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def code(self) -> str:
        return self.document_no


class InspectionFile(Base):
    """A photo or document taken at an inspection, about one finding (`finding_index`) or the
    inspection as a whole; the bytes are stored content-addressed by backend/hazards/files.py, so a
    finding's photos pass to the hidden hazard it becomes without a copy. Each upload is audited."""

    __tablename__ = "inspection_files"
    __table_args__ = (
        CheckConstraint("finding_index IS NULL OR finding_index BETWEEN 0 AND 99", name="finding_index_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    finding_index: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
