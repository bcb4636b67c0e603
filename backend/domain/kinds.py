"""The registry's vocabularies. Stored as text in the database, so values are stable names."""

from enum import StrEnum


class RegionLevel(StrEnum):
    province = "province"
    prefecture = "prefecture"
    county = "county"


class EnterpriseStatus(StrEnum):
    operating = "operating"
    suspended = "suspended"
    closed = "closed"


STATUS_ZH: dict[str, str] = {
    EnterpriseStatus.operating: "正常生产",
    EnterpriseStatus.suspended: "停产",
    EnterpriseStatus.closed: "关闭",
}


class CreditList(StrEnum):
    none = "none"
    black = "black"
    red = "red"


class SiteKind(StrEnum):
    coal_mine = "coal_mine"
    noncoal_mine = "noncoal_mine"
    tailings_pond = "tailings_pond"
    hazchem = "hazchem"


SITE_CODE_PREFIX: dict[SiteKind, str] = {
    SiteKind.coal_mine: "JL-COAL",
    SiteKind.noncoal_mine: "JL-MINE",
    SiteKind.tailings_pond: "JL-TSF",
    SiteKind.hazchem: "JL-HAZ",
}


class GasClass(StrEnum):
    low_gas = "low_gas"
    high_gas = "high_gas"
    outburst = "outburst"


class HydrogeologyType(StrEnum):
    simple = "simple"
    medium = "medium"
    complex = "complex"
    extremely_complex = "extremely_complex"


class MiningMethod(StrEnum):
    underground = "underground"
    open_pit = "open_pit"


class DamType(StrEnum):
    upstream = "upstream"
    centerline = "centerline"
    downstream = "downstream"
    one_time = "one_time"


class PlaceKind(StrEnum):
    """Exposed places: points that people live in or depend on."""

    residential = "residential"
    village = "village"
    school = "school"
    hospital = "hospital"
    water_source = "water_source"


class FeatureKind(StrEnum):
    """Exposed features drawn as lines or polygons: waters and transport."""

    river = "river"
    lake = "lake"
    reservoir = "reservoir"
    railway = "railway"
    national_highway = "national_highway"
    provincial_highway = "provincial_highway"


class SensorKind(StrEnum):
    methane = "methane"
    carbon_monoxide = "carbon_monoxide"
    phreatic_line = "phreatic_line"
    pond_level = "pond_level"
    dry_beach = "dry_beach"
    dam_displacement = "dam_displacement"
    rainfall = "rainfall"
    combustible_gas = "combustible_gas"
    toxic_gas = "toxic_gas"
    tank_level = "tank_level"
    temperature = "temperature"
    pressure = "pressure"
    power_draw = "power_draw"
    personnel_count = "personnel_count"


SITE_KIND_ZH: dict[SiteKind, str] = {
    SiteKind.coal_mine: "煤矿",
    SiteKind.noncoal_mine: "非煤矿山",
    SiteKind.tailings_pond: "尾矿库",
    SiteKind.hazchem: "危险化学品企业",
}


def region_prefix(adcode: str) -> str:
    """The GB/T 2260 prefix shared by a region and everything inside it (2 digits for a
    province, 4 for a prefecture, all 6 for a county)."""
    if adcode.endswith("0000"):
        return adcode[:2]
    if adcode.endswith("00"):
        return adcode[:4]
    return adcode
