"""Inspections and enforcement against the real database: the state machine, the checklist by kind,
a finding that becomes a hidden hazard in one step, fines with amounts, document numbers once, and
责令停产整顿 suspending the enterprise (audited, and the site then watched for 明停暗采)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.core.clock import china_day
from backend.core.principal import Role
from backend.domain.rules_models import rules
from backend.models import Enterprise, HiddenHazard, Inspector, Site

COUNTY = "220581"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hazchem(seeded: Engine, client: TestClient, tokens: dict[Role, str]) -> Iterator[tuple[str, str, list[str]]]:
    """A chemical site of the county, its enterprise's credit code, and two of the county's
    inspectors without a conflict with it; the enterprise's status and the site's hazards are put
    back afterwards."""
    with Session(seeded) as s:
        site, credit, status = s.execute(
            select(Site.code, Enterprise.credit_code, Enterprise.status)
            .join(Enterprise, Enterprise.id == Site.enterprise_id)
            .where(Site.region_adcode == COUNTY, Site.kind == "hazchem", Enterprise.status == "operating")
            .order_by(Site.code)
            .limit(1)
        ).one()
        team = [
            i.certificate_no
            for i in s.scalars(select(Inspector).where(Inspector.region_adcode == COUNTY).order_by(Inspector.id))
            if credit not in (i.conflicts or [])
        ][:2]
    yield site, credit, team
    with Session(seeded) as s:
        s.info["actor"] = "test"
        s.execute(text("UPDATE enterprises SET status = :st WHERE credit_code = :c"), {"st": status, "c": credit})
        sid = s.scalar(select(Site.id).where(Site.code == site))
        for h in s.scalars(select(HiddenHazard).where(HiddenHazard.site_id == sid)):
            s.delete(h)
        s.commit()
    client.post("/api/v1/risk/regrade", headers=_auth(tokens[Role.operator]))


def test_an_inspection_runs_its_course_and_suspension_reaches_the_enterprise(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, hazchem: tuple[str, str, list[str]]
) -> None:
    site, credit, team = hazchem
    op = _auth(tokens[Role.operator])
    items = [i.id for i in rules("inspection_checklists").kinds["hazchem"].items]
    body = {
        "site": site,
        "day": "2026-11-20",
        "origin": "report_12350",
        "origin_ref": "12350-2026-0042",
        "inspectors": team,
    }
    assert client.post("/api/v1/inspections", json=body).status_code == 401
    assert client.post("/api/v1/inspections", json={**body, "inspectors": team[:1]}, headers=op).status_code == 422
    assert client.post("/api/v1/inspections", json={**body, "origin_ref": None}, headers=op).status_code == 422
    assert (
        client.post("/api/v1/inspections", json={**body, "origin": "alarm", "origin_ref": "1"}, headers=op).status_code
        == 422
    )
    r = client.post("/api/v1/inspections", json=body, headers=op)
    assert r.status_code == 201, r.text
    ins = r.json()
    assert ins["state"] == "planned" and [c["id"] for c in ins["checklist"]] == items
    iid = ins["id"]
    # not before it starts
    assert client.post(f"/api/v1/inspections/{iid}/record", json={}, headers=op).status_code == 409
    assert (
        client.post(
            "/api/v1/enforcement-actions",
            json={"inspection_id": iid, "kind": "transfer", "document_no": "X"},
            headers=op,
        ).status_code
        == 409
    )
    assert client.post(f"/api/v1/inspections/{iid}/start", headers=op).json()["state"] == "in_progress"
    fill = {
        "answers": {items[0]: {"result": "finding", "note": "紧急切断阀旁路"}, items[1]: {"result": "ok"}},
        "findings": [{"title": "重大危险源紧急切断系统未投用", "major": True, "item": items[0]}],
    }
    assert (
        client.post(
            f"/api/v1/inspections/{iid}/record", json={"answers": {"nope": {"result": "ok"}}}, headers=op
        ).status_code
        == 422
    )
    r = client.post(f"/api/v1/inspections/{iid}/record", json=fill, headers=op)
    assert r.status_code == 200 and r.json()["findings"][0]["hazard_id"] is None
    incomplete = client.post(f"/api/v1/inspections/{iid}/complete", headers=op)
    assert incomplete.status_code == 409 and items[2] in incomplete.json()["detail"]
    # the finding becomes a hidden hazard in one step: a major one makes the site red
    r = client.post(f"/api/v1/inspections/{iid}/findings/0/hazard", headers=op)
    assert r.status_code == 200, r.text
    hazard_id = r.json()["hazard_id"]
    assert r.json()["inspection"]["findings"][0]["hazard_id"] == hazard_id
    assert client.post(f"/api/v1/inspections/{iid}/findings/0/hazard", headers=op).status_code == 409
    assert client.post(f"/api/v1/inspections/{iid}/findings/5/hazard", headers=op).status_code == 404
    with Session(seeded) as s:
        hazard = s.get(HiddenHazard, hazard_id)
        assert hazard is not None and hazard.major and hazard.rectified_at is None
        colour = s.scalar(
            text("SELECT r.color FROM site_risk r JOIN sites s ON s.id = r.site_id WHERE s.code = :c"), {"c": site}
        )
    assert colour == "red"
    # enforcement: a fine needs its amount; a document number is used once
    fine = {"inspection_id": iid, "kind": "fine", "document_no": "（梅）应急罚〔2026〕17号"}
    assert client.post("/api/v1/enforcement-actions", json=fine, headers=op).status_code == 422
    r = client.post("/api/v1/enforcement-actions", json={**fine, "amount_yuan": 50000}, headers=op)
    assert r.status_code == 201 and r.json()["kind_zh"] == "罚款" and r.json()["amount_yuan"] == 50000
    assert client.post("/api/v1/enforcement-actions", json={**fine, "amount_yuan": 1}, headers=op).status_code == 409
    stop = {"inspection_id": iid, "kind": "suspend_for_rectification", "document_no": "（梅）应急责停〔2026〕3号"}
    r = client.post("/api/v1/enforcement-actions", json=stop, headers=op)
    assert r.status_code == 201
    assert client.get(f"/api/v1/enterprises/{credit}").json()["status"] == "suspended"
    audit = client.get("/api/v1/audit", params={"entity": "enterprises"}, headers=_auth(tokens[Role.admin])).json()
    assert any(a["after"] == {"status": "suspended"} and a["before"] == {"status": "operating"} for a in audit)
    listed = client.get("/api/v1/enforcement-actions", params={"site": site}).json()
    assert {a["document_no"] for a in listed} >= {fine["document_no"], stop["document_no"]}
    # answer the rest, complete; then nothing moves it
    rest = {"answers": {i: {"result": "ok"} for i in items[2:]}}
    assert client.post(f"/api/v1/inspections/{iid}/record", json=rest, headers=op).status_code == 200
    done = client.post(f"/api/v1/inspections/{iid}/complete", headers=op).json()
    assert done["state"] == "completed" and done["completed_at"]
    assert client.post(f"/api/v1/inspections/{iid}/cancel", json={"reason": "x"}, headers=op).status_code == 409
    assert client.post(f"/api/v1/inspections/{iid}/start", headers=op).status_code == 409
    events = client.get(
        "/api/v1/audit", params={"entity": "inspections", "key": str(iid)}, headers=_auth(tokens[Role.admin])
    ).json()
    assert {"planned", "in_progress", "to_hazard", "completed"} <= {e["action"] for e in events}


def test_a_conflicted_inspector_cannot_inspect_and_the_checklist_is_by_kind(
    client: TestClient, tokens: dict[Role, str], seeded: Engine, hazchem: tuple[str, str, list[str]]
) -> None:
    site, credit, team = hazchem
    op = _auth(tokens[Role.operator])
    conflicted = {
        "certificate_no": "JLC0001",
        "name": "回避测试",
        "region_adcode": COUNTY,
        "specialities": ["危化"],
        "conflicts": [credit],
    }
    assert client.post("/api/v1/inspectors", json=conflicted, headers=op).status_code == 201
    body = {"site": site, "day": "2026-11-20", "origin": "other", "inspectors": [team[0], "JLC0001"]}
    r = client.post("/api/v1/inspections", json=body, headers=op)
    assert r.status_code == 422 and "conflict" in r.text
    body["inspectors"] = [team[0], "JL-NOBODY"]
    assert client.post("/api/v1/inspections", json=body, headers=op).status_code == 422
    coal = client.get("/api/v1/checklists/coal_mine").json()
    assert coal["kind"] == "coal_mine" and all(i["id"].startswith("coal-") for i in coal["items"])
    assert client.get("/api/v1/checklists/bakery").status_code == 422
    assert client.get("/api/v1/inspections/2147483647").status_code == 404
    # a cancelled inspection says why, and stays cancelled
    body["inspectors"] = team
    iid = client.post("/api/v1/inspections", json=body, headers=op).json()["id"]
    assert (
        client.post(f"/api/v1/inspections/{iid}/cancel", json={"reason": "企业已停产"}, headers=op).json()["state"]
        == "cancelled"
    )
    assert client.post(f"/api/v1/inspections/{iid}/start", headers=op).status_code == 409


def test_the_supervision_report_and_its_workbook_match_the_database(
    client: TestClient, anonymous: TestClient, tokens: dict[Role, str], seeded: Engine
) -> None:
    import io

    from openpyxl import load_workbook

    county = "222426"  # 安图县
    op, viewer = _auth(tokens[Role.operator]), _auth(tokens[Role.viewer])
    today = china_day()
    period = f"{today.year}-{today.month:02d}"
    plan = client.post(
        "/api/v1/inspection-plans",
        json={"jurisdiction": county, "period": period, "seed": "报表测试"},
        headers=op,
    ).json()
    with Session(seeded) as s:
        site, team = s.execute(
            text(
                "SELECT s.code, (SELECT array_agg(certificate_no ORDER BY id) FROM inspectors "
                "WHERE region_adcode = s.region_adcode) FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
                "WHERE s.region_adcode = :r AND s.kind <> 'coal_mine' AND e.status = 'operating' ORDER BY s.code LIMIT 1"
            ),
            {"r": county},
        ).one()
        planned = s.scalar(
            text(
                "SELECT count(*) FROM plan_visits v JOIN inspection_plan_versions pv ON pv.id = v.version_id "
                "JOIN inspection_plans p ON p.id = pv.plan_id AND pv.version = p.current_version "
                "WHERE p.region_adcode = :r AND p.period = :p"
            ),
            {"r": county, "p": period},
        )
    assert planned == len(plan["planned_visits"]) > 0
    body = {"site": site, "day": today.isoformat(), "origin": "other", "inspectors": team[:2]}
    iid = client.post("/api/v1/inspections", json=body, headers=op).json()["id"]
    client.post(f"/api/v1/inspections/{iid}/start", headers=op)
    items = [c["id"] for c in client.get(f"/api/v1/inspections/{iid}").json()["checklist"]]
    fill = {"answers": {i: {"result": "ok"} for i in items}, "findings": [{"title": "安全出口堵塞", "major": True}]}
    assert client.post(f"/api/v1/inspections/{iid}/record", json=fill, headers=op).status_code == 200
    assert client.post(f"/api/v1/inspections/{iid}/complete", headers=op).status_code == 200
    fine = {
        "inspection_id": iid,
        "kind": "fine",
        "document_no": f"（安）应急罚〔{today.year}〕1号",
        "amount_yuan": 20000,
    }
    assert client.post("/api/v1/enforcement-actions", json=fine, headers=op).status_code == 201

    url = "/api/v1/reports/supervision"
    params = {"jurisdiction": county, "period": period}
    assert anonymous.get(url, params=params).status_code == 401
    assert client.get(url, params={**params, "period": "2026-13"}, headers=viewer).status_code == 422
    assert client.get(url, params={**params, "jurisdiction": "999999"}, headers=viewer).status_code == 404
    r = client.get(url, params=params, headers=viewer)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (
        rep["planned"] == planned
        and rep["done"] == 1
        and rep["by_month"] == [{"month": today.month, "planned": planned, "done": 1}]
    )
    assert rep["fines"] == 1 and rep["fines_yuan"] == 20000 and rep["major_findings"] == 1
    assert rep["findings_per_inspection"] == 1.0
    due = Counter(v["site"] for v in plan["planned_visits"] if v["day"] < today.isoformat())
    overdue = {c for o in rep["overdue"] for c in o["sites"]}
    assert overdue == {c for c, n in due.items() if n > (1 if c == site else 0)}  # one inspection done at `site`
    workload = {w["inspector"]: w for w in rep["workload"]}
    assert all(workload[i]["done"] == 1 for i in team[:2])
    assert sum(w["planned"] for w in rep["workload"]) == 2 * planned

    x = client.get(url + ".xlsx", params=params, headers=viewer)
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(x.content))
    assert wb.sheetnames == ["按月完成情况", "逾期未检查", "隐患与执法", "检查人员工作量"]
    months = wb["按月完成情况"]
    assert "安图县" in months["A1"].value
    assert [c.value for c in months[4]][:3] == [f"{today.month}月", planned, 1]
    totals = {row[0].value: row[1].value for row in wb["隐患与执法"].iter_rows(min_row=4)}
    assert totals["罚款金额（元）"] == 20000 and totals["罚款（次）"] == 1 and totals["其中重大事故隐患（项）"] == 1
    overdue_rows = {row[0].value: row[1].value for row in wb["逾期未检查"].iter_rows(min_row=4)}
    assert sum(overdue_rows.values()) == len(overdue)
    people = {row[0].value: (row[1].value, row[2].value) for row in wb["检查人员工作量"].iter_rows(min_row=4)}
    assert people == {w["inspector"]: (w["planned"], w["done"]) for w in rep["workload"]}
