"""Generate the fictional Jilin sample register from regions.geojson, with a fixed seed.

`python -m sample_data.generate` rewrites the files beside this script; the same seed gives
the same bytes. All enterprises, sites, places and streams are invented; the county
boundaries are real (see README.md).
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry import LineString, Point, Polygon, mapping, shape
from shapely.prepared import prep

from backend.domain.kinds import SITE_CODE_PREFIX, SiteKind
from backend.domain.standards import load
from backend.domain.substances import resolve
from backend.domain.tailings import pond_class
from backend.domain.thresholds import default_interval_s, default_thresholds, default_unit

HERE = Path(__file__).parent
SEED = 20180626  # 吉政发〔2018〕26号
M_PER_DEG_LAT = 111_320.0

# Where each kind of site is found (county adcodes with weights), after Jilin's mining and
# chemical geography: coal in 白山/通化/辽源/延边/吉林; metal mines in the eastern mountains;
# chemicals in 吉林市's park, 长春, 松原 (oil) and 四平.
COAL_COUNTIES = {
    "220605": 6,
    "220602": 4,
    "220681": 2,
    "220621": 1,
    "220503": 4,
    "220521": 2,
    "220581": 1,
    "220403": 4,
    "220421": 2,
    "220422": 2,
    "222404": 4,
    "222424": 2,
    "222401": 1,
    "222406": 1,
    "220281": 3,
    "220283": 3,
    "220284": 1,
}
NONCOAL_COUNTIES = {
    "220282": 5,
    "220284": 4,
    "220281": 2,
    "220221": 2,
    "220582": 3,
    "220521": 2,
    "220524": 2,
    "220681": 3,
    "220623": 2,
    "220621": 2,
    "222406": 3,
    "222426": 3,
    "222424": 2,
    "222404": 2,
    "222405": 1,
    "222403": 2,
    "220113": 2,
    "220323": 1,
    "220422": 1,
}
MINERALS = ["金", "铁", "铜", "镍", "钼", "铅锌", "石灰石", "硅藻土", "滑石", "膨润土"]
# (centre lon, lat, spread m, count, county for the register)
HAZCHEM_CLUSTERS = [
    (126.585, 43.905, 2500, 45, "220203"),  # 吉林市 chemical park, 龙潭区
    (126.47, 43.80, 2500, 8, "220211"),
    (125.26, 43.90, 3500, 14, "220106"),  # 长春 绿园
    (125.42, 43.92, 3000, 10, "220105"),
    (125.33, 43.97, 3000, 8, "220103"),
    (125.63, 44.15, 3500, 6, "220113"),
    (124.83, 45.15, 4000, 14, "220702"),  # 松原 oil
    (124.78, 45.05, 5000, 8, "220721"),
    (124.33, 43.17, 3000, 10, "220302"),  # 四平
    (124.40, 43.18, 3000, 5, "220303"),
    (125.17, 42.90, 3000, 5, "220402"),  # 辽源
    (125.95, 41.73, 3000, 5, "220502"),  # 通化
    (122.84, 45.62, 3000, 4, "220802"),  # 白城
    (129.50, 42.90, 3000, 5, "222401"),  # 延吉
    (125.65, 42.53, 3000, 3, "220581"),  # 梅河口
]
BRAND_SYLLABLES = list("澜岫峪桦椴榛岚泓溪柘枫棠栎榆槭芸蔚晗琮璟瑄翊珩嵘峤霁")
INDUSTRY_SUFFIX = {
    SiteKind.coal_mine: ("煤矿", "煤业有限公司"),
    SiteKind.noncoal_mine: ("矿", "矿业有限公司"),
    SiteKind.tailings_pond: ("尾矿库", "矿业有限公司"),
    SiteKind.hazchem: ("厂区", "化工有限公司"),
}
INDUSTRY = {
    SiteKind.coal_mine: "煤矿",
    SiteKind.noncoal_mine: "非煤矿山",
    SiteKind.tailings_pond: "非煤矿山",
    SiteKind.hazchem: "危险化学品",
}
STREAM_NAMES = [
    "北岔河",
    "大沙河",
    "小石河",
    "东岔沟河",
    "蛤蟆河",
    "柳树河",
    "黄泥河",
    "夹皮沟河",
    "二道沟河",
    "三道河",
]
VILLAGE_SUFFIX = ["村", "屯", "沟", "甸子", "岭村", "堡"]
CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
# Schematic transport lines between real city centres; geometry is indicative only.
CITY = {
    "长春": (125.32, 43.82),
    "吉林": (126.55, 43.84),
    "四平": (124.35, 43.17),
    "辽源": (125.14, 42.89),
    "通化": (125.94, 41.73),
    "白山": (126.42, 41.94),
    "松原": (124.82, 45.14),
    "白城": (122.84, 45.62),
    "延吉": (129.51, 42.89),
    "敦化": (128.23, 43.37),
    "珲春": (130.37, 42.86),
    "梅河口": (125.71, 42.54),
}
TRANSPORT = [
    ("railway", "长图铁路(示意)", ["长春", "吉林", "敦化", "延吉", "珲春"]),
    ("railway", "四梅铁路(示意)", ["四平", "辽源", "梅河口", "通化", "白山"]),
    ("railway", "长白铁路(示意)", ["长春", "松原", "白城"]),
    (
        "national_highway",
        "G12 珲乌高速(示意)",
        ["珲春", "延吉", "敦化", "吉林", "长春", "松原", "白城"],
    ),
    ("national_highway", "G1 京哈高速(示意)", ["四平", "长春"]),
    ("provincial_highway", "S1 通梅高速(示意)", ["梅河口", "通化", "白山"]),
    ("provincial_highway", "S26 辽源支线(示意)", ["四平", "辽源", "梅河口"]),
]


@dataclass
class World:
    rng: random.Random
    counties: dict[str, dict[str, Any]]
    enterprises: list[dict[str, Any]] = field(default_factory=list)
    sites: list[dict[str, Any]] = field(default_factory=list)
    footprints: list[dict[str, Any]] = field(default_factory=list)
    zones: list[dict[str, Any]] = field(default_factory=list)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    hazard_units: list[dict[str, Any]] = field(default_factory=list)
    places: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    gateways: list[dict[str, Any]] = field(default_factory=list)
    sensors: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def next(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]


def offset(lon: float, lat: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point `distance_m` from (lon, lat) towards `bearing_deg` (0 = north), locally flat."""
    b = math.radians(bearing_deg)
    dlat = distance_m * math.cos(b) / M_PER_DEG_LAT
    dlon = distance_m * math.sin(b) / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return round(lon + dlon, 6), round(lat + dlat, 6)


def credit_code(rng: random.Random, adcode: str) -> str:
    """An 18-character 统一社会信用代码 with a valid GB 32100 check character."""
    body = "91" + adcode + "".join(rng.choice(CREDIT_CHARS[:10] + "ABCDEFGH") for _ in range(9))
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS, strict=True))
    return body + CREDIT_CHARS[(31 - total % 31) % 31]


def point_in_county(w: World, adcode: str) -> tuple[float, float]:
    county = w.counties[adcode]
    minx, miny, maxx, maxy = county["geom"].bounds
    while True:
        lon, lat = w.rng.uniform(minx, maxx), w.rng.uniform(miny, maxy)
        if county["prepared"].contains(Point(lon, lat)):
            return round(lon, 6), round(lat, 6)


def county_of(w: World, lon: float, lat: float) -> str | None:
    p = Point(lon, lat)
    return next((a for a, c in w.counties.items() if c["prepared"].contains(p)), None)


def weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def add_enterprise(w: World, adcode: str, kind: SiteKind) -> dict[str, Any]:
    county = w.counties[adcode]["name"].removesuffix("市").removesuffix("县").removesuffix("区")
    brand = "".join(w.rng.sample(BRAND_SYLLABLES, 2))
    status = w.rng.choices(["operating", "suspended", "closed"], weights=[88, 8, 4])[0]
    credit = w.rng.choices(["none", "black", "red"], weights=[92, 3, 5])[0]
    e = {
        "credit_code": credit_code(w.rng, adcode),
        "name": f"吉林省{county[:2]}{brand}{INDUSTRY_SUFFIX[kind][1]}",
        "industry": INDUSTRY[kind],
        "status": status,
        "region_adcode": adcode,
        "credit_list": credit,
    }
    w.enterprises.append(e)
    return e


def add_site(
    w: World,
    kind: SiteKind,
    enterprise: dict[str, Any],
    lon: float,
    lat: float,
    adcode: str,
    **attrs: Any,
) -> dict[str, Any]:
    n = w.next(kind)
    short = enterprise["name"].removeprefix("吉林省")[:4]
    site = {
        "code": f"{SITE_CODE_PREFIX[kind]}-{n:04d}",
        "name": f"{short}{INDUSTRY_SUFFIX[kind][0]}" + (f"{n}号" if kind == SiteKind.tailings_pond else ""),
        "kind": str(kind),
        "enterprise_credit_code": enterprise["credit_code"],
        "region_adcode": adcode,
        "lon": lon,
        "lat": lat,
        **attrs,
    }
    w.sites.append(site)
    return site


def add_place(w: World, kind: str, name: str, lon: float, lat: float, population: int) -> None:
    n = w.next("place")
    w.places.append(
        {
            "code": f"P-{n:05d}",
            "name": name,
            "kind": kind,
            "population": population,
            "region_adcode": county_of(w, lon, lat),
            "lon": lon,
            "lat": lat,
        }
    )


def village_name(w: World) -> str:
    return "".join(w.rng.sample(BRAND_SYLLABLES, 2)) + w.rng.choice(VILLAGE_SUFFIX)


def add_feature(w: World, kind: str, name: str, geom: Any) -> None:
    n = w.next("feature")
    w.features.append({"code": f"F-{n:04d}", "name": name, "kind": kind, "geom": geom})


def stream_near(w: World, lon: float, lat: float, distance_m: float) -> LineString:
    """A meandering stream that passes `distance_m` from the point at its closest."""
    bearing = w.rng.uniform(0, 360)
    cx, cy = offset(lon, lat, bearing, distance_m)
    direction = bearing + 90
    pts = []
    for i in range(-6, 7):
        x, y = offset(cx, cy, direction, i * 600)
        x, y = offset(x, y, bearing, w.rng.uniform(0, 120) * (i != 0))
        pts.append((x, y))
    return LineString(pts)


def fan(lon: float, lat: float, bearing: float, radius_m: float, half_angle: float) -> Polygon:
    ring = [(lon, lat)] + [
        offset(lon, lat, bearing + a, radius_m) for a in range(-int(half_angle), int(half_angle) + 1, 5)
    ]
    return Polygon(ring)


def gateway_for(w: World, site: dict[str, Any], n: int = 1) -> str:
    gid = f"{site['code']}-GW{n:02d}"
    w.gateways.append({"id": gid, "site_code": site["code"], "name": f"{site['name']}采集网关{n}"})
    return gid


def add_sensor(
    w: World,
    site: dict[str, Any],
    gateway: str,
    kind: str,
    label: str = "",
    substance: str | None = None,
    design: float | None = None,
) -> None:
    n = sum(1 for s in w.sensors if s["site_code"] == site["code"]) + 1
    lon, lat = offset(site["lon"], site["lat"], w.rng.uniform(0, 360), w.rng.uniform(20, 250))
    w.sensors.append(
        {
            "code": f"{site['code']}-S{n:03d}",
            "site_code": site["code"],
            "gateway_id": gateway,
            "kind": kind,
            "unit": default_unit(kind),
            "location_label": label,
            "substance": substance or "",
            "interval_s": default_interval_s(kind),
            "lon": lon,
            "lat": lat,
            "thresholds": json.dumps(
                default_thresholds(kind, label, substance, design),
                ensure_ascii=False,
                sort_keys=True,
            ),
        }
    )


def make_coal_mines(w: World, count: int = 44) -> None:
    for _ in range(count):
        adcode = weighted(w.rng, COAL_COUNTIES)
        lon, lat = point_in_county(w, adcode)
        gas = w.rng.choices(["low_gas", "high_gas", "outburst"], weights=[60, 30, 10])[0]
        site = add_site(
            w,
            SiteKind.coal_mine,
            add_enterprise(w, adcode, SiteKind.coal_mine),
            lon,
            lat,
            adcode,
            gas_class=gas,
            hydrogeology=w.rng.choices(["simple", "medium", "complex", "extremely_complex"], weights=[30, 45, 20, 5])[
                0
            ],
            capacity_10k_t=w.rng.choice([9, 15, 21, 30, 45, 60, 90, 120]),
        )
        gw = gateway_for(w, site)
        labels = ["采煤工作面T1", "上隅角T0", "回风巷T2", "掘进工作面", "掘进回风流"]
        if gas != "low_gas":
            labels += ["进风巷", "总回风巷"]  # AQ 1029-2019 dropped the 专用排瓦斯巷 row
        for label in labels:
            add_sensor(w, site, gw, "methane", label)
        for label in ["采煤工作面", "回风巷", "掘进工作面"]:
            add_sensor(w, site, gw, "carbon_monoxide", label)
        add_sensor(w, site, gw, "power_draw", "主变电所")
        add_sensor(w, site, gw, "personnel_count", "井口人员定位")


def make_noncoal_mines(w: World, count: int = 64) -> list[dict[str, Any]]:
    mines = []
    for _ in range(count):
        adcode = weighted(w.rng, NONCOAL_COUNTIES)
        lon, lat = point_in_county(w, adcode)
        method = w.rng.choices(["underground", "open_pit"], weights=[55, 45])[0]
        site = add_site(
            w,
            SiteKind.noncoal_mine,
            add_enterprise(w, adcode, SiteKind.noncoal_mine),
            lon,
            lat,
            adcode,
            mining_method=method,
            mineral=w.rng.choice(MINERALS),
            capacity_10k_t=w.rng.choice([3, 5, 10, 20, 30, 60, 100]),
        )
        gw = gateway_for(w, site)
        if method == "underground":
            add_sensor(w, site, gw, "carbon_monoxide", "主回风巷")
            add_sensor(w, site, gw, "carbon_monoxide", "采场")
            add_sensor(w, site, gw, "personnel_count", "井口人员定位")
        add_sensor(w, site, gw, "power_draw", "变电所")
        mines.append(site)
    return mines


def make_tailings_ponds(w: World, mines: list[dict[str, Any]], count: int = 84) -> None:
    metal = [m for m in mines if m["mineral"] not in {"石灰石", "硅藻土", "滑石", "膨润土"}]
    for i in range(count):
        mine = metal[i % len(metal)]
        enterprise = next(e for e in w.enterprises if e["credit_code"] == mine["enterprise_credit_code"])
        for _ in range(50):
            lon, lat = offset(mine["lon"], mine["lat"], w.rng.uniform(0, 360), w.rng.uniform(1200, 4000))
            adcode = county_of(w, lon, lat)
            if adcode:
                break
        else:
            lon, lat, adcode = mine["lon"], mine["lat"], mine["region_adcode"]
        capacity = round(min(20000.0, math.exp(w.rng.uniform(math.log(8), math.log(6000)))), 1)
        height = round(min(150.0, max(8.0, capacity**0.35 * w.rng.uniform(4, 8))), 1)
        bearing = round(w.rng.uniform(0, 359.9), 1)
        wet = w.rng.random() < 0.85
        site = add_site(
            w,
            SiteKind.tailings_pond,
            enterprise,
            lon,
            lat,
            adcode,
            capacity_10k_m3=capacity,
            dam_height_m=height,
            dam_type=w.rng.choices(["upstream", "centerline", "downstream", "one_time"], weights=[70, 10, 10, 10])[0],
            wet=wet,
            downstream_bearing_deg=bearing,
        )
        w.footprints.append({"code": site["code"], "geom": fan(lon, lat, bearing + 180, 350, 50)})
        head_top = i % 4 == 0  # a quarter are 头顶库
        if head_top:
            for _ in range(w.rng.randint(1, 3)):
                d = w.rng.uniform(300, 950)
                x, y = offset(lon, lat, bearing + w.rng.uniform(-20, 20), d)
                add_place(w, "village", village_name(w), x, y, w.rng.randint(60, 900))
            if i % 8 == 0:
                x, y = offset(lon, lat, bearing + w.rng.uniform(-10, 10), w.rng.uniform(500, 950))
                add_place(
                    w,
                    "school",
                    village_name(w).rstrip("村屯堡") + "小学",
                    x,
                    y,
                    w.rng.randint(80, 600),
                )
        else:  # villages nearby but not downstream within 1 km
            x, y = offset(lon, lat, bearing + 180 + w.rng.uniform(-60, 60), w.rng.uniform(500, 2500))
            add_place(w, "village", village_name(w), x, y, w.rng.randint(60, 900))
            x, y = offset(lon, lat, bearing + w.rng.uniform(-20, 20), w.rng.uniform(1300, 3000))
            add_place(w, "village", village_name(w), x, y, w.rng.randint(60, 900))
        if i % 5 == 0:  # 三边库 next to a stream
            add_feature(
                w,
                "river",
                w.rng.choice(STREAM_NAMES),
                stream_near(w, lon, lat, w.rng.uniform(250, 900)),
            )
        if i % 11 == 0:  # upstream of a drinking-water source
            x, y = offset(lon, lat, bearing + w.rng.uniform(-15, 15), w.rng.uniform(1500, 4000))
            add_place(w, "water_source", village_name(w).rstrip("村屯堡") + "水源地", x, y, 0)
        if i % 7 == 3:  # an explicitly surveyed downstream zone
            w.zones.append({"code": site["code"], "geom": fan(lon, lat, bearing, 1000, 35)})
        klass = pond_class(capacity, height)
        beach_min = load("sensor_thresholds")["dry_beach"]["minimum_by_pond_class"][klass]
        gw = gateway_for(w, site)
        for k in range(w.rng.randint(3, 5)):
            add_sensor(
                w,
                site,
                gw,
                "phreatic_line",
                f"浸润线{k + 1}#断面",
                design=round(w.rng.uniform(4, 9), 1),
            )
        for k in range(w.rng.randint(4, 6)):
            add_sensor(w, site, gw, "dam_displacement", f"坝体位移{k + 1}#")
        if wet:
            add_sensor(w, site, gw, "pond_level", "库水位")
            for k in range(w.rng.randint(1, 2)):
                add_sensor(w, site, gw, "dry_beach", f"干滩{k + 1}#", design=float(beach_min))
        add_sensor(w, site, gw, "rainfall", "库区雨量")


# The substances the sample plants hold, in a fixed order (the generator's random draws depend on it).
COMMON_SUBSTANCES = [
    "氯",
    "氨",
    "液化石油气",
    "甲烷",
    "氢",
    "汽油",
    "甲醇",
    "乙醇",
    "苯",
    "甲苯",
    "硫化氢",
    "环氧乙烷",
    "乙烯",
    "氯乙烯",
    "丙烯腈",
    "二氧化硫",
    "氯化氢",
    "煤气",
    "丙烯",
]
PROCESS_UNITS = ["合成氨", "甲醇合成", "氯碱", "乙烯裂解", "丙烯腈", "聚氯乙烯", "加氢精制", "催化裂化", "环氧乙烷"]
# Solids kept in warehouses (仓库) by a few plants; the last is not in GB 18218 Table 1 and is given by class.
WAREHOUSE_GOODS = [
    ("硝酸铵（含可燃物≤0.2%）", "6484-52-2", ""),
    ("硝酸铵肥料（含可燃物≤0.4%）", "", ""),
    ("碳化钙", "75-20-7", ""),
    ("氯酸钠", "7775-09-9", ""),
    ("过氧化二苯甲酰", "94-36-0", "W7.1"),
]


def _square(lon: float, lat: float, bearing: float, half_m: float) -> Polygon:
    return Polygon([offset(lon, lat, bearing + a, half_m * math.sqrt(2)) for a in (45, 135, 225, 315)])


def add_units(
    w: World, rng: random.Random, site: dict[str, Any], half: float, bearing: float, held: list[tuple[Any, float]]
) -> None:
    """Put a plant's holdings in units (GB 18218-2018 单元): one or two tank farms (罐区), sometimes a
    process unit (生产装置) holding part of them, sometimes a warehouse (仓库) of solids. About half
    the units get a footprint inside the plant, so that α is counted around the unit."""
    tanks = [(f"TK{k}", f"{k}号罐区", "storage") for k in range(1, (2 if len(held) <= 2 else rng.choice([2, 3])))]
    process = ("PU1", f"{rng.choice(PROCESS_UNITS)}装置", "production") if rng.random() < 0.35 else None
    rows: list[tuple[tuple[str, str, str], Any, float, str]] = []
    for r, qty in held:
        tank = rng.choice(tanks)
        if process and rng.random() < 0.3:
            part = max(0.01, round(qty * rng.uniform(0.1, 0.4), 2))
            rows.append((process, r, part, ""))
            qty = max(0.01, round(qty - part, 2))
        rows.append((tank, r, qty, ""))
    if rng.random() < 0.12:
        name, cas, klass = rng.choice(WAREHOUSE_GOODS)
        good = resolve(name, cas or None, klass or None)
        rows.append((("WH1", "1号仓库", "storage"), good, round(good.q_t * rng.uniform(0.3, 3), 2), klass))
    for (code, unit_name, kind), r, qty, klass in rows:
        w.inventory.append(
            {
                "site_code": site["code"],
                "unit_code": code,
                "unit_name": unit_name,
                "unit_kind": kind,
                "substance": r.name,
                "cas": r.cas or "",
                "hazard_class": klass,
                "max_quantity_t": qty,
            }
        )
    for code, unit_name, kind in sorted({u for u, *_ in rows}):
        if rng.random() < 0.5:
            x, y = offset(site["lon"], site["lat"], rng.uniform(0, 360), rng.uniform(0, half * 0.5))
            w.hazard_units.append(
                {
                    "site_code": site["code"],
                    "code": code,
                    "name": unit_name,
                    "kind": kind,
                    "geom": _square(x, y, bearing, rng.uniform(15, min(60, half * 0.4))),
                }
            )


def make_hazchem(w: World) -> None:
    common = [resolve(name) for name in COMMON_SUBSTANCES]
    # The units come from their own random stream, so the other files do not change with them.
    units_rng = random.Random(SEED + 7)
    toxic_default = {"氯": "氯", "氨": "氨", "硫化氢": "硫化氢", "煤气": "一氧化碳"}
    for cx, cy, spread, count, adcode in HAZCHEM_CLUSTERS:
        for _ in range(count):
            for _ in range(100):
                lon, lat = offset(cx, cy, w.rng.uniform(0, 360), abs(w.rng.gauss(0, spread)))
                if county_of(w, lon, lat) == adcode:
                    break
            here = county_of(w, lon, lat) or adcode
            site = add_site(w, SiteKind.hazchem, add_enterprise(w, here, SiteKind.hazchem), lon, lat, here)
            half = w.rng.uniform(80, 300)
            bearing = w.rng.uniform(0, 90)
            w.footprints.append({"code": site["code"], "geom": _square(lon, lat, bearing, half)})
            chosen = w.rng.sample(common, w.rng.randint(1, 4))
            held = []
            for s in chosen:
                # The chemical park holds the province's largest inventories.
                top = 30 if adcode == "220203" else 6
                held.append((s, round(s.q_t * math.exp(w.rng.uniform(math.log(0.05), math.log(top))), 2)))
            add_units(w, units_rng, site, half, bearing, held)
            for _ in range(w.rng.choice([0, 0, 1, 2, 3, 4])):  # residents at 100-900 m
                x, y = offset(lon, lat, w.rng.uniform(0, 360), w.rng.uniform(100, 900))
                kind = w.rng.choice(["residential", "village"])
                name = village_name(w) if kind == "village" else w.rng.choice(["和平", "新兴", "长青", "富民"]) + "小区"
                add_place(w, kind, name, x, y, w.rng.choice([0, 12, 25, 35, 45, 60, 80, 150, 400, 1200]))
            gws = [gateway_for(w, site, 1)]
            if len(chosen) >= 3:
                gws.append(gateway_for(w, site, 2))
            for k, s in enumerate(chosen):
                gw = gws[k % len(gws)]
                if s.hazard_class.startswith("W2") or s.hazard_class.startswith("W5"):
                    for j in range(w.rng.randint(2, 4)):
                        add_sensor(w, site, gw, "combustible_gas", f"{s.name}罐区{j + 1}#")
                if s.name in toxic_default:
                    for j in range(w.rng.randint(1, 3)):
                        add_sensor(
                            w,
                            site,
                            gw,
                            "toxic_gas",
                            f"{s.name}泄漏{j + 1}#",
                            toxic_default[s.name],
                        )
                add_sensor(w, site, gw, "tank_level", f"{s.name}储罐液位")
                add_sensor(w, site, gw, "temperature", f"{s.name}储罐温度")
                add_sensor(w, site, gw, "pressure", f"{s.name}储罐压力")


def make_background(w: World, villages: int = 700) -> None:
    """Villages, county-seat schools and hospitals, reservoirs and transport across the province."""
    counties = list(w.counties)
    for _ in range(villages):
        adcode = w.rng.choice(counties)
        x, y = point_in_county(w, adcode)
        add_place(w, "village", village_name(w), x, y, w.rng.randint(80, 2500))
    for county in w.counties.values():
        c = county["geom"].representative_point()
        for kind, suffix, pop in (
            ("school", "第一中学", (600, 3000)),
            ("hospital", "人民医院", (100, 800)),
            ("residential", "城区", (20000, 200000)),
        ):
            x, y = offset(c.x, c.y, w.rng.uniform(0, 360), w.rng.uniform(0, 1500))
            add_place(w, kind, county["name"] + suffix, x, y, w.rng.randint(*pop))
    for n in range(12):
        adcode = w.rng.choice(counties)
        x, y = point_in_county(w, adcode)
        r = w.rng.uniform(300, 1200)
        ring = [offset(x, y, a, r * w.rng.uniform(0.7, 1.3)) for a in range(0, 360, 30)]
        add_feature(w, "reservoir", f"{w.counties[adcode]['name'][:2]}水库{n + 1}", Polygon(ring))
    for kind, name, stops in TRANSPORT:
        add_feature(w, kind, name, LineString([CITY[s] for s in stops]))


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _features(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for r in rows:
        props = {k: v for k, v in r.items() if k not in {"geom", "lon", "lat"}}
        geom = r["geom"] if "geom" in r else Point(r["lon"], r["lat"])
        yield {"type": "Feature", "properties": props, "geometry": _rounded(mapping(geom))}


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def r(c: Any) -> Any:
        return round(c, 6) if isinstance(c, float) else [r(x) for x in c]

    return {"type": geometry["type"], "coordinates": r(geometry["coordinates"])}


def _write_geojson(path: Path, rows: list[dict[str, Any]]) -> None:
    doc = {"type": "FeatureCollection", "features": list(_features(rows))}
    path.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(out: Path = HERE, seed: int = SEED) -> World:
    regions = json.loads((HERE / "regions.geojson").read_text(encoding="utf-8"))
    counties = {}
    for f in regions["features"]:
        if f["properties"]["level"] == "county":
            geom = shape(f["geometry"])
            counties[f["properties"]["adcode"]] = {
                "name": f["properties"]["name"],
                "geom": geom,
                "prepared": prep(geom),
            }
    w = World(random.Random(seed), counties)
    make_coal_mines(w)
    mines = make_noncoal_mines(w)
    make_tailings_ponds(w, mines)
    make_hazchem(w)
    make_background(w)
    out.mkdir(parents=True, exist_ok=True)
    site_columns = [
        "code",
        "name",
        "kind",
        "enterprise_credit_code",
        "region_adcode",
        "lon",
        "lat",
        "gas_class",
        "hydrogeology",
        "capacity_10k_t",
        "mining_method",
        "mineral",
        "capacity_10k_m3",
        "dam_height_m",
        "dam_type",
        "wet",
        "downstream_bearing_deg",
    ]
    sites = [{c: s.get(c) for c in site_columns} for s in w.sites]
    _write_csv(out / "enterprises.csv", w.enterprises)
    _write_geojson(out / "sites.geojson", sites)
    _write_geojson(out / "site_footprints.geojson", w.footprints)
    _write_geojson(out / "downstream_zones.geojson", w.zones)
    _write_csv(out / "inventory.csv", w.inventory)
    _write_geojson(out / "hazard_units.geojson", w.hazard_units)
    _write_geojson(out / "exposed_places.geojson", w.places)
    _write_geojson(out / "exposed_features.geojson", w.features)
    _write_csv(out / "gateways.csv", w.gateways)
    _write_csv(out / "sensors.csv", w.sensors)
    return w


if __name__ == "__main__":
    world = generate()
    kinds: dict[str, int] = {}
    for s in world.sites:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    print(
        f"{len(world.enterprises)} enterprises, sites {kinds}, {len(world.places)} places, "
        f"{len(world.features)} features, {len(world.gateways)} gateways, "
        f"{len(world.sensors)} sensors"
    )
