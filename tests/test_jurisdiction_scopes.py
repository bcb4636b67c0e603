"""Callers at work within their jurisdiction: a county's token reads and changes its county's rows
(grading and the audit log included), a prefecture's its counties, an enterprise its own sites;
another county's row is a 404; `riskmap token create --org` and `riskmap export-map --org`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from backend.cli import app as cli
from tests.support.accounts import make_user
from tests.support.jurisdiction import PANSHI, SHULAN, Made, cleanup, populate

runner = CliRunner()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(*args: str) -> str:
    r = runner.invoke(cli, ["token", "create", *args])
    assert r.exit_code == 0, r.output
    return r.output.strip()


@pytest.fixture(scope="module")
def made(seeded: Engine) -> Iterator[Made]:
    with seeded.begin() as conn:
        rows = populate(conn, (SHULAN, PANSHI), tag="scope", with_override=False)
    yield rows
    with seeded.begin() as conn:
        cleanup(conn, rows)


def _codes(seeded: Engine, where: str, **params: str) -> set[str]:
    with seeded.connect() as c:
        return set(c.scalars(text(f"SELECT s.code FROM sites s WHERE {where}"), params))


def test_each_token_lists_the_sites_of_its_jurisdiction(client: TestClient, seeded: Engine) -> None:
    county = _token("--role", "viewer", "--name", "scope-county", "--org", SHULAN)
    prefecture = _token("--role", "viewer", "--name", "scope-prefecture", "--org", "220200")
    with seeded.connect() as c:
        credit, firm = c.execute(
            text(
                "SELECT e.credit_code, e.id FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
                "WHERE s.region_adcode = :c ORDER BY s.code LIMIT 1"
            ),
            {"c": SHULAN},
        ).one()
    enterprise = _token("--role", "enterprise", "--name", "scope-firm", "--org", credit)
    for token, expected in (
        (county, _codes(seeded, "s.region_adcode = :c", c=SHULAN)),
        (prefecture, _codes(seeded, "s.region_adcode LIKE '2202%'")),
        (enterprise, _codes(seeded, "s.enterprise_id = :e", e=str(firm))),
    ):
        fc = client.get("/api/v1/sites", params={"limit": 5000}, headers=_auth(token)).json()
        assert {f["properties"]["code"] for f in fc["features"]} == expected and fc["total"] == len(expected)
        counties = client.get("/api/v1/risk/regions", headers=_auth(token)).json()["features"]
        graded = _codes(seeded, "EXISTS (SELECT 1 FROM site_risk r WHERE r.site_id = s.id AND r.level IS NOT NULL)")
        assert sum(f["properties"]["sites"] for f in counties) == len(expected & graded)
    other = sorted(_codes(seeded, "s.region_adcode = :c", c=PANSHI))[0]
    r = client.get(f"/api/v1/sites/{other}", headers=_auth(county))
    assert r.status_code == 404  # as if it did not exist: never 403
    assert runner.invoke(cli, ["token", "create", "--name", "x", "--org", "999999"]).exit_code == 2


def test_a_county_works_on_its_own_rows_and_is_refused_elsewhere(
    client: TestClient, seeded: Engine, made: Made
) -> None:
    admin = _auth(_token("--role", "admin", "--name", "scope-county-admin", "--org", SHULAN))
    own = _codes(seeded, "s.id = :i", i=str(made.sites[SHULAN])).pop()
    theirs = _codes(seeded, "s.id = :i", i=str(made.sites[PANSHI])).pop()
    # Changes within the county: the register (graded again in the request), an alarm, a hazard.
    r = client.patch(f"/api/v1/sites/{own}", json={"name": "舒兰测试更名煤矿"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (
        client.post(f"/api/v1/alarms/{made.alarms[SHULAN]}/ack", json={"comment": "已处置"}, headers=admin).status_code
        == 200
    )
    hazard = client.post(
        f"/api/v1/sites/{own}/hidden-hazards",
        json={"title": "测试重大隐患", "major": True, "major_reason": "县局现场检查认定"},
        headers=admin,
    )
    assert hazard.status_code == 201, hazard.text
    risk = client.get(f"/api/v1/sites/{own}/risk", headers=admin).json()
    assert risk["color"] == "red"  # graded in the request, under the county's scope: a complete view
    confirmed = client.post(f"/api/v1/hidden-hazards/{hazard.json()['id']}/confirm", json={}, headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    # Its audit log holds its own entries, and none about another county.
    audit = client.get("/api/v1/audit", params={"entity": "sites", "key": own}, headers=admin).json()
    assert any(e["after"] and e["after"].get("name") == "舒兰测试更名煤矿" for e in audit)
    assert client.get("/api/v1/audit", params={"entity": "sites", "key": theirs}, headers=admin).json() == []
    # Elsewhere: 404, and nothing changed.
    assert client.patch(f"/api/v1/sites/{theirs}", json={"name": "越权"}, headers=admin).status_code == 404
    assert client.post(f"/api/v1/alarms/{made.alarms[PANSHI]}/ack", json={}, headers=admin).status_code == 404
    with seeded.connect() as c:
        assert c.scalar(text("SELECT state FROM alarms WHERE id = :a"), {"a": made.alarms[PANSHI]}) == "raised"
        assert c.scalar(text("SELECT name FROM sites WHERE code = :c"), {"c": theirs}) != "越权"


def test_a_county_issues_broadcasts_to_its_own_sites_only(client: TestClient, seeded: Engine) -> None:
    duty = _auth(_token("--role", "regulator", "--name", "scope-county-duty", "--org", SHULAN))
    r = client.post("/api/v1/broadcasts", json={"color": "orange", "adcodes": [SHULAN], "exercise": True}, headers=duty)
    assert r.status_code == 201, r.text
    sites = {rec["site"] for rec in r.json()["recipients"]}
    assert sites == _codes(seeded, "s.region_adcode = :c AND s.kind = 'coal_mine'", c=SHULAN)
    cancelled = client.post(f"/api/v1/broadcasts/{r.json()['id']}/cancel", json={}, headers=duty)
    assert cancelled.status_code == 200
    elsewhere = {"color": "orange", "adcodes": [PANSHI], "exercise": True}
    assert client.post("/api/v1/broadcasts", json=elsewhere, headers=duty).status_code == 404
    with seeded.begin() as c:  # the drill leaves nothing for the other tests' delivery workers
        c.execute(text("DELETE FROM broadcasts WHERE id = ANY(:b)"), {"b": [cancelled.json()["id"], r.json()["id"]]})


def test_the_map_export_for_an_organisation_holds_its_sites_only(tmp_path: Path, seeded: Engine) -> None:
    out = tmp_path / "shulan.html"
    r = runner.invoke(cli, ["export-map", str(out), "--org", SHULAN])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert all(code in html for code in _codes(seeded, "s.region_adcode = :c", c=SHULAN))
    assert not any(code in html for code in _codes(seeded, "s.region_adcode <> :c", c=SHULAN))


def test_a_countys_change_regrades_the_enterprises_sites_in_other_counties(client: TestClient, seeded: Engine) -> None:
    """An enterprise registered in 220422 with sites there and in 220421: a regulator of 220421
    suspends it. The change is written (its audit entry, about 220422, is written though not
    readable by 220421), and grading is the platform's work, so its site in 220422 is regraded too,
    from complete facts."""
    credit, mine, other = "9122042286E7DH983X", "220421", "220422"
    admin = _auth(_token("--role", "regulator", "--name", "scope-regrade", "--org", mine))
    with seeded.connect() as c:
        theirs = c.execute(
            text(
                "SELECT s.id, r.graded_at FROM sites s JOIN enterprises e ON e.id = s.enterprise_id "
                "LEFT JOIN site_risk r ON r.site_id = s.id WHERE e.credit_code = :e AND s.region_adcode = :r"
            ),
            {"e": credit, "r": other},
        ).first()
    assert theirs is not None
    try:
        r = client.patch(f"/api/v1/enterprises/{credit}", json={"status": "suspended"}, headers=admin)
        assert r.status_code == 200, r.text
        with seeded.connect() as c:
            graded = c.scalar(text("SELECT graded_at FROM site_risk WHERE site_id = :s"), {"s": theirs.id})
        assert theirs.graded_at is None or graded > theirs.graded_at
    finally:
        assert (
            client.patch(f"/api/v1/enterprises/{credit}", json={"status": "operating"}, headers=admin).status_code
            == 200
        )


def test_a_county_admin_cannot_subscribe_to_the_whole_province_nor_probe_logins(
    client: TestClient, seeded: Engine
) -> None:
    """A webhook receives every broadcast of the province: only the platform's admin adds one. A login
    taken in another county is a clear 409, the same as one taken in the caller's own county."""
    county = _auth(_token("--role", "admin", "--name", "scope-webhook", "--org", SHULAN))
    r = client.post("/api/v1/webhooks", json={"url": "https://example.org/hook"}, headers=county)
    assert r.status_code == 403 and "全省" in r.json()["detail"]
    elsewhere = make_user(seeded, PANSHI, ["viewer"], name="磐石的人")
    body = {"org": SHULAN, "login": elsewhere, "name": "同名", "roles": ["viewer"]}
    taken = client.post("/api/v1/users", json=body, headers=county)
    assert taken.status_code == 409, taken.text
