"""Supervision against the real database: the sample rosters, the roster CSV import, plans generated
and regenerated (the past kept, the changes said), every draw kept, audited, re-runnable and on the
public page."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.core.clock import china_day
from backend.core.principal import Role
from backend.models import Inspector, Region
from backend.supervision import draw
from backend.supervision.plan import visit_months
from sample_data import inspectors as sample_roster
from tests.support.wait import wait_until

COUNTY = "220581"  # 梅河口市: three chemical sites in the sample


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_county_has_a_roster_and_the_sample_file_is_reproducible(seeded: Engine, tmp_path) -> None:
    with Session(seeded) as s:
        counties = set(s.scalars(select(Region.adcode).where(Region.level == "county")))
        teams = Counter(s.scalars(select(Inspector.region_adcode)))
    assert counties and all(teams[c] >= 4 for c in counties)
    sample_roster.write(tmp_path / "inspectors.csv")
    assert (tmp_path / "inspectors.csv").read_bytes() == (sample_roster.HERE / "inspectors.csv").read_bytes()


def test_roster_csv_import_loads_good_rows_and_names_each_bad_one(
    client: TestClient, tokens: dict[Role, str], seeded: Engine
) -> None:
    with Session(seeded) as s:
        credit = s.scalar(text("SELECT credit_code FROM enterprises WHERE region_adcode = :r LIMIT 1"), {"r": COUNTY})
    body = io.StringIO()
    w = csv.writer(body, lineterminator="\n")
    w.writerow(["certificate_no", "name", "region_adcode", "specialities", "conflicts", "unavailable"])
    w.writerow(["JLT0001", "测试甲", COUNTY, "危化;非煤", credit, "2026-07-01/2026-07-03"])
    w.writerow(["JLT0002", "测试乙", COUNTY, "化工", "", ""])
    w.writerow(["JLT0003", "测试丙", COUNTY, "危化", "91220000MA0000000X", ""])
    w.writerow(["JLT0001", "测试丁", COUNTY, "危化", "", ""])
    w.writerow(["JLT0004", "测试戊", "999999", "危化", "", ""])
    w.writerow(["JLT0005", "测试己", COUNTY, "危化", "", "2026-07-09/2026-07-01"])
    url = "/api/v1/inspectors/import"
    assert client.post(url, content=body.getvalue()).status_code == 401
    assert client.post(url, content=body.getvalue(), headers=_auth(tokens[Role.viewer])).status_code == 403
    r = client.post(url, content=body.getvalue().encode(), headers=_auth(tokens[Role.operator]))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["loaded"] == 1
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "化工" in reasons[2] and "unknown enterprise" in reasons[3] and "duplicate" in reasons[4]
    assert "unknown region" in reasons[5] and "start first" in reasons[6]
    roster = client.get("/api/v1/inspectors", params={"region": COUNTY}).json()
    added = next(i for i in roster if i["certificate_no"] == "JLT0001")
    assert added["specialities"] == ["非煤", "危化"] and added["conflicts"] == [credit]
    assert added["unavailable"] == ["2026-07-01", "2026-07-02", "2026-07-03"]
    audit = client.get(
        "/api/v1/audit", params={"entity": "inspectors", "key": "JLT0001"}, headers=_auth(tokens[Role.admin])
    )
    assert audit.status_code == 200 and audit.json()
    # one by JSON: a taken certificate number is a conflict, a bad field 422
    one = {"certificate_no": "JLT0001", "name": "重复", "region_adcode": COUNTY, "specialities": ["危化"]}
    assert client.post("/api/v1/inspectors", json=one, headers=_auth(tokens[Role.operator])).status_code == 409
    one["certificate_no"], one["specialities"] = "JLT0009", ["化工"]
    assert client.post("/api/v1/inspectors", json=one, headers=_auth(tokens[Role.operator])).status_code == 422
    one["specialities"] = ["危化"]
    assert client.post("/api/v1/inspectors", json=one, headers=_auth(tokens[Role.operator])).status_code == 201
    assert client.post(url, content=b"\xff\xfe", headers=_auth(tokens[Role.operator])).status_code == 422


def _generate(client: TestClient, token: str, period: str, seed: str, jurisdiction: str = COUNTY) -> dict:
    r = client.post(
        "/api/v1/inspection-plans",
        json={"jurisdiction": jurisdiction, "period": period, "seed": seed, "reason": "测试"},
        headers=_auth(token),
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_a_plan_gives_every_red_site_its_visits_and_its_draw_can_be_rerun(
    client: TestClient, tokens: dict[Role, str], seeded: Engine
) -> None:
    with Session(seeded) as s:
        colours = dict(
            s.execute(
                text(
                    "SELECT s.code, r.color FROM sites s JOIN site_risk r ON r.site_id = s.id "
                    "WHERE s.region_adcode = :r AND s.kind <> 'coal_mine'"
                ),
                {"r": COUNTY},
            ).all()
        )
    plan = _generate(client, tokens[Role.operator], "2027", "2027年第一次公开抽取")
    assert plan["version"] == 1 and plan["jurisdiction"] == COUNTY and not plan["changes"]
    visits = Counter(v["site"] for v in plan["planned_visits"])
    required = {q["site"]: q["per_year"] for q in plan["requirements"]}
    short = Counter(s["site"] for s in plan["shortfalls"])
    for code, colour in colours.items():
        assert visits[code] + short[code] == required[code]
        if colour == "red":
            assert required[code] >= 3
    assert all(len(set(v["inspectors"])) == 2 for v in plan["planned_visits"])
    # the draw is public (no token), verified, and re-runs from its published JSON
    d = client.get(f"/api/v1/draws/{plan['draw_id']}")
    assert d.status_code == 200
    body = d.json()
    assert body["verified"] and body["seed"] == "2027年第一次公开抽取" and body["algorithm"] == draw.ALGORITHM
    rerun = draw.run(draw.DrawInputs.from_json(body["inputs"])).as_json()
    assert rerun == body["result"]
    assert rerun["inspectors"] == {v["key"]: v["inspectors"] for v in plan["planned_visits"]}
    drawn = {c for codes in rerun["sites"].values() for c in codes}
    assert drawn == {v["site"] for v in plan["planned_visits"] if v["sampled"]}
    other = draw.run(draw.DrawInputs.from_json({**body["inputs"], "seed": "另一个种子"})).as_json()
    assert other != rerun
    assert client.get("/api/v1/draws/2147483647").status_code == 404


def test_regeneration_keeps_the_past_lists_the_changes_and_keeps_every_draw(
    client: TestClient, tokens: dict[Role, str], seeded: Engine
) -> None:
    op = tokens[Role.operator]
    year = str(china_day().year)
    # colours fresh first: other tests leave sites whose level a regrade would change, and the PATCH
    # below regrades the enterprise's sites
    assert client.post("/api/v1/risk/regrade", headers=_auth(op)).status_code == 200
    first = _generate(client, op, year, "第一次")
    future = _generate(client, op, str(int(year) + 2), "后年")
    with Session(seeded) as s:
        target = s.execute(
            text(
                "SELECT s.code, e.credit_code FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
                "WHERE s.region_adcode = :r AND e.credit_list = 'none' AND e.status <> 'closed' "
                "AND s.kind <> 'coal_mine' ORDER BY s.code LIMIT 1"
            ),
            {"r": COUNTY},
        ).one()
    listing = {
        "credit_code": target.credit_code,
        "list": "black",
        "reason": "重大事故隐患逾期未整改",
        "document_no": "测试〔2026〕1号",
    }
    r = client.post("/api/v1/credit-lists", json=listing, headers=_auth(op))
    assert r.status_code == 201, r.text
    try:
        second = _generate(client, op, year, "第二次")
        future_again = _generate(client, op, str(int(year) + 2), "后年-重抽")
    finally:
        removal = {"reason": "测试结束"}
        client.post(f"/api/v1/credit-lists/{r.json()['id']}/remove", json=removal, headers=_auth(op))
    assert second["version"] == first["version"] + 1 and second["plan_id"] == first["plan_id"]
    as_of = date.fromisoformat(second["as_of"])
    before = [v for v in first["planned_visits"] if date.fromisoformat(v["day"]) < as_of]
    kept = [v for v in second["planned_visits"] if date.fromisoformat(v["day"]) < as_of]
    assert kept == before  # the past is kept as it was
    new_req = next(q for q in second["requirements"] if q["site"] == target.code)
    assert any("黑名单" in reason for reason in new_req["reasons"])
    remaining = [m for m in visit_months(new_req["per_year"], target.code) if m >= as_of.month]
    assert sum(1 for v in second["planned_visits"] if v["site"] == target.code and v["day"] >= as_of.isoformat()) + sum(
        1 for s in second["shortfalls"] if s["site"] == target.code
    ) == len(remaining)
    # the whole-period regeneration two years on names the blacklisted site among the changes
    assert future_again["version"] == future["version"] + 1 and future_again["as_of"] is None
    change = next(c for c in future_again["changes"] if c["site"] == target.code)
    unstaffed = [sum(1 for x in p["shortfalls"] if x["site"] == target.code) for p in (future, future_again)]
    req = [next(q for q in p["requirements"] if q["site"] == target.code) for p in (future, future_again)]
    by_rule = 0 if req[0]["sampled"] else req[0]["per_year"]  # a drawn blue site had its one sampled visit
    assert req[1]["per_year"] == by_rule + 2 and not req[1]["sampled"]  # 黑名单: two more a year
    assert (
        change["before"] + unstaffed[0] == req[0]["per_year"] and change["after"] + unstaffed[1] == req[1]["per_year"]
    )
    assert "黑名单" in change["message"]
    versions = client.get(f"/api/v1/inspection-plans/{first['plan_id']}/versions").json()
    assert [v["version"] for v in versions][-2:] == [first["version"], second["version"]]
    old = client.get(f"/api/v1/inspection-plans/{first['plan_id']}/versions/{first['version']}").json()
    assert old["planned_visits"] == first["planned_visits"]  # an earlier version stays readable
    # every draw for the plan is kept and listed, re-draws too, and each is in the audit log
    listed = client.get("/api/v1/draws", params={"jurisdiction": COUNTY, "period": year}).json()
    ids = {d["id"] for d in listed}
    assert {first["draw_id"], second["draw_id"]} <= ids
    audit = client.get("/api/v1/audit", params={"entity": "draws"}, headers=_auth(tokens[Role.admin])).json()
    assert {str(first["draw_id"]), str(second["draw_id"])} <= {a["key"] for a in audit}
    with Session(seeded) as s:
        assert s.scalar(select(func.count()).select_from(text("draws"))) >= 4


def test_plan_input_errors_are_4xx(client: TestClient, tokens: dict[Role, str]) -> None:
    op = _auth(tokens[Role.operator])
    url = "/api/v1/inspection-plans"
    good = {"jurisdiction": COUNTY, "period": "2027", "seed": "x"}
    assert client.post(url, json=good).status_code == 401
    assert client.post(url, json=good, headers=_auth(tokens[Role.viewer])).status_code == 403
    assert client.post(url, json={**good, "period": "2027-13"}, headers=op).status_code == 422
    assert client.post(url, json={**good, "jurisdiction": "999999"}, headers=op).status_code == 404
    assert client.post(url, json={**good, "period": "2020"}, headers=op).status_code == 409
    assert client.post(url, json={**good, "seed": ""}, headers=op).status_code == 422
    assert client.get("/api/v1/inspection-plans/2147483647").status_code == 404
    assert client.get("/api/v1/inspection-plans/0").status_code == 422


def test_the_public_draws_page_lists_each_draw_in_chinese(
    browser, live_server: str, client: TestClient, tokens: dict[Role, str]
) -> None:
    plan = _generate(client, tokens[Role.operator], "2028-03", "公开页测试种子")
    listed = client.get("/api/v1/draws", params={"limit": 200}).json()
    browser.get(live_server + "/draws")
    rows = wait_until(lambda: browser.execute_script("return document.querySelectorAll('#draws tbody tr').length"))
    assert rows == len(listed)
    row = browser.find_element("css selector", f"tr[data-draw='{plan['draw_id']}']")
    assert "公开页测试种子" in row.text and "2028-03" in row.text
    page = browser.execute_script("return document.body.innerText")
    assert "双随机抽查结果公开" in page and "随机种子" in page and "抽中对象" in page


def test_the_demo_plan_is_made_once_for_the_province(seeded: Engine, client: TestClient) -> None:
    from datetime import UTC, datetime

    from backend.supervision.service import ensure_demo_plan

    day = date(2029, 1, 2)
    with Session(seeded) as s:
        s.info["actor"] = "test:demo"
        version = ensure_demo_plan(s, day, datetime.now(UTC))
        assert version is not None and version.version == 1
        visits = s.scalar(text("SELECT count(*) FROM plan_visits WHERE version_id = :v"), {"v": version.id})
        assert visits > 300
        s.commit()
        assert ensure_demo_plan(s, day, datetime.now(UTC)) is None
    listed = client.get("/api/v1/draws", params={"jurisdiction": "220000", "period": "2029"}).json()
    assert [d["seed"] for d in listed] == ["示例-2029"]
    drawn = client.get(f"/api/v1/draws/{listed[0]['id']}").json()
    assert drawn["verified"] and len(drawn["result"]["inspectors"]) == visits
