"""GB 18218-2018 golden tests through the public API and the regrade: every row of Table 1, every
class of Table 2, the worked example, the α and grade band edges, and identification per unit
(a unit's own S, α and R; the site as severe as its worst unit)."""

from datetime import UTC, datetime

import pytest
import yaml
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import Point, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain.inherent import hazchem_level
from backend.domain.major_hazard import Held, Unit, UnitGradingError
from backend.domain.standards import PACKAGED
from backend.domain.substances import StandardsError, UnknownSubstance, gb18218, parse_gb18218, resolve
from backend.registry.importer import Layer, Row, import_rows
from backend.risk.engine import grade_sites, regrade

TABLE = gb18218()
ASSESS = "/api/v1/assessments/major-hazard"
GEOD = Geod(ellps="WGS84")
PLANT = (122.95, 45.22)  # in 白城, kilometres from any sample site or test scene


def assess(client: TestClient, substances: list[dict], population: int = 0) -> dict:
    r = client.post(ASSESS, json={"substances": substances, "exposed_population": population})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("row", TABLE.substances, ids=lambda r: f"{r.seq}-{r.name}")
def test_every_table1_row_at_its_critical_quantity_is_s_1(client: TestClient, row) -> None:
    out = assess(client, [{"name": row.name, "cas": row.cas[0] if row.cas else None, "quantity_t": row.q_t}])
    assert out["s"] == pytest.approx(1) and out["is_major_hazard"]
    term = out["substances"][0]
    assert (term["critical_quantity_t"], term["table"]) == (row.q_t, "Table 1")
    expected_beta = TABLE.table3_beta(row) or (
        TABLE.hazard_classes[row.hazard_class].beta if row.hazard_class else row.beta
    )
    assert term["beta"] == expected_beta
    # α 0.5 with nobody around: R = 0.5 β
    assert out["r"] == pytest.approx(0.5 * expected_beta)


def test_table1_has_all_85_rows_with_unique_names() -> None:
    assert [r.seq for r in TABLE.substances] == list(range(1, 86))


@pytest.mark.parametrize("code", list(TABLE.hazard_classes))
def test_every_table2_class_gives_q_and_beta(client: TestClient, code: str) -> None:
    klass = TABLE.hazard_classes[code]
    out = assess(client, [{"name": "某试验物质", "hazard_class": code, "quantity_t": klass.q_t}])
    term = out["substances"][0]
    assert out["s"] == pytest.approx(1) and out["is_major_hazard"]
    assert (term["critical_quantity_t"], term["beta"], term["table"]) == (klass.q_t, klass.beta, f"Table 2 ({code})")


def test_table2_and_table4_are_complete() -> None:
    expected = {
        "J1": (5, 4), "J2": (50, 1), "J3": (50, 2), "J4": (50, 2), "J5": (500, 1),
        "W1.1": (1, 2), "W1.2": (10, 2), "W1.3": (50, 2), "W2": (10, 1.5), "W3": (150, 1), "W4": (50, 1),
        "W5.1": (10, 1.5), "W5.2": (50, 1), "W5.3": (1000, 1), "W5.4": (5000, 1),
        "W6.1": (10, 1.5), "W6.2": (50, 1), "W7.1": (10, 1.5), "W7.2": (50, 1), "W8": (50, 1),
        "W9.1": (50, 1), "W9.2": (200, 1), "W10": (200, 1), "W11": (200, 1),
    }  # fmt: skip
    assert {k: (c.q_t, c.beta) for k, c in TABLE.hazard_classes.items()} == expected


def test_organic_peroxide_by_class_and_table1_substance_keeps_its_own_q(client: TestClient) -> None:
    out = assess(client, [{"name": "某有机过氧化物", "hazard_class": "W7.1", "quantity_t": 3}])
    assert out["s"] == pytest.approx(0.3) and out["substances"][0]["beta"] == 1.5
    # 氯 given a class is still graded by Table 1: Q 5, not Table 2's W2 10.
    out = assess(client, [{"name": "氯", "hazard_class": "W2", "quantity_t": 5}])
    assert out["substances"][0]["critical_quantity_t"] == 5 and out["s"] == pytest.approx(1)


@pytest.mark.parametrize(
    ("name", "hazard_class", "q", "beta"),
    [
        ("硝酸铵（含可燃物>0.2%）", "W1.1", 5, 2),
        ("硝酸铵（含可燃物≤0.2%）", "W9.2", 50, 1),
        ("硝酸铵肥料（含可燃物≤0.4%）", "W9.2", 200, 1),
        ("硝酸铵基化肥", "W9.2", 200, 1),  # the 2009 name, kept as an alias of the 2018 row
        ("氧(液化)", "W4", 200, 1),
        ("电石", "W11", 100, 1),
    ],
)
def test_hazard_classes_for_beta(name: str, hazard_class: str, q: float, beta: float) -> None:
    r = resolve(name)
    assert (r.hazard_class, r.q_t, r.beta) == (hazard_class, q, beta)


def test_worked_example_of_the_domain_reference(client: TestClient) -> None:
    out = assess(client, [{"name": "氯", "quantity_t": 10}, {"cas": "7664-41-7", "quantity_t": 30}], 120)
    assert out["s"] == pytest.approx(5) and out["alpha"] == 2.0 and out["r"] == pytest.approx(28)
    assert (out["grade"], out["color"]) == (3, "yellow")
    assert out["summary"].startswith("三级重大危险源：R = 28.0 ≥ 10（GB 18218-2018")
    assert "500 m 内常住人口 120 人" in out["summary"]


@pytest.mark.parametrize(
    ("population", "alpha"), [(0, 0.5), (1, 1.0), (29, 1.0), (30, 1.2), (49, 1.2), (50, 1.5), (99, 1.5), (100, 2.0)]
)
def test_alpha_band_edges(client: TestClient, population: int, alpha: float) -> None:
    assert assess(client, [{"name": "氯", "quantity_t": 5}], population)["alpha"] == alpha


@pytest.mark.parametrize(
    ("chlorine_t", "grade", "color"),
    # 1 resident: α 1, R = 4 · q / 5
    [(12.49, 4, "blue"), (12.5, 3, "yellow"), (62.49, 3, "yellow"), (62.5, 2, "orange"), (124.99, 2, "orange"),
     (125, 1, "red")],
)  # fmt: skip
def test_grade_edges(client: TestClient, chlorine_t: float, grade: int, color: str) -> None:
    out = assess(client, [{"name": "氯", "quantity_t": chlorine_t}], 1)
    assert (out["grade"], out["color"]) == (grade, color)


def test_per_unit_example_through_the_api(client: TestClient) -> None:
    for held in ({"name": "氨", "quantity_t": 4}, {"name": "氨", "quantity_t": 4}, {"name": "氯", "quantity_t": 3}):
        assert not assess(client, [held])["is_major_hazard"]
    together = assess(
        client, [{"name": "氨", "quantity_t": 4}, {"name": "氨", "quantity_t": 4}, {"name": "氯", "quantity_t": 3}]
    )
    assert together["is_major_hazard"] and together["s"] == pytest.approx(1.4)


@pytest.mark.parametrize(
    ("substance", "fragment"),
    [
        ({"name": "二噁英", "quantity_t": 1}, "未给出危险性类别"),
        ({"name": "某物质", "hazard_class": "W99", "quantity_t": 1}, "W99"),
        ({"name": "硝酸铵", "quantity_t": 1}, "可燃物"),
        ({"cas": "9004-70-0", "quantity_t": 1}, "多行"),
    ],
)
def test_substances_the_tables_cannot_grade_are_a_clear_422(client: TestClient, substance: dict, fragment: str) -> None:
    r = client.post(ASSESS, json={"substances": [substance], "exposed_population": 0})
    assert r.status_code == 422 and fragment in r.text


def test_a_bad_override_fails_with_its_file_and_field() -> None:
    data = yaml.safe_load((PACKAGED / "gb18218.yaml").read_text(encoding="utf-8"))
    data["substances"][11]["q_t"] = -5
    with pytest.raises(StandardsError, match=r"override\.yaml: substances\.11\.q_t"):
        parse_gb18218(data, "override.yaml")
    data = yaml.safe_load((PACKAGED / "gb18218.yaml").read_text(encoding="utf-8"))
    data["substances"][0]["hazard_class"] = "W12"
    with pytest.raises(StandardsError, match="row 1: hazard_class 'W12'"):
        parse_gb18218(data, "override.yaml")
    data = yaml.safe_load((PACKAGED / "gb18218.yaml").read_text(encoding="utf-8"))
    data["toxic_gas_beta"]["某气"] = 3
    with pytest.raises(StandardsError, match="toxic_gas_beta: '某气' is no Table 1 name"):
        parse_gb18218(data, "override.yaml")


def test_a_bad_override_file_stops_the_app_start() -> None:
    from backend.api.main import create_app
    from backend.core.config import paths

    override = paths().data_dir / "standards" / "gb18218.yaml"
    assert not override.exists()
    override.parent.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((PACKAGED / "gb18218.yaml").read_text(encoding="utf-8"))
    data["hazard_classes"]["W2"]["beta"] = "很大"
    override.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    gb18218.cache_clear()
    try:
        with pytest.raises(StandardsError, match=r"standards/gb18218\.yaml: hazard_classes\.W2\.beta"):
            create_app()
    finally:
        override.unlink()
        gb18218.cache_clear()
    assert gb18218().hazard_classes["W2"].beta == 1.5


def test_unit_with_every_table2_class_and_one_unknown_substance_is_a_clear_error() -> None:
    held = [Held(1, f"试验物质{code}", hazard_class=code) for code in TABLE.hazard_classes]
    good = Unit("U1", "1号仓库", "storage", held)
    assert hazchem_level([good]).evidence["units"][0]["s"] > 1
    bad = Unit("U2", "2号仓库", "storage", [*held, Held(1, "某未知物")])
    with pytest.raises(UnitGradingError, match="2号仓库") as caught:
        hazchem_level([good, bad])
    assert isinstance(caught.value, UnknownSubstance) and caught.value.unit_code == "U2"


# --- per unit, against the database ---------------------------------------------------------------


def at(origin: tuple[float, float], bearing: float, distance_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], bearing, distance_m)
    return lon, lat


def square(center: tuple[float, float], half_m: float) -> Polygon:
    e = at(center, 90, half_m)[0] - center[0]
    n = at(center, 0, half_m)[1] - center[1]
    x, y = center
    return Polygon([(x - e, y - n), (x + e, y - n), (x + e, y + n), (x - e, y + n)])


def _load(session: Session, layer: Layer, rows: list[Row]):
    report = import_rows(session, layer, rows)
    assert not report.errors, report.errors
    return report


@pytest.fixture(scope="module")
def plants(seeded) -> dict[str, int]:
    """Three plants at PLANT: units apart, the same in one unit, and one with a unit of its own shape."""
    with Session(seeded) as s:
        s.info["actor"] = "test:units"
        credit = s.scalar(text("SELECT credit_code FROM enterprises WHERE status = 'operating' ORDER BY id LIMIT 1"))
        sites = [("UT-APART", PLANT), ("UT-TOGETHER", at(PLANT, 0, 3000)), ("UT-SHAPED", at(PLANT, 180, 3000))]
        _load(
            s,
            Layer.sites,
            [
                Row(
                    i,
                    {"code": c, "name": f"单元测试{c}", "kind": "hazchem", "enterprise_credit_code": credit},
                    Point(xy),
                )
                for i, (c, xy) in enumerate(sites, 1)
            ],
        )
        shaped = sites[2][1]
        _load(s, Layer.footprints, [Row(1, {"code": "UT-SHAPED"}, square(shaped, 200))])
        # 77 residents 300 m east of the plant's edge: within 500 m of the plant, 1 km from the west unit.
        _load(
            s,
            Layer.places,
            [
                Row(
                    1,
                    {"code": "UT-V77", "name": "单元测试屯", "kind": "village", "population": 77},
                    Point(at(shaped, 90, 500)),
                )
            ],
        )
        _load(
            s,
            Layer.inventory,
            [
                Row(1, {"site_code": "UT-APART", "unit_code": "TK1", "unit_name": "1号罐区", "unit_kind": "storage",
                        "substance": "氨", "max_quantity_t": "4"}, None),
                Row(2, {"site_code": "UT-APART", "unit_code": "TK2", "unit_name": "2号罐区", "unit_kind": "storage",
                        "substance": "液氨", "max_quantity_t": "4"}, None),
                Row(3, {"site_code": "UT-APART", "unit_code": "WH1", "unit_name": "氯气库", "unit_kind": "storage",
                        "substance": "氯", "max_quantity_t": "3"}, None),
                Row(4, {"site_code": "UT-SHAPED", "unit_code": "TW", "unit_name": "西罐区", "unit_kind": "storage",
                        "substance": "氯", "max_quantity_t": "10"}, None),
                Row(5, {"site_code": "UT-SHAPED", "unit_code": "PE", "unit_name": "东装置", "unit_kind": "production",
                        "substance": "氯", "max_quantity_t": "10"}, None),
            ],
        )  # fmt: skip
        # Without unit columns the rows go to the site's default unit, and the report says so.
        report = _load(
            s,
            Layer.inventory,
            [
                Row(1, {"site_code": "UT-TOGETHER", "substance": "氨", "max_quantity_t": "8"}, None),
                Row(2, {"site_code": "UT-TOGETHER", "substance": "氯", "max_quantity_t": "3"}, None),
            ],
        )
        assert report.notes and "UT-TOGETHER" in report.notes[0] and "默认单元" in report.notes[0]
        _load(
            s,
            Layer.hazard_units,
            [Row(1, {"site_code": "UT-SHAPED", "code": "TW", "name": "西罐区", "kind": "storage"},
                 square(at(shaped, 270, 150), 30))],
        )  # fmt: skip
        s.commit()
        ids = dict(s.execute(text("SELECT code, id FROM sites WHERE code LIKE 'UT-%'")).all())
        regrade(s, list(ids.values()))
        s.commit()
        return ids


def _risk(session: Session, site_id: int) -> tuple[int, list[dict]]:
    return session.execute(
        text("SELECT inherent_level, reasons FROM site_risk WHERE site_id = :i"), {"i": site_id}
    ).one()  # type: ignore[return-value]


def test_three_units_below_their_thresholds_are_no_major_hazard(
    session: Session, client: TestClient, plants: dict[str, int]
) -> None:
    level, reasons = _risk(session, plants["UT-APART"])
    assert level == 4 and reasons[0]["summary"].startswith("非重大危险源")
    units = client.get("/api/v1/sites/UT-APART").json()["properties"]["units"]
    assert [(u["code"], u["is_major_hazard"]) for u in units] == [("TK1", False), ("TK2", False), ("WH1", False)]
    assert [u["s"] for u in units] == [pytest.approx(0.4), pytest.approx(0.4), pytest.approx(0.6)]
    assert units[2]["substances"] == [
        {
            "name": "氯",
            "cas": "7782-50-5",
            "hazard_class": "J3",
            "quantity_t": 3,
            "q_t": 5,
            "beta": 4,
            "table": "Table 1",
        }
    ]


def test_the_same_quantities_in_one_unit_are_a_major_hazard(
    session: Session, client: TestClient, plants: dict[str, int]
) -> None:
    _, reasons = _risk(session, plants["UT-TOGETHER"])
    assert "重大危险源：R =" in reasons[0]["summary"] and reasons[0]["evidence"]["is_major_hazard"]
    (unit,) = client.get("/api/v1/sites/UT-TOGETHER").json()["properties"]["units"]
    assert (unit["code"], unit["kind"], unit["is_major_hazard"]) == ("SITE", None, True)
    assert unit["s"] == pytest.approx(1.4)


def test_alpha_is_counted_around_the_units_own_footprint(
    session: Session, client: TestClient, plants: dict[str, int]
) -> None:
    units = {u["code"]: u for u in client.get("/api/v1/sites/UT-SHAPED").json()["properties"]["units"]}
    east, west = units["PE"], units["TW"]
    assert (east["exposure_measured_from"], west["exposure_measured_from"]) == ("plant", "unit")
    assert east["exposed_population"] - west["exposed_population"] == 77
    # Both hold 10 t 氯 (S 2): the site takes its worst unit, the one with more people around.
    assert east["r"] > west["r"]
    level, reasons = _risk(session, plants["UT-SHAPED"])
    assert level == east["grade"] and reasons[0]["evidence"]["worst_unit"] == "PE"
    assert reasons[0]["summary"].startswith("东装置：")


def test_an_unknown_substance_stops_only_its_site(session: Session, client: TestClient, plants: dict[str, int]) -> None:
    """A unit holding one substance of every Table 2 class and one the tables lack: a clear error
    for that site, every other site still graded."""
    sid = plants["UT-APART"]
    unit = session.scalar(text("SELECT id FROM hazard_units WHERE site_id = :s AND code = 'WH1'"), {"s": sid})
    for k, code in enumerate([*TABLE.hazard_classes, None]):
        session.execute(
            text(
                "INSERT INTO inventory_items (site_id, unit_id, substance, hazard_class, max_quantity_t) "
                "VALUES (:s, :u, :n, :c, 1)"
            ),
            {"s": sid, "u": unit, "n": f"试验物质{k}" if code else "某未知物", "c": code},
        )
    session.commit()
    try:
        graded, errors = grade_sites(session, list(plants.values()), datetime.now(UTC))
        assert "UT-APART" in errors and "氯气库" in errors["UT-APART"] and "某未知物" in errors["UT-APART"]
        assert set(graded) == {plants["UT-TOGETHER"], plants["UT-SHAPED"]}
        r = client.get("/api/v1/sites/UT-APART")
        assert r.status_code == 200
        wh1 = next(u for u in r.json()["properties"]["units"] if u["code"] == "WH1")
        assert wh1["s"] is None and "某未知物" in wh1["error"] and wh1["summary"].startswith("无法辨识")
        assert len(wh1["substances"]) == len(TABLE.hazard_classes) + 2
    finally:
        session.execute(text("DELETE FROM inventory_items WHERE site_id = :s AND max_quantity_t = 1"), {"s": sid})
        session.commit()
    with pytest.raises(UnknownSubstance):
        resolve("某未知物")


def test_import_refuses_what_it_cannot_grade(session: Session, plants: dict[str, int]) -> None:
    report = import_rows(
        session,
        Layer.inventory,
        [
            Row(1, {"site_code": "UT-APART", "substance": "二噁英", "max_quantity_t": "1"}, None),
            Row(2, {"site_code": "UT-APART", "substance": "某物", "hazard_class": "W99", "max_quantity_t": "1"}, None),
            Row(3, {"site_code": "UT-APART", "unit_code": "NEW", "substance": "氯", "max_quantity_t": "1"}, None),
            Row(4, {"site_code": "UT-APART", "unit_code": "TK1", "unit_name": "别的名字", "unit_kind": "storage",
                    "substance": "氯", "max_quantity_t": "1"}, None),
            Row(5, {"site_code": "UT-APART", "unit_code": "TK1", "substance": "某有机过氧化物", "hazard_class": "W7.1",
                    "max_quantity_t": "3"}, None),
        ],
    )  # fmt: skip
    session.rollback()
    reasons = {e.row: e.reason for e in report.errors}
    assert set(reasons) == {1, 2, 3, 4} and report.loaded == 1
    assert "危险性类别" in reasons[1] and "W99" in reasons[2] and "unit_kind" in reasons[3] and "1号罐区" in reasons[4]


def test_migration_puts_existing_inventory_in_one_default_unit_per_site(stack) -> None:
    """0007 on a register with inventory: each site's rows go to its default unit; going back sums
    a substance held in several units into one row per site again."""
    from alembic import command
    from sqlalchemy import create_engine

    from backend.core.db import sqlalchemy_url
    from backend.core.migrate import alembic_config, upgrade

    url = stack.postgres.ensure_database("riskmap_units_migration")
    engine = create_engine(sqlalchemy_url(url))
    try:
        upgrade(url, "0006")
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO regions (adcode, name, level, boundary) VALUES ('220000', '吉林省', 'province', "
                    "ST_Multi(ST_MakeEnvelope(121, 40, 132, 47, 4326)))"
                )
            )
            c.execute(
                text(
                    "INSERT INTO enterprises (credit_code, name, industry, status, region_adcode, credit_list) "
                    "VALUES ('91220000MA0000000X', '迁移测试化工', '危险化学品', 'operating', '220000', 'none')"
                )
            )
            c.execute(
                text(
                    "INSERT INTO sites (code, name, kind, enterprise_id, region_adcode, location) SELECT 'MIG-1', "
                    "'迁移测试厂区', 'hazchem', id, '220000', ST_SetSRID(ST_MakePoint(125, 43), 4326) FROM enterprises"
                )
            )
            c.execute(
                text(
                    "INSERT INTO inventory_items (site_id, substance, cas, max_quantity_t) SELECT id, '氯', "
                    "'7782-50-5', 3 FROM sites UNION ALL SELECT id, '氨', '7664-41-7', 4 FROM sites"
                )
            )
        upgrade(url)
        with engine.begin() as c:
            units = c.execute(text("SELECT id, code, name, kind FROM hazard_units")).all()
            assert [(u.code, u.name, u.kind) for u in units] == [("SITE", "全厂（未划分单元）", None)]
            assert c.scalar(text("SELECT array_agg(DISTINCT unit_id) FROM inventory_items")) == [units[0].id]
            c.execute(
                text(
                    "WITH u AS (INSERT INTO hazard_units (site_id, code, name, kind) SELECT id, 'TK1', '1号罐区', "
                    "'storage' FROM sites RETURNING id, site_id) INSERT INTO inventory_items "
                    "(site_id, unit_id, substance, cas, max_quantity_t) SELECT site_id, id, '氯', '7782-50-5', 2 FROM u"
                )
            )
        command.downgrade(alembic_config(url), "0006")
        with engine.begin() as c:
            rows = dict(c.execute(text("SELECT substance, max_quantity_t FROM inventory_items")).all())
            assert rows == {"氯": 5, "氨": 4}
    finally:
        engine.dispose()
        stack.postgres.drop_database("riskmap_units_migration")
