"""The register: regions, enterprises, their sites and what lies around them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Audited, Base, Timestamped, geometry


class Region(Base):
    """GB/T 2260 administrative division: province, prefecture or county."""

    __tablename__ = "regions"
    __table_args__ = (Index("ix_regions_boundary", "boundary", postgresql_using="gist"),)

    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_adcode: Mapped[str | None] = mapped_column(ForeignKey("regions.adcode"), index=True)
    boundary: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))


class Enterprise(Audited, Timestamped, Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    name: Mapped[str] = mapped_column(String(128))
    industry: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="operating", index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    credit_list: Mapped[str] = mapped_column(String(8), default="none")

    sites: Mapped[list[Site]] = relationship(back_populates="enterprise")


class Site(Audited, Timestamped, Base):
    __tablename__ = "sites"
    __table_args__ = (
        Index("ix_sites_location", "location", postgresql_using="gist"),
        Index("ix_sites_footprint", "footprint", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    region_adcode: Mapped[str] = mapped_column(ForeignKey("regions.adcode"), index=True)
    location: Mapped[Any] = mapped_column(geometry("POINT"))
    footprint: Mapped[Any | None] = mapped_column(geometry("POLYGON"))

    enterprise: Mapped[Enterprise] = relationship(back_populates="sites")
    tailings_pond: Mapped[TailingsPond | None] = relationship(back_populates="site", cascade="all, delete-orphan")
    coal_mine: Mapped[CoalMine | None] = relationship(back_populates="site", cascade="all, delete-orphan")
    noncoal_mine: Mapped[NoncoalMine | None] = relationship(back_populates="site", cascade="all, delete-orphan")
    inventory: Mapped[list[InventoryItem]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="InventoryItem.id"
    )
    hazard_units: Mapped[list[HazardUnit]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="HazardUnit.code"
    )


class TailingsPond(Audited, Base):
    __tablename__ = "tailings_ponds"
    __table_args__ = (
        Index("ix_tailings_ponds_downstream_zone", "downstream_zone", postgresql_using="gist"),
        CheckConstraint("capacity_10k_m3 >= 0", name="capacity_nonnegative"),
        CheckConstraint("dam_height_m >= 0", name="dam_height_nonnegative"),
        CheckConstraint("downstream_bearing_deg >= 0 AND downstream_bearing_deg < 360", name="bearing_range"),
    )

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    capacity_10k_m3: Mapped[float] = mapped_column(Float)  # total capacity, 10^4 m3 (万m³)
    dam_height_m: Mapped[float] = mapped_column(Float)
    dam_type: Mapped[str] = mapped_column(String(16))
    wet: Mapped[bool] = mapped_column(Boolean, default=True)
    downstream_bearing_deg: Mapped[float] = mapped_column(Float)
    downstream_zone: Mapped[Any | None] = mapped_column(geometry("POLYGON"))

    site: Mapped[Site] = relationship(back_populates="tailings_pond")


class CoalMine(Audited, Base):
    __tablename__ = "coal_mines"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    gas_class: Mapped[str] = mapped_column(String(16))
    hydrogeology: Mapped[str] = mapped_column(String(24))
    capacity_10k_t: Mapped[float] = mapped_column(Float)  # approved annual output, 10^4 t

    site: Mapped[Site] = relationship(back_populates="coal_mine")


class NoncoalMine(Audited, Base):
    __tablename__ = "noncoal_mines"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    mining_method: Mapped[str] = mapped_column(String(16))
    mineral: Mapped[str] = mapped_column(String(32))
    capacity_10k_t: Mapped[float] = mapped_column(Float)

    site: Mapped[Site] = relationship(back_populates="noncoal_mine")


class HazardUnit(Audited, Base):
    """A production or storage unit of a chemical site (GB 18218-2018 §3, 单元): the scope over which
    S and R are summed.

    A table of its own rather than unit names repeated on each inventory row: a unit has its own
    identity (code unique within the site), kind and optional footprint polygon, which the 500 m
    exposure count is measured from; repeating them per substance would let two rows disagree about
    one unit's name or shape. `kind` is NULL only for a site's default unit, made when an inventory
    was given without units (the whole site is then one unit, and the import report says so).
    """

    __tablename__ = "hazard_units"
    __table_args__ = (
        UniqueConstraint("site_id", "code", name="uq_hazard_units_site_code"),
        CheckConstraint("kind IN ('production', 'storage')", name="kind_known"),
        Index("ix_hazard_units_footprint", "footprint", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(16))  # production | storage
    footprint: Mapped[Any | None] = mapped_column(geometry("POLYGON"))

    site: Mapped[Site] = relationship(back_populates="hazard_units")
    inventory: Mapped[list[InventoryItem]] = relationship(back_populates="unit", order_by="InventoryItem.id")


class InventoryItem(Audited, Base):
    """A hazardous chemical held in one unit of a hazchem site, at its design maximum quantity."""

    __tablename__ = "inventory_items"
    __table_args__ = (
        UniqueConstraint("unit_id", "substance", name="uq_inventory_unit_substance"),
        CheckConstraint("max_quantity_t > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("hazard_units.id", ondelete="CASCADE"), index=True)
    substance: Mapped[str] = mapped_column(String(64))  # Chinese name
    cas: Mapped[str | None] = mapped_column(String(16))
    hazard_class: Mapped[str | None] = mapped_column(String(8))  # GB 18218 Table 2, for a substance not in Table 1
    max_quantity_t: Mapped[float] = mapped_column(Float)

    site: Mapped[Site] = relationship(back_populates="inventory")
    unit: Mapped[HazardUnit] = relationship(back_populates="inventory")


class ExposedPlace(Audited, Base):
    """Where people live or depend on: homes, villages, schools, hospitals, water sources."""

    __tablename__ = "exposed_places"
    __table_args__ = (
        Index("ix_exposed_places_geom", "geom", postgresql_using="gist"),
        CheckConstraint("population >= 0", name="population_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    population: Mapped[int] = mapped_column(Integer, default=0)  # resident population (常住人口)
    region_adcode: Mapped[str | None] = mapped_column(ForeignKey("regions.adcode"))
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class ExposedFeature(Audited, Base):
    """Waters (rivers, lakes, reservoirs) and transport lines (railways, highways)."""

    __tablename__ = "exposed_features"
    __table_args__ = (Index("ix_exposed_features_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    geom: Mapped[Any] = mapped_column(geometry("GEOMETRY"))
