"""`riskmap import`: good rows load, each bad row is reported with its reason, nothing half-written."""

import json
from pathlib import Path

import geopandas as gpd
from shapely.geometry import Point, Polygon
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.models import Site, TailingsPond
from backend.registry.importer import Layer, import_file

HEADER = (
    "code,name,kind,enterprise_credit_code,region_adcode,lon,lat,gas_class,hydrogeology,capacity_10k_t,"
    "mining_method,mineral,capacity_10k_m3,dam_height_m,dam_type,wet,downstream_bearing_deg\n"
)


def _enterprise(session: Session) -> str:
    return session.scalar(text("SELECT credit_code FROM enterprises ORDER BY id LIMIT 1"))


def test_csv_with_good_and_bad_rows(session: Session, tmp_path: Path) -> None:
    ec = _enterprise(session)
    rows = [
        f"IMP-0001,良好尾矿库,tailings_pond,{ec},,127.90,43.70,,,,,,120,35,upstream,true,90",  # good, region found
        f"IMP-0002,良好煤矿,coal_mine,{ec},220605,126.60,42.10,high_gas,medium,30,,,,,,,",  # good
        f"IMP-0003,缺坝高,tailings_pond,{ec},220282,127.0,43.0,,,,,,120,,upstream,true,90",  # missing field
        f"IMP-0004,巴黎,hazchem,{ec},220203,2.35,48.85,,,,,,,,,,",  # outside China
        "IMP-0005,未知企业,hazchem,91220000AAAAAAAAAA,220203,126.5,43.9,,,,,,,,,,",  # unknown enterprise
        f"IMP-0006,未知地区,hazchem,{ec},229999,126.5,43.9,,,,,,,,,,",  # unknown region
        f"JL-HAZ-0001,重复编码,hazchem,{ec},220203,126.5,43.9,,,,,,,,,,",  # duplicate of the register
        f"IMP-0001,文件内重复,hazchem,{ec},220203,126.5,43.9,,,,,,,,,,",  # duplicate within the file
        f"IMP-0009,坐标错误,hazchem,{ec},220203,abc,43.9,,,,,,,,,,",  # no usable point
        f"IMP-0010,负库容,tailings_pond,{ec},220282,127.0,43.0,,,,,,-5,30,upstream,true,90",  # negative
        f"IMP-0011,未知类型,oil_well,{ec},220282,127.0,43.0,,,,,,,,,,",  # unknown kind
    ]
    path = tmp_path / "sites.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    report = import_file(session, path, Layer.sites)
    session.commit()
    assert report.loaded == 2
    reasons = {e.row: e.reason for e in report.errors}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 10, 11}
    assert "dam_height_m" in reasons[3]
    assert "outside China" in reasons[4]
    assert "unknown enterprise" in reasons[5]
    assert "unknown region" in reasons[6]
    assert "already in the register" in reasons[7]
    assert "in this file" in reasons[8]
    assert "empty geometry" in reasons[9]
    assert "capacity_10k_m3" in reasons[10]
    assert "kind" in reasons[11]
    pond = session.scalar(select(Site).where(Site.code == "IMP-0001"))
    assert pond is not None and pond.region_adcode == "220281"  # found from the point
    assert session.get(TailingsPond, pond.id).dam_height_m == 35
    # Rejected rows left nothing behind.
    assert (
        session.scalar(
            select(func.count()).select_from(Site).where(Site.code.in_(["IMP-0003", "IMP-0004", "IMP-0010"]))
        )
        == 0
    )
    audited = session.execute(
        text(
            "SELECT entity, entity_key FROM audit_log WHERE action = 'insert' AND ((entity = 'sites' AND "
            "entity_key IN ('IMP-0001', 'IMP-0002')) OR (entity = 'tailings_ponds' AND entity_key = :pid))"
        ),
        {"pid": str(pond.id)},
    ).all()
    assert sorted(audited) == [
        ("sites", "IMP-0001"),
        ("sites", "IMP-0002"),
        ("tailings_ponds", str(pond.id)),
    ]


def test_geojson_footprints_with_invalid_and_empty_geometries(session: Session, tmp_path: Path) -> None:
    square = [[126.50, 43.90], [126.51, 43.90], [126.51, 43.91], [126.50, 43.91], [126.50, 43.90]]
    bowtie = [[126.50, 43.90], [126.51, 43.91], [126.51, 43.90], [126.50, 43.91], [126.50, 43.90]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "JL-MINE-0001"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            },
            {
                "type": "Feature",
                "properties": {"code": "JL-MINE-0002"},
                "geometry": {"type": "Polygon", "coordinates": [bowtie]},
            },
            {"type": "Feature", "properties": {"code": "JL-MINE-0003"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"code": "NO-SUCH-SITE"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            },
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            },
        ],
    }
    path = tmp_path / "footprints.geojson"
    path.write_text(json.dumps(doc))
    report = import_file(session, path, Layer.footprints)
    session.commit()
    assert report.loaded == 1
    reasons = {e.row: e.reason for e in report.errors}
    assert "Self-intersection" in reasons[2]
    assert "empty geometry" in reasons[3]
    assert "unknown site" in reasons[4]
    assert "code" in reasons[5] and "required" in reasons[5].lower()
    assert session.scalar(select(Site.footprint.is_not(None)).where(Site.code == "JL-MINE-0001"))


def test_geopackage_places(session: Session, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "code": ["GPKG-P1", "GPKG-P2", "GPKG-P3"],
            "name": ["甲村", "乙村", "丙村"],
            "kind": ["village", "village", "spaceport"],
            "population": [120, -4, 10],
        },
        geometry=[
            Point(126.52, 43.91),
            Point(126.53, 43.92),
            Polygon([(126, 43), (126.1, 43), (126, 43.1)]),
        ],
        crs="EPSG:4326",
    )
    path = tmp_path / "places.gpkg"
    frame.to_file(path, layer="places", driver="GPKG")
    report = import_file(session, path, Layer.places)
    session.commit()
    assert report.loaded == 1
    reasons = {e.row: e.reason for e in report.errors}
    assert "population" in reasons[2]
    assert "kind" in reasons[3]
    assert session.scalar(text("SELECT population FROM exposed_places WHERE code = 'GPKG-P1'")) == 120


def test_sensor_rows_check_gateway_and_unit(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "sensors.csv"
    path.write_text(
        "code,site_code,gateway_id,kind,unit,location_label,substance,interval_s,lon,lat,thresholds\n"
        "IMP-S1,JL-COAL-0001,JL-COAL-0001-GW01,methane,%,回风巷T2,,30,127.65,44.0,\n"
        "IMP-S2,JL-COAL-0001,JL-COAL-0002-GW01,methane,%,回风巷T2,,30,127.65,44.0,\n"
        "IMP-S3,JL-COAL-0001,JL-COAL-0001-GW01,methane,ppm,回风巷T2,,30,127.65,44.0,\n"
        "IMP-S4,JL-COAL-0001,JL-COAL-0001-GW01,methane,%,回风巷T2,,30,127.65,44.0,{not json\n",
        encoding="utf-8",
    )
    report = import_file(session, path, Layer.sensors)
    session.commit()
    assert report.loaded == 1
    reasons = {e.row: e.reason for e in report.errors}
    assert "unknown gateway" in reasons[2]
    assert "unit 'ppm'" in reasons[3]
    assert "thresholds" in reasons[4]
    t = session.scalar(text("SELECT thresholds FROM sensors WHERE code = 'IMP-S1'"))
    assert t["location"] == "回风巷T2" and t["levels"][0]["value"] == 1.0
