"""Generate the sample inspector rosters (inspectors.csv): every county, prefecture and the province
has a team, with the specialities its sites call for; a few declare a conflict with an enterprise
of their area, a few are away for a week. Fictional names, fixed seed.

    python -m sample_data.inspectors      # rewrites inspectors.csv; the same seed gives the same bytes
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent
SEED = 20180626
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌宇浩凯鹏飞雪梅琳欣然海波"
# team sizes: two disjoint pairs at least, so that the rotation at an enterprise can be kept
TEAM = {"county": 5, "prefecture": 5, "province": 4}
SPECIALITIES = {"county": ["危化", "非煤"], "prefecture": ["煤矿", "非煤"], "province": ["煤矿", "非煤", "危化"]}


def rows() -> list[dict[str, str]]:
    rng = random.Random(SEED)
    regions = json.loads((HERE / "regions.geojson").read_text(encoding="utf-8"))["features"]
    with (HERE / "enterprises.csv").open(encoding="utf-8") as f:
        enterprises = list(csv.DictReader(f))
    out = []
    for feature in sorted(regions, key=lambda f: f["properties"]["adcode"]):
        adcode, level = feature["properties"]["adcode"], feature["properties"]["level"]
        prefix = adcode[:2] if level == "province" else adcode[:4] if level == "prefecture" else adcode
        local = [e["credit_code"] for e in enterprises if e["region_adcode"].startswith(prefix)]
        for k in range(1, TEAM[level] + 1):
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
            conflicts = [rng.choice(local)] if local and rng.random() < 0.1 else []
            away = ""
            if rng.random() < 0.15:
                start = date(2026, 1, 5) + timedelta(weeks=rng.randrange(48))
                away = f"{start.isoformat()}/{(start + timedelta(days=4)).isoformat()}"
            out.append(
                {
                    "certificate_no": f"JL{adcode}{k:04d}",
                    "name": name,
                    "region_adcode": adcode,
                    "specialities": ";".join(SPECIALITIES[level]),
                    "conflicts": ";".join(conflicts),
                    "unavailable": away,
                    "active": "true",
                }
            )
    return out


def write(path: Path = HERE / "inspectors.csv") -> None:
    data = rows()
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(data[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)


if __name__ == "__main__":
    write()
