"""Generate the sample people register and duty rosters from the committed sample register.

`python -m sample_data.people` rewrites `people.csv` (each enterprise's and site's 主要负责人 and
安全负责人, the three 包保责任人 of every unit of the chemical sites) and `duty_roster.csv` (a
24-hour shift a day, 08:30 to 08:30 China time, for every 应急管理局 of the sample region over 31
days from ROSTER_START). Names are invented from common surnames and given-name characters;
mobiles are fake numbers in the 138/139 0000 xxxx ranges. The same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from backend.core.clock import CHINA_TZ

HERE = Path(__file__).parent
SEED = 20230901  # 《危险化学品企业重大危险源安全包保责任制办法》 in force (2021) and a fixed seed
ROSTER_START = datetime(2026, 11, 24, 8, 30, tzinfo=CHINA_TZ)
ROSTER_DAYS = 31
OFFICERS_PER_BUREAU = 5
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
    "苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史"
    "顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华国庆志强海燕红梅晓东春雷"
    "文博宏伟立新永刚玉兰淑珍凤霞德胜长青振国鹏飞俊杰云龙"
)


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        if name not in used:
            used.add(name)
            return name


def _csv(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def people(rng: random.Random) -> list[dict[str, Any]]:
    sites = [f["properties"] for f in json.loads((HERE / "sites.geojson").read_text(encoding="utf-8"))["features"]]
    units = sorted({(r["site_code"], r["unit_code"], r["unit_name"]) for r in _csv("inventory.csv") if r["unit_code"]})
    by_site: dict[str, list[tuple[str, str]]] = {}
    for site, code, name in units:
        by_site.setdefault(site, []).append((code, name))
    used: set[str] = set()
    numbers = iter(rng.sample(range(0, 100_000), 100_000))
    rows: list[dict[str, Any]] = []

    def add(credit: str, site: str, unit: str, duty: str, landline: str = "") -> None:
        n = next(numbers)
        name = _name(rng, used)
        rows.append(
            {
                "enterprise_credit_code": credit,
                "site_code": site,
                "unit_code": unit,
                "duty": duty,
                "name": name,
                "mobile": f"1380{n:07d}",
                "landline": landline,
                "email": "",
            }
        )

    for e in _csv("enterprises.csv"):
        area = "0432" if e["region_adcode"].startswith("2202") else "0431"
        add(e["credit_code"], "", "", "principal", f"{area}-{rng.randint(6000000, 6999999)}")
        add(e["credit_code"], "", "", "safety")
    for s in sites:
        add(s["enterprise_credit_code"], s["code"], "", "principal")
        add(s["enterprise_credit_code"], s["code"], "", "safety")
        for code, _ in by_site.get(s["code"], []):
            for duty in ("unit_principal", "unit_technical", "unit_operator"):
                add(s["enterprise_credit_code"], s["code"], code, duty)
    return rows


def roster(rng: random.Random) -> list[dict[str, Any]]:
    regions = [f["properties"] for f in json.loads((HERE / "regions.geojson").read_text(encoding="utf-8"))["features"]]
    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    serial = 0
    for r in sorted(regions, key=lambda x: x["adcode"]):
        officers = []
        for _ in range(OFFICERS_PER_BUREAU):
            serial += 1
            officers.append((_name(rng, used), f"1390000{serial:04d}"))
        landline = f"0431-{rng.randint(88000000, 88999999)}"
        for day in range(ROSTER_DAYS):
            start = ROSTER_START + timedelta(days=day)
            name, mobile = officers[day % OFFICERS_PER_BUREAU]
            rows.append(
                {
                    "org_code": r["adcode"],
                    "name": name,
                    "mobile": mobile,
                    "landline": landline,
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(days=1)).isoformat(),
                }
            )
    return rows


def generate(out: Path = HERE, seed: int = SEED) -> None:
    rng = random.Random(seed)
    _write(out / "people.csv", people(rng))
    _write(out / "duty_roster.csv", roster(rng))


if __name__ == "__main__":
    generate()
