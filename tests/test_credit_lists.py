"""Credit lists (黑名单 / 红名单): the transitions of backend/supervision/credit.py against the real
database (row-level security on: the county regulator's own role), the derived Enterprise.credit_list,
the audit, jurisdiction, the public API, the sample and the effect on a generated plan."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from backend.core.clock import china_day
from backend.core.jurisdiction import bind
from backend.core.principal import Principal, Role, Scope
from backend.domain.errors import Conflict, Invalid, NotFound
from backend.domain.kinds import CreditList
from backend.models import AuditEntry, CreditListEntry, Enterprise, Organisation
from backend.registry.tokens import create_token
from backend.supervision import credit, credit_sample, plan, service
from tests.support.accounts import make_user, sign_in
from tests.support.jurisdiction import PANSHI, SHULAN

NOW = datetime(2031, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Jilin: the tests' clock
TODAY = date(2031, 6, 1)


def _firm(engine: Engine, county: str, offset: int = 0) -> Any:
    """An operating enterprise of `county` on no list, with a site the county supervises."""
    with engine.connect() as c:
        return c.execute(
            text(
                "SELECT e.id, e.credit_code, e.name, e.credit_list, min(s.code) site FROM enterprises e "
                "JOIN sites s ON s.enterprise_id = e.id WHERE e.region_adcode = :c AND e.status = 'operating' "
                "AND e.credit_list = 'none' AND s.kind IN ('hazchem', 'noncoal_mine') "
                "GROUP BY e.id ORDER BY e.id OFFSET :o LIMIT 1"
            ),
            {"c": county, "o": offset},
        ).one()


def _forget(engine: Engine, enterprise_ids: list[int]) -> None:
    """Tests' entries away again (as the owner: the API can never delete one) and the lists reset."""
    with engine.begin() as c:
        c.execute(text("DELETE FROM credit_list_entries WHERE enterprise_id = ANY(:e)"), {"e": enterprise_ids})
        c.execute(text("UPDATE enterprises SET credit_list = 'none' WHERE id = ANY(:e)"), {"e": enterprise_ids})


def _regulator(engine: Engine, county: str) -> Principal:
    with Session(engine) as s:
        org = s.scalar(select(Organisation.id).where(Organisation.kind == "bureau", Organisation.code == county))
    return Principal(
        actor=f"test:credit-{county}",
        name="县局",
        roles=frozenset({Role.regulator}),
        scope=Scope.region,
        region=county,
        org_id=org,
    )


@pytest.fixture
def firm(seeded: Engine) -> Iterator[Any]:
    row = _firm(seeded, PANSHI)
    _forget(seeded, [row.id])
    yield row
    _forget(seeded, [row.id])


def _list(e: Any, list_: CreditList, **kw: Any) -> credit.Listing:
    values: dict[str, Any] = {
        "credit_code": e.credit_code,
        "list": list_,
        "reason": "重大事故隐患逾期未整改",
        "document_no": "磐应急失信〔2031〕1号",
        "listed_on": TODAY - timedelta(days=3),
    }
    return credit.Listing(**(values | kw))


def _state(engine: Engine, enterprise_id: int) -> str:
    with engine.connect() as c:
        return c.scalar(text("SELECT credit_list FROM enterprises WHERE id = :e"), {"e": enterprise_id})


def test_list_remove_and_expire_derive_the_enterprise_list_and_are_audited(seeded: Engine, firm: Any) -> None:
    county = _regulator(seeded, PANSHI)
    with Session(seeded) as s:
        since = s.scalar(select(func.max(AuditEntry.id))) or 0
        bind(s, county)  # the API's role: row-level security applies
        black = credit.list_enterprise(s, county, _list(firm, CreditList.black, valid_until=TODAY + timedelta(10)), NOW)
        red = credit.list_enterprise(s, county, _list(firm, CreditList.red, reason="安全生产标准化一级企业"), NOW)
        s.commit()
        black_id, red_id = black.id, red.id
        assert black.decided_by == "磐石市应急管理局" and black.created_by == county.actor
    assert _state(seeded, firm.id) == "black"  # black wins over red

    with Session(seeded) as s:
        bind(s, county)
        with pytest.raises(Conflict):
            credit.list_enterprise(s, county, _list(firm, CreditList.black), NOW)
        s.rollback()
        removed = credit.remove(s, county, black_id, "隐患整改完成，经复查准予移出", NOW)
        s.commit()
        assert (removed.ended, removed.removed_on, removed.removed_by) == ("removed", TODAY, county.actor)
    assert _state(seeded, firm.id) == "red"

    with Session(seeded) as s:
        bind(s, county)
        with pytest.raises(Conflict):
            credit.remove(s, county, black_id, "再次移出", NOW)
        s.rollback()
        again = credit.list_enterprise(
            s, county, _list(firm, CreditList.black, listed_on=TODAY, valid_until=TODAY + timedelta(days=5)), NOW
        )
        s.commit()
        again_id = again.id
    assert _state(seeded, firm.id) == "black"

    # the clock moves on: on the 5th day the entry is still in force, on the 6th the sweep ends it
    with Session(seeded) as s:
        s.info["actor"] = "system:regrade"  # the sweep runs unbound, as `riskmap up`'s regrader does
        assert credit.expire(s, NOW + timedelta(days=5), enterprise_id=firm.id) == []
        assert credit.sweep(s, NOW + timedelta(days=6)) >= 1
        s.commit()
        assert credit.expire(s, NOW + timedelta(days=7), enterprise_id=firm.id) == []
        ended = s.get(CreditListEntry, again_id)
        assert ended is not None and ended.ended == "expired"
        assert ended.removed_on == TODAY + timedelta(days=6) and ended.removal_reason == credit.EXPIRED_REASON
    assert _state(seeded, firm.id) == "red"

    with Session(seeded) as s:
        entries = s.scalars(select(CreditListEntry).where(CreditListEntry.enterprise_id == firm.id)).all()
        assert {e.id for e in entries} == {black_id, red_id, again_id}  # history kept, nothing deleted
        audit = s.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity, AuditEntry.entity_key, AuditEntry.after)
            .where(AuditEntry.entity.in_(["credit_list_entries", "enterprises"]))
            .where(AuditEntry.enterprise_id == firm.id, AuditEntry.id > since)
            .order_by(AuditEntry.id)
        ).all()
    rows = [(a.actor, a.action, a.entity, a.entity_key) for a in audit]
    assert (county.actor, "insert", "credit_list_entries", str(black_id)) in rows
    assert (county.actor, "update", "credit_list_entries", str(black_id)) in rows  # 移出
    assert (credit.EXPIRY_ACTOR, "update", "credit_list_entries", str(again_id)) in rows  # 期满: the period, not a user
    # and each step by its name, as hazards' and inspections' are
    assert (county.actor, "credit_listed", "credit_list_entries", str(black_id)) in rows
    assert (county.actor, "credit_removed", "credit_list_entries", str(black_id)) in rows
    assert (credit.EXPIRY_ACTOR, "credit_expired", "credit_list_entries", str(again_id)) in rows
    changes = [a.after["credit_list"] for a in audit if a.entity == "enterprises" and "credit_list" in (a.after or {})]
    assert changes == ["black", "red", "black", "red"]


def test_invalid_listings_are_refused_with_the_field(seeded: Engine, firm: Any) -> None:
    county = _regulator(seeded, PANSHI)
    cases = {
        "valid_until": {"valid_until": TODAY - timedelta(days=10)},  # before listed_on
        "listed_on": {"listed_on": TODAY + timedelta(days=1)},
        "reason": {"reason": "   "},
        "document_no": {"document_no": ""},
    }
    with Session(seeded) as s:
        bind(s, county)
        for field, change in cases.items():
            with pytest.raises(Invalid) as refused:
                credit.list_enterprise(s, county, _list(firm, CreditList.black, **change), NOW)
            assert refused.value.field == field
        with pytest.raises(NotFound):  # an enterprise of 舒兰市
            shulan = s.scalar(select(Enterprise.credit_code).where(Enterprise.region_adcode == SHULAN).limit(1))
            credit.list_enterprise(s, county, _list(firm, CreditList.black, credit_code=shulan), NOW)
        with pytest.raises(NotFound):
            credit.list_enterprise(s, county, replace(_list(firm, CreditList.black), credit_code="9" * 18), NOW)
    assert _state(seeded, firm.id) == "none"


@pytest.fixture(scope="module")
def county_tokens(seeded: Engine) -> dict[str, str]:
    with Session(seeded) as s, s.begin():
        s.info["actor"] = "test:setup"
        out = {}
        for county in (PANSHI, SHULAN):
            org = s.scalar(select(Organisation).where(Organisation.kind == "bureau", Organisation.code == county))
            out[county] = create_token(s, f"credit-{county}", Role.regulator, org=org)
        return out


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_lists_and_removes_within_the_jurisdiction_only(
    client: TestClient,
    anonymous: TestClient,
    seeded: Engine,
    firm: Any,
    county_tokens: dict[str, str],
    tokens: dict[Role, str],
) -> None:
    body = {
        "credit_code": firm.credit_code,
        "list": "black",
        "reason": "发生较大生产安全事故，负有责任",
        "document_no": "磐应急失信〔2031〕7号",
        "basis": "吉政发〔2018〕26号 九",
        "valid_until": (china_day() + timedelta(days=3 * 365)).isoformat(),
    }
    other = _auth(county_tokens[SHULAN])
    assert client.post("/api/v1/credit-lists", json=body, headers=other).status_code == 404  # 舒兰市's regulator
    assert anonymous.post("/api/v1/credit-lists", json=body).status_code == 401
    viewer = _auth(tokens[Role.viewer])
    assert client.post("/api/v1/credit-lists", json=body, headers=viewer).status_code == 403
    own = _auth(county_tokens[PANSHI])
    r = client.post("/api/v1/credit-lists", json=body, headers=own)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["enterprise_list"] == "black" and made["current"] and made["county"] == "磐石市"
    assert made["decided_by"] == "磐石市应急管理局" and made["listed_on"] == china_day().isoformat()
    effect = made["plan_effect"]
    rules = service.supervision_rules()
    site = next(s for s in effect["sites"] if s["code"] == firm.site)
    assert site["after"] == site["before"] + rules.raises.blacklist.add_per_year
    assert effect["before"] == "none" and effect["after"] == "black" and "黑名单" in effect["message"]

    assert client.post("/api/v1/credit-lists", json=body, headers=own).status_code == 409  # on that list already
    reversed_ = body | {"list": "red", "listed_on": "2031-01-10", "valid_until": "2031-01-01"}
    assert client.post("/api/v1/credit-lists", json=reversed_, headers=own).status_code == 422
    assert client.post("/api/v1/credit-lists", json=body | {"credit_code": "9" * 18}, headers=own).status_code == 404
    assert client.post("/api/v1/credit-lists", json=body | {"reason": ""}, headers=own).status_code == 422
    # one way to list an enterprise: the enterprises API no longer sets it
    patch = client.patch(f"/api/v1/enterprises/{firm.credit_code}", json={"credit_list": "none"}, headers=own)
    assert patch.status_code == 422
    assert client.get(f"/api/v1/enterprises/{firm.credit_code}", headers=own).json()["credit_list"] == "black"

    removal = {"reason": "隐患整改完成，准予信用修复"}
    url = f"/api/v1/credit-lists/{made['id']}/remove"
    assert client.post(url, json=removal, headers=other).status_code == 404  # another county's regulator
    assert client.post(url, json={"reason": ""}, headers=own).status_code == 422
    assert client.post(url, json=removal | {"removed_on": "2000-01-01"}, headers=own).status_code == 422
    r = client.post(url, json=removal, headers=own)
    assert r.status_code == 200, r.text
    assert r.json()["ended"] == "removed" and r.json()["enterprise_list"] == "none" and not r.json()["current"]
    assert r.json()["plan_effect"]["sites"][0]["after"] <= r.json()["plan_effect"]["sites"][0]["before"]
    assert client.post(url, json=removal, headers=own).status_code == 409
    assert client.post("/api/v1/credit-lists/999999999/remove", json=removal, headers=own).status_code == 404


def test_the_public_list_shows_published_fields_only(
    client: TestClient, anonymous: TestClient, seeded: Engine, firm: Any, county_tokens: dict[str, str]
) -> None:
    own = _auth(county_tokens[PANSHI])
    body = {
        "credit_code": firm.credit_code,
        "list": "red",
        "reason": "安全生产标准化一级企业",
        "document_no": "磐应急守信〔2031〕2号",
    }
    made = client.post("/api/v1/credit-lists", json=body, headers=own).json()
    everyone = anonymous.get("/api/v1/credit-lists", params={"list": "red", "current": "true", "region": PANSHI})
    assert everyone.status_code == 200
    found = next(e for e in everyone.json() if e["id"] == made["id"])
    assert found["enterprise_name"] == firm.name and found["credit_code"] == firm.credit_code
    assert found["reason"] == "安全生产标准化一级企业" and found["document_no"] == "磐应急守信〔2031〕2号"
    assert "created_by" not in found and "removed_by" not in found and "token:credit" not in everyone.text
    assert all(e["list"] == "red" and e["current"] and e["region_adcode"] == PANSHI for e in everyone.json())
    assert made["id"] not in [e["id"] for e in anonymous.get("/api/v1/credit-lists", params={"list": "black"}).json()]
    assert made["id"] not in [e["id"] for e in anonymous.get("/api/v1/credit-lists", params={"region": SHULAN}).json()]
    assert anonymous.get(f"/api/v1/credit-lists/{made['id']}").json()["enterprise_name"] == firm.name
    assert anonymous.get("/api/v1/credit-lists", params={"list": "grey"}).status_code == 422

    client.post(
        f"/api/v1/credit-lists/{made['id']}/remove", json={"reason": "发生一般生产安全事故，撤销红名单"}, headers=own
    )
    history = anonymous.get("/api/v1/credit-lists", params={"current": "false", "region": PANSHI}).json()
    assert any(e["id"] == made["id"] and e["removal_reason"] == "发生一般生产安全事故，撤销红名单" for e in history)

    page = anonymous.get("/credit-lists", params={"region": PANSHI})
    assert page.status_code == 200 and firm.name in page.text and "发生一般生产安全事故，撤销红名单" in page.text
    rules = service.supervision_rules()
    assert f"每年增加 <b>{rules.raises.blacklist.add_per_year}</b> 次检查" in page.text
    assert f"不少于 <b>{rules.lowering.redlist.min_per_year}</b> 次" in page.text
    assert 'id="add-entry"' not in page.text and "token:credit" not in page.text  # no form, no typist


def test_a_black_listed_site_gets_more_visits_in_a_generated_plan(seeded: Engine, firm: Any) -> None:
    county = _regulator(seeded, PANSHI)
    with Session(seeded) as s:
        bind(s, county)
        credit.list_enterprise(s, county, _list(firm, CreditList.black), NOW)
        s.commit()
        facts, _ = service.site_facts(s, PANSHI, datetime.now(UTC))
        inspectors = service.roster(s, PANSHI)
    site = next(f for f in facts if f.code == firm.site)
    assert site.credit_list == CreditList.black  # the plan reads the derived list
    rules = service.supervision_rules()
    period = plan.Period(2031)
    listed = plan.generate([site], inspectors, period, rules, "credit-test")
    unlisted = plan.generate([replace(site, credit_list=CreditList.none)], inspectors, period, rules, "credit-test")
    red = plan.generate([replace(site, credit_list=CreditList.red)], inspectors, period, rules, "credit-test")
    assert listed.feasible and unlisted.feasible, (listed.summary, unlisted.summary)
    n = len(listed.visits)
    assert n == len(unlisted.visits) + rules.raises.blacklist.add_per_year > len(unlisted.visits)
    assert any("黑名单" in reason for reason in listed.requirements[site.code].reasons)
    assert len(red.visits) <= len(unlisted.visits)


def test_the_sample_is_consistent_with_the_register_reproducible_and_loaded_once(seeded: Engine) -> None:
    def snapshot(s: Session) -> list[tuple[Any, ...]]:
        return [
            (e.credit_code, e.list, e.reason, e.document_no, e.listed_on, e.valid_until, e.removed_on, e.ended)
            for e in s.scalars(select(CreditListEntry).where(CreditListEntry.created_by == credit_sample.ACTOR))
        ]

    runs = []
    for _ in range(2):
        with Session(seeded) as s:  # rolled back: the other tests keep a register without entries
            s.info["actor"] = "test:seed"
            before = dict(s.execute(select(Enterprise.credit_code, Enterprise.credit_list)).all())
            written = credit_sample.load(s, NOW)
            assert written > 0 and credit_sample.load(s, NOW) == 0  # loading twice changes nothing
            after = dict(s.execute(select(Enterprise.credit_code, Enterprise.credit_list)).all())
            assert after == before  # the entries say what the register says
            entries = snapshot(s)
            listed = {c for c, v in before.items() if v != "none"}
            in_force = {e[0] for e in entries if e[6] is None}
            assert in_force == listed
            assert {e[1] for e in entries if e[6] is None} == {"black", "red"}
            assert any(e[7] == "expired" for e in entries) and any(e[7] == "removed" for e in entries)
            assert all(e[2] and e[3] for e in entries)
            assert all(e[5] is not None and e[5] >= TODAY for e in entries if e[1] == "black" and e[6] is None)
            runs.append(sorted(entries, key=repr))
            s.rollback()
    assert runs[0] == runs[1]


def test_the_page_forms_check_the_csrf_token_the_jurisdiction_and_the_input(
    app: Any, seeded: Engine, firm: Any
) -> None:
    login = make_user(seeded, PANSHI, ["regulator"], name="磐石监管员")
    viewer = make_user(seeded, PANSHI, ["viewer"], name="磐石只读")
    good = {
        "credit_code": firm.credit_code,
        "list": "black",
        "reason": "瞒报生产安全事故",
        "document_no": "磐应急失信〔2026〕5号",
    }
    with TestClient(app) as browser:
        assert browser.post("/credit-lists", data=good, follow_redirects=False).status_code == 303  # sign in first
        csrf = sign_in(browser, login)
        page = browser.get("/credit-lists")
        assert page.status_code == 200 and 'id="add-entry"' in page.text and firm.credit_code in page.text
        assert browser.post("/credit-lists", data=good | {"csrf_token": "wrong"}).status_code == 403
        shulan = {"credit_code": _firm_code(seeded, SHULAN), "csrf_token": csrf}
        refused = browser.post("/credit-lists", data=good | shulan)
        assert refused.status_code == 404 and "不在本辖区" in refused.text
        bad = browser.post("/credit-lists", data=good | {"valid_until": "2001-01-01", "csrf_token": csrf})
        assert bad.status_code == 422 and "有效期至不能早于列入日期或今天" in bad.text
        assert 'value="瞒报生产安全事故"' in bad.text or "瞒报生产安全事故</textarea>" in bad.text  # kept
        assert (
            browser.post("/credit-lists", data=good | {"listed_on": "31-12-2026", "csrf_token": csrf}).status_code
            == 422
        )
        made = browser.post("/credit-lists", data=good | {"csrf_token": csrf})
        assert made.status_code == 200 and f"已将{firm.name}列入黑名单" in made.text
        assert browser.post("/credit-lists", data=good | {"csrf_token": csrf}).status_code == 409
        entry = re.search(r'action="/credit-lists/(\d+)/remove"', made.text)
        assert entry
    with TestClient(app) as other:
        csrf_viewer = sign_in(other, viewer)
        page = other.get("/credit-lists")
        assert 'id="add-entry"' not in page.text and 'class="remove"' not in page.text
        url = f"/credit-lists/{entry.group(1)}/remove"
        assert other.post(url, data={"reason": "越权", "csrf_token": csrf_viewer}).status_code == 403
    assert _state(seeded, firm.id) == "black"


def _firm_code(engine: Engine, county: str) -> str:
    with engine.connect() as c:
        return c.scalar(text("SELECT credit_code FROM enterprises WHERE region_adcode = :c LIMIT 1"), {"c": county})
