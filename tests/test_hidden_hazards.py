"""Hidden hazards from discovery to 销号: the criteria, every transition (legal and not) with a
controllable clock, 挂牌督办, deadlines and escalation, permissions and jurisdiction, files, the
Excel list checked cell by cell, and the statistics — against the real PostGIS."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend.core.clock import CHINA_TZ
from backend.core.jurisdiction import APP_ROLE
from backend.core.principal import Principal, Role, Scope
from backend.domain.errors import Invalid
from backend.domain.kinds import SiteKind
from backend.domain.rules_models import parse
from backend.domain.standards import PACKAGED
from backend.domain.substances import StandardsError
from backend.hazards import criteria, files, lifecycle
from backend.hazards.lifecycle import (
    TRANSITIONS,
    HazardForbidden,
    HazardStateError,
    Report,
    State,
    Step,
)
from backend.models import AuditEntry, Enterprise, HazardEvent, HazardFile, HiddenHazard, Organisation, OutboxMessage
from tests.support.hazards import PDF, PNG, XLSX, scoped_token

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # the controllable clock's start (10:00 China time)


@dataclass(frozen=True)
class Place:
    site_id: int
    code: str
    kind: str
    enterprise_id: int
    adcode: str
    enterprise_org: int
    county_org: int


def place(session: Session, kind: str, skip: int = 0) -> Place:
    """A site of `kind` without hazards, the fewest sensors first (so that hazards move its level),
    whose enterprise is operating."""
    row = session.execute(
        text("""
        SELECT s.id, s.code, s.kind, s.enterprise_id, s.region_adcode,
               (SELECT id FROM organisations o WHERE o.enterprise_id = s.enterprise_id) AS eorg,
               (SELECT id FROM organisations o WHERE o.kind = 'bureau' AND o.code = s.region_adcode) AS corg
        FROM sites s JOIN enterprises e ON e.id = s.enterprise_id
        WHERE s.kind = :k AND e.status = 'operating'
          AND NOT EXISTS (SELECT 1 FROM hidden_hazards h WHERE h.site_id = s.id)
        ORDER BY (SELECT count(*) FROM sensors se WHERE se.site_id = s.id), s.id OFFSET :skip LIMIT 1"""),
        {"k": kind, "skip": skip},
    ).one()
    session.rollback()
    return Place(*row)


def enterprise(p: Place) -> Principal:
    return Principal(
        actor=f"user:safety-{p.enterprise_id}",
        name="安全负责人",
        roles=frozenset({Role.enterprise}),
        scope=Scope.enterprise,
        enterprise_id=p.enterprise_id,
    )


def regulator(adcode: str, org_id: int | None = None) -> Principal:
    return Principal(
        actor=f"user:inspector-{adcode}",
        name="监管人员",
        roles=frozenset({Role.regulator}),
        scope=Scope.region,
        region=adcode,
        org_id=org_id,
    )


def level(session: Session, site_id: int) -> tuple[int, list[str]]:
    lv, reasons = session.execute(text("SELECT level, reasons FROM site_risk WHERE site_id = :s"), {"s": site_id}).one()
    return lv, [r["rule"] for r in reasons]


PLAN = Step(measures="更换防爆电气设备", funds_yuan=120000, responsible="李四", deadline=T0 + timedelta(days=30))


def evidence(session: Session, hazard: HiddenHazard, data: bytes = PNG, name: str = "现场照片.png") -> int:
    checked = files.check(data)
    files.storage().put(checked.digest, data)
    f = HazardFile(
        hazard_id=hazard.id,
        site_id=hazard.site_id,
        sha256=checked.digest,
        name=name,
        content_type=checked.content_type,
        size=checked.size,
        uploaded_by="test",
    )
    session.add(f)
    session.flush()
    return f.id


def to_state(session: Session, p: Place, target: State, major: bool = False, now: datetime = T0) -> HiddenHazard:
    """A hazard walked from report to `target` by the enterprise (and a regulator where it must)."""
    own, reg = enterprise(p), regulator(p.adcode)
    h = lifecycle.report(
        session,
        own,
        Report(p.site_id, "防爆电气设备失爆", major=major, criterion=_item(p.kind) if major else None),
        now,
    )
    path = [("confirm", own, Step()), ("plan", own, PLAN), ("start", own, Step())]
    path += [("submit", own, None), ("accept", reg, Step(reason="现场核查合格"))]
    for name, who, step in path:
        if h.state == target:
            break
        if step is None:
            step = Step(attachments=[evidence(session, h)])
        h = lifecycle.transition(session, who, h.id, name, step, now)
    assert h.state == target
    return h


def _item(kind: str) -> str:
    return criteria.for_site(kind, "underground")[0].key


# --- criteria ----------------------------------------------------------------------------------


def test_the_criteria_load_with_their_sources_and_every_item_is_offered_for_some_site() -> None:
    rules = criteria.rules()
    counts = {s.code: len(s.items) for s in rules.standards}
    assert counts["coal"] == 15 and counts["hazchem"] == 20
    assert {s.document for s in rules.standards} == {"应急管理部令第4号", "矿安〔2022〕88号", "安监总管三〔2017〕121号"}
    assert all(s.source for s in rules.standards)
    reachable = {
        c.key
        for kind in SiteKind
        for method in (None, "underground", "open_pit")
        for c in criteria.for_site(kind, method)
    }
    assert reachable == {c.key for c in criteria.all_items()}
    assert {c.standard for c in criteria.for_site("noncoal_mine", "open_pit")} == {"noncoal_open_pit"}
    assert {c.standard for c in criteria.for_site("tailings_pond")} == {"tailings"}
    five = criteria.item("coal:五")
    assert five is not None and five.text == "通风系统不完善、不可靠" and "应急管理部令第4号" in five.basis


def test_a_bad_criteria_override_is_refused_naming_the_field() -> None:
    good = (PACKAGED / "hidden_hazard_criteria.yaml").read_text(encoding="utf-8")
    doubled = good.replace('{number: "二", text: 瓦斯超限作业}', '{number: "一", text: 瓦斯超限作业}')
    with pytest.raises(StandardsError, match=r"standards\.0\.items: each number once"):
        parse("hidden_hazard_criteria", doubled, "override.yaml")
    without = good.replace("site_kinds: [hazchem]", "site_kinds: [coal_mine]")
    with pytest.raises(StandardsError, match="no standard for hazchem"):
        parse("hidden_hazard_criteria", without, "override.yaml")


def test_the_picker_offers_the_items_of_the_sites_kind(
    session: Session, client: TestClient, tokens: dict[Role, str]
) -> None:
    p = place(session, "hazchem")
    got = client.get(
        "/api/v1/hidden-hazards/criteria", params={"site": p.code}, headers=_auth(tokens[Role.viewer])
    ).json()
    assert [c["key"] for c in got] == [f"hazchem:{c.no}" for c in criteria.for_site("hazchem")]
    assert sum(c["unconfirmed"] for c in got) == sum(c.unconfirmed for c in criteria.for_site("hazchem"))


# --- the state machine -------------------------------------------------------------------------


def test_a_self_report_walks_to_closed_with_every_event_recorded(session: Session) -> None:
    p = place(session, "hazchem")
    own, reg = enterprise(p), regulator(p.adcode)
    h = lifecycle.report(session, own, Report(p.site_id, "罐区紧急切断阀失效", description="2号罐区"), T0)
    assert (h.state, h.found_by, h.reported_by) == (State.reported, "self_check", own.actor)
    times = [T0 + timedelta(hours=i) for i in range(1, 6)]
    h = lifecycle.transition(session, own, h.id, "confirm", Step(reason="安全负责人确认"), times[0])
    h = lifecycle.transition(session, own, h.id, "plan", PLAN, times[1])
    assert (h.measures, h.funds_yuan, h.responsible, h.deadline) == (
        PLAN.measures,
        PLAN.funds_yuan,
        PLAN.responsible,
        PLAN.deadline,
    )
    h = lifecycle.transition(session, own, h.id, "start", Step(), times[2])
    photo = evidence(session, h)
    h = lifecycle.transition(session, own, h.id, "submit", Step(attachments=[photo]), times[3])
    h = lifecycle.transition(session, reg, h.id, "accept", Step(reason="现场核查合格"), times[4])
    assert h.state == State.closed and h.rectified_at == times[4]
    events = session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == h.id).order_by(HazardEvent.id)).all()
    assert [(e.event, e.from_state, e.to_state, e.actor, e.at) for e in events] == [
        ("reported", None, "reported", own.actor, T0),
        ("confirmed", "reported", "confirmed", own.actor, times[0]),
        ("planned", "confirmed", "planned", own.actor, times[1]),
        ("started", "planned", "rectifying", own.actor, times[2]),
        ("submitted", "rectifying", "submitted", own.actor, times[3]),
        ("accepted", "submitted", "closed", reg.actor, times[4]),
    ]
    assert events[1].reason == "安全负责人确认" and events[4].attachments == [photo]
    audited = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity == "hidden_hazards", AuditEntry.entity_key == str(h.id))
    ).all()
    assert {"reported", "accepted"} <= set(audited)
    session.rollback()


def test_every_illegal_transition_is_refused_from_every_state(session: Session) -> None:
    p = place(session, "hazchem")
    reg = regulator(p.adcode)
    for state in State:
        h = to_state(session, p, state, major=True)
        for name, t in TRANSITIONS.items():
            if h.state in t.sources:
                continue
            with pytest.raises(HazardStateError, match="不能"):
                lifecycle.transition(session, reg, h.id, name, Step(reason="x"), T0)
    session.rollback()


def test_a_rejected_hazard_goes_back_to_rectifying_and_can_be_submitted_again(session: Session) -> None:
    p = place(session, "hazchem")
    reg = regulator(p.adcode)
    h = to_state(session, p, State.submitted)
    with pytest.raises(Invalid, match="理由"):
        lifecycle.transition(session, reg, h.id, "reject", Step(), T0)
    h = lifecycle.transition(session, reg, h.id, "reject", Step(reason="阀门仍未更换"), T0)
    assert h.state == State.rectifying and h.submitted_at is None
    with pytest.raises(Invalid, match="证明材料"):
        lifecycle.transition(session, enterprise(p), h.id, "submit", Step(), T0)
    h = lifecycle.transition(session, enterprise(p), h.id, "submit", Step(attachments=[evidence(session, h)]), T0)
    assert h.state == State.submitted
    session.rollback()


def test_who_may_do_what(session: Session) -> None:
    p = place(session, "hazchem")
    other = place(session, "hazchem", skip=1)
    own, reg = enterprise(p), regulator(p.adcode)
    h = to_state(session, p, State.submitted)
    with pytest.raises(HazardForbidden, match="企业不能验收本企业的隐患"):
        lifecycle.transition(session, own, h.id, "accept", Step(), T0)
    with pytest.raises(HazardForbidden):
        lifecycle.transition(session, own, h.id, "reject", Step(reason="x"), T0)
    # another enterprise does not even see it
    with pytest.raises(lifecycle.HazardNotFound):
        lifecycle.transition(session, enterprise(other), h.id, "accept", Step(), T0)
    # a regulator's finding is confirmed by a regulator, not by the enterprise
    found = lifecycle.report(session, reg, Report(p.site_id, "特种作业人员未持证上岗"), T0)
    assert found.found_by == "inspection"
    with pytest.raises(HazardForbidden):
        lifecycle.transition(session, own, found.id, "confirm", Step(), T0)
    assert lifecycle.transition(session, reg, found.id, "confirm", Step(), T0).state == State.confirmed
    # a viewer neither reports nor acts
    viewer = Principal(actor="user:v", name="v", roles=frozenset({Role.viewer}), scope=Scope.region, region="22")
    with pytest.raises(HazardForbidden):
        lifecycle.report(session, viewer, Report(p.site_id, "x"), T0)
    session.rollback()


def test_a_major_grade_names_its_item_or_a_regulators_reasoned_decision(session: Session) -> None:
    p = place(session, "hazchem")
    own, reg = enterprise(p), regulator(p.adcode)
    with pytest.raises(Invalid, match="判定标准条目") as exc:
        lifecycle.report(session, own, Report(p.site_id, "x", major=True), T0)
    assert exc.value.field == "criterion"
    with pytest.raises(Invalid, match="不适用"):
        lifecycle.report(session, own, Report(p.site_id, "x", major=True, criterion="coal:二"), T0)
    with pytest.raises(Invalid, match="不在"):
        lifecycle.report(session, own, Report(p.site_id, "x", major=True, criterion="hazchem:九十九"), T0)
    with pytest.raises(HazardForbidden, match="监管部门"):
        lifecycle.report(session, own, Report(p.site_id, "x", major=True, major_reason="我认为很严重"), T0)
    h = lifecycle.report(session, reg, Report(p.site_id, "储罐区多处泄漏", major=True, major_reason="多项隐患叠加"), T0)
    assert h.major and h.criterion is None and h.major_reason == "多项隐患叠加"
    # settled on confirmation: a self-report graded 重大 by the regulator, naming the item
    s = lifecycle.report(session, own, Report(p.site_id, "充装未使用万向管道"), T0)
    s = lifecycle.transition(session, reg, s.id, "confirm", Step(major=True, criterion="hazchem:七"), T0)
    assert s.major and s.criterion == "hazchem:七"
    session.rollback()


def test_every_transition_regrades_the_site_at_once(session: Session) -> None:
    p = place(session, "hazchem")
    own, reg = enterprise(p), regulator(p.adcode)
    before, _ = level(session, p.site_id)
    h = to_state(session, p, State.reported, major=True)
    lv, rules = level(session, p.site_id)
    assert lv == 1 and "major_hidden_hazard" in rules
    steps = [("confirm", own, Step()), ("plan", own, PLAN), ("start", own, Step())]
    for name, who, step in steps:
        h = lifecycle.transition(session, who, h.id, name, step, T0)
        assert level(session, p.site_id)[0] == 1  # still open: still red
    h = lifecycle.transition(session, own, h.id, "submit", Step(attachments=[evidence(session, h)]), T0)
    h = lifecycle.transition(session, reg, h.id, "accept", Step(), T0)
    lv, rules = level(session, p.site_id)
    assert lv == before and "major_hidden_hazard" not in rules
    session.rollback()


# --- 挂牌督办 -------------------------------------------------------------------------------------


def test_supervision_by_the_right_authority_with_interim_measures_and_on_site_acceptance(session: Session) -> None:
    p = place(session, "hazchem")
    reg = regulator(p.adcode[:4])  # the prefecture sees the county's hazards too
    h = to_state(session, p, State.confirmed)
    with pytest.raises(HazardStateError, match="一般隐患"):
        lifecycle.transition(session, reg, h.id, "supervise", Step(order_no="x", deadline=T0 + timedelta(days=9)), T0)
    h = to_state(session, p, State.confirmed, major=True)
    with pytest.raises(Invalid, match="文号"):
        lifecycle.transition(session, reg, h.id, "supervise", Step(deadline=T0 + timedelta(days=60)), T0)
    order = Step(
        order_no="吉应急督〔2026〕3号", deadline=T0 + timedelta(days=60), interim_measures=["suspend", "evacuate"]
    )
    elsewhere = session.scalar(  # a second site of the enterprise, in another county
        text(
            "INSERT INTO sites (code, name, kind, enterprise_id, region_adcode, location) "
            "SELECT 'X2-' || code, name || '二厂', kind, enterprise_id, "
            "(SELECT adcode FROM regions WHERE length(adcode) = 6 AND adcode NOT LIKE '%00' AND adcode <> region_adcode "
            "ORDER BY adcode LIMIT 1), location FROM sites WHERE id = :s RETURNING id"
        ),
        {"s": p.site_id},
    )
    h = lifecycle.transition(session, reg, h.id, "supervise", order, T0)
    graded = session.execute(
        text("SELECT graded_at, grading_error_at FROM site_risk WHERE site_id = :s"), {"s": elsewhere}
    ).one()
    assert T0 in tuple(graded)  # the enterprise's status changed: its site in another county is regraded too
    county = session.get(Organisation, h.supervising_org_id)
    assert county is not None and county.code == p.adcode  # hazchem: the county by default
    assert h.deadline == order.deadline and h.interim_measures == ["suspend", "evacuate"]
    assert session.get(Enterprise, p.enterprise_id).status == "suspended"  # type: ignore[union-attr]
    with pytest.raises(HazardStateError, match="已于"):
        lifecycle.transition(session, reg, h.id, "supervise", order, T0)
    own = enterprise(p)
    h = lifecycle.transition(session, own, h.id, "plan", PLAN, T0)
    h = lifecycle.transition(session, own, h.id, "start", Step(), T0)
    submitted = T0 + timedelta(days=20)
    h = lifecycle.transition(session, own, h.id, "submit", Step(attachments=[evidence(session, h)]), submitted)
    assert h.review_deadline == submitted + timedelta(days=10)
    # 销号 only with the supervising authority's on-site acceptance
    with pytest.raises(Invalid, match="现场核查人员"):
        lifecycle.transition(session, regulator(p.adcode), h.id, "accept", Step(), submitted)
    neighbour = session.scalar(
        select(Organisation.code).where(
            Organisation.kind == "bureau",
            Organisation.code.like(p.adcode[:4] + "%"),
            Organisation.code != p.adcode,
            Organisation.code != p.adcode[:4] + "00",
        )
    )
    with pytest.raises(lifecycle.HazardNotFound):
        lifecycle.transition(session, regulator(str(neighbour)), h.id, "accept", Step(), submitted)
    accepted = Step(inspectors="王五、赵六", accepted_on=submitted + timedelta(days=3))
    h = lifecycle.transition(session, regulator(p.adcode), h.id, "accept", accepted, submitted + timedelta(days=3))
    assert (h.state, h.inspectors) == (State.closed, "王五、赵六")
    session.refresh(session.get(Enterprise, p.enterprise_id))
    assert session.get(Enterprise, p.enterprise_id).status == "operating"  # type: ignore[union-attr]
    topics = session.scalars(select(OutboxMessage.target).where(OutboxMessage.event.like("hazard_%"))).all()
    assert any(t.endswith(f"/orgs/{p.adcode}/notices") for t in topics)
    session.rollback()


def test_the_supervising_level_follows_the_rules_data(session: Session) -> None:
    coal = place(session, "coal_mine")
    reg = regulator("22")
    h = to_state(session, coal, State.confirmed, major=True)
    h = lifecycle.transition(session, reg, h.id, "supervise", Step(order_no="1", deadline=T0 + timedelta(days=30)), T0)
    assert session.get(Organisation, h.supervising_org_id).code == coal.adcode[:4] + "00"  # type: ignore[union-attr]
    chem = place(session, "hazchem")
    h = to_state(session, chem, State.confirmed, major=True)
    order = Step(order_no="2", deadline=T0 + timedelta(days=30), ordered_by="city_safety_committee")
    h = lifecycle.transition(session, reg, h.id, "supervise", order, T0)
    assert session.get(Organisation, h.supervising_org_id).code == chem.adcode[:4] + "00"  # type: ignore[union-attr]
    session.rollback()


# --- deadlines ---------------------------------------------------------------------------------


def _notices(session: Session, hazard_id: int, event: str) -> list[str]:
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.event == f"hazard_{event}")).all()
    return sorted(r.target for r in rows if json.loads(r.payload)["hazard"] == hazard_id)


def test_an_overdue_general_hazard_notifies_and_raises_its_site_one_level(session: Session) -> None:
    p = place(session, "hazchem")
    h = to_state(session, p, State.rectifying)
    base, _ = level(session, p.site_id)
    assert lifecycle.sweep(session, T0 + timedelta(days=29))["overdue"] == 0 or h.overdue_at is None
    late = T0 + timedelta(days=31)
    lifecycle.sweep(session, late)
    session.refresh(h)
    assert h.overdue_at == late
    assert _notices(session, h.id, "overdue") == [
        f"riskmap/v1/orgs/{code}/notices"
        for code in sorted(
            [p.adcode, session.scalar(select(Organisation.code).where(Organisation.id == p.enterprise_org))]
        )
    ]
    lv, rules = level(session, p.site_id)
    assert lv == max(1, base - 1) and "overdue_hidden_hazard" in rules
    lifecycle.sweep(session, late + timedelta(days=1))  # notified once
    assert len(_notices(session, h.id, "overdue")) == 2
    # submitted for acceptance: no longer overdue, the site falls back
    h = lifecycle.transition(session, enterprise(p), h.id, "submit", Step(attachments=[evidence(session, h)]), late)
    assert level(session, p.site_id)[0] == base
    session.rollback()


def test_an_overdue_major_hazard_escalates_one_level_up_per_review_period(session: Session) -> None:
    p = place(session, "hazchem")
    reg = regulator(p.adcode)
    h = to_state(session, p, State.confirmed, major=True)
    deadline = T0 + timedelta(days=30)
    h = lifecycle.transition(session, reg, h.id, "supervise", Step(order_no="3", deadline=deadline), T0)
    assert lifecycle.sweep(session, deadline - timedelta(minutes=1)) == {"overdue": 0, "escalated": 0}
    assert lifecycle.sweep(session, deadline + timedelta(hours=1)) == {"overdue": 1, "escalated": 1}
    assert _notices(session, h.id, "escalated") == [f"riskmap/v1/orgs/{p.adcode[:4]}00/notices"]
    assert lifecycle.sweep(session, deadline + timedelta(days=2))["escalated"] == 0
    assert lifecycle.sweep(session, deadline + timedelta(days=11))["escalated"] == 1
    assert f"riskmap/v1/orgs/{p.adcode[:2]}0000/notices" in _notices(session, h.id, "escalated")
    assert lifecycle.sweep(session, deadline + timedelta(days=40))["escalated"] == 0  # the province is the top
    events = session.scalars(
        select(HazardEvent.event).where(HazardEvent.hazard_id == h.id, HazardEvent.actor == "platform:hazards")
    ).all()
    assert events == ["overdue", "escalated", "escalated"]
    session.rollback()


# --- HTTP: permissions, jurisdiction, files, Excel, statistics ---------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def actors(seeded: Any) -> dict[str, Any]:
    """Tokens of an enterprise, its county bureau and another county's bureau, and the site."""
    with Session(seeded) as s:
        p = place(s, "hazchem", skip=3)
    with Session(seeded) as session, session.begin():
        session.info["actor"] = "test:setup"
        other_county = session.scalar(
            select(Organisation).where(
                Organisation.kind == "bureau",
                Organisation.code.not_like(p.adcode[:4] + "%"),
                Organisation.code.not_like("%00"),  # a county: not a prefecture nor the province
            )
        )
        assert other_county is not None
        return {
            "place": p,
            "own": scoped_token(session, "hz-enterprise", Role.enterprise, p.enterprise_org),
            "county": scoped_token(session, "hz-county", Role.regulator, p.county_org),
            "other": scoped_token(session, "hz-other", Role.regulator, other_county.id),
        }


def test_http_an_enterprise_reports_and_cannot_accept_its_own(client: TestClient, actors: dict[str, Any]) -> None:
    p, own, county = actors["place"], _auth(actors["own"]), _auth(actors["county"])
    deadline = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    r = client.post(
        "/api/v1/hidden-hazards",
        json={
            "site": p.code,
            "title": "控制室面向装置一侧未防爆",
            "major": True,
            "criterion": "hazchem:十三",
            "deadline": deadline,
        },
        headers=own,
    )
    assert r.status_code == 201, r.text
    h = r.json()
    assert (h["found_by"], h["state"], h["grade_zh"]) == ("self_check", "reported", "重大隐患")
    assert h["next"] == ["confirm", "plan"] or "confirm" in h["next"]
    hid = h["id"]
    steps = [
        ("confirm", {}, own),
        ("plan", {"measures": "加装防爆墙", "funds_yuan": 300000, "responsible": "王工", "deadline": deadline}, own),
        ("start", {}, own),
    ]
    for name, body, who in steps:
        assert client.post(f"/api/v1/hidden-hazards/{hid}/{name}", json=body, headers=who).status_code == 200
    up = client.post(
        f"/api/v1/hidden-hazards/{hid}/files", files={"file": ("墙.pdf", PDF, "application/pdf")}, headers=own
    )
    assert up.status_code == 201 and up.json()["content_type"] == "application/pdf"
    r = client.post(f"/api/v1/hidden-hazards/{hid}/submit", json={"attachments": [up.json()["id"]]}, headers=own)
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    r = client.post(f"/api/v1/hidden-hazards/{hid}/accept", json={}, headers=own)
    assert r.status_code == 403 and "企业不能验收本企业的隐患" in r.json()["detail"]
    r = client.post(f"/api/v1/hidden-hazards/{hid}/start", json={}, headers=county)
    assert r.status_code == 409 and "待验收" in r.json()["detail"]
    r = client.post(f"/api/v1/hidden-hazards/{hid}/accept", json={"reason": "合格"}, headers=county)
    assert r.status_code == 200 and r.json()["state"] == "closed", r.text
    detail = client.get(f"/api/v1/hidden-hazards/{hid}", headers=own).json()
    assert [e["event"] for e in detail["events"]] == [
        "reported",
        "confirmed",
        "planned",
        "started",
        "submitted",
        "accepted",
    ]
    assert detail["next"] == []


def test_http_a_hazard_with_its_own_point_is_drawn_there(client: TestClient, actors: dict[str, Any]) -> None:
    p, county = actors["place"], _auth(actors["county"])
    body = {"site": p.code, "title": "泄漏点位于罐区东侧", "lon": 126.55, "lat": 43.84}
    h = client.post("/api/v1/hidden-hazards", json=body, headers=county).json()
    assert (h["lon"], h["lat"]) == (126.55, 43.84) and h["found_by"] == "inspection"
    drawn = [
        f for f in client.get("/api/v1/hidden-hazards/map", headers=county).json()["features"] if f["id"] == h["id"]
    ]
    assert drawn[0]["geometry"]["coordinates"] == [126.55, 43.84]
    assert client.post("/api/v1/hidden-hazards", json={**body, "lat": None}, headers=county).status_code == 422


def test_http_another_county_cannot_see_the_hazard_nor_its_files(client: TestClient, actors: dict[str, Any]) -> None:
    p, own, other = actors["place"], _auth(actors["own"]), _auth(actors["other"])
    hid = client.post("/api/v1/hidden-hazards", json={"site": p.code, "title": "安全阀未投用"}, headers=own).json()[
        "id"
    ]
    fid = client.post(
        f"/api/v1/hidden-hazards/{hid}/files", files={"file": ("a.png", PNG, "image/png")}, headers=own
    ).json()["id"]
    assert client.get(f"/api/v1/hidden-hazards/{hid}", headers=other).status_code == 404
    assert client.get(f"/api/v1/hidden-hazards/{hid}/files/{fid}", headers=other).status_code == 404
    assert client.post(f"/api/v1/hidden-hazards/{hid}/confirm", json={}, headers=other).status_code == 404
    assert hid not in [h["id"] for h in client.get("/api/v1/hidden-hazards?limit=1000", headers=other).json()["items"]]
    got = client.get(f"/api/v1/hidden-hazards/{hid}/files/{fid}", headers=_auth(actors["county"]))
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers["content-security-policy"]
    listed = client.get("/api/v1/hidden-hazards", params={"site": p.code}, headers=_auth(actors["county"])).json()
    assert hid in [h["id"] for h in listed["items"]]


def test_http_uploads_are_checked_by_content_and_size(client: TestClient, actors: dict[str, Any]) -> None:
    p, own = actors["place"], _auth(actors["own"])
    hid = client.post("/api/v1/hidden-hazards", json={"site": p.code, "title": "附件测试"}, headers=own).json()["id"]
    url = f"/api/v1/hidden-hazards/{hid}/files"
    for name, data, ctype in (
        ("说明.txt", "纯文本".encode(), "text/plain"),
        ("photo.png", b"MZ\x90\x00" + b"\x00" * 200, "image/png"),  # a program named .png
        ("page.pdf", b"<html><script>alert(1)</script></html>", "application/pdf"),
        ("empty.png", b"", "image/png"),
    ):
        r = client.post(url, files={"file": (name, data, ctype)}, headers=own)
        assert r.status_code == 422, (name, r.text)
    big = PNG + b"\x00" * (files.MAX_FILE_BYTES + 1 - len(PNG))
    r = client.post(url, files={"file": ("big.png", big, "image/png")}, headers=own)
    assert r.status_code == 422 and "MB" in r.text
    a = client.post(url, files={"file": ("表.bin", XLSX, "application/octet-stream")}, headers=own).json()
    assert a["content_type"].endswith("spreadsheetml.sheet")
    b = client.post(url, files={"file": ("again.xlsx", XLSX, "application/octet-stream")}, headers=own).json()
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]
    stored = files.storage()
    assert isinstance(stored, files.LocalStorage)
    assert (stored.root / a["sha256"][:2] / a["sha256"]).read_bytes() == XLSX  # one copy, by content


def test_http_the_excel_list_matches_the_database_cell_by_cell(
    session: Session, client: TestClient, actors: dict[str, Any]
) -> None:
    p, county = actors["place"], _auth(actors["county"])
    last_year = datetime(datetime.now(CHINA_TZ).year - 1, 1, 15, 9, tzinfo=CHINA_TZ).isoformat()
    found = {"site": p.code, "title": "去年检查发现：应急预案未演练", "found_by": "inspection", "found_at": last_year}
    assert client.post("/api/v1/hidden-hazards", json=found, headers=county).status_code == 201
    r = client.get("/api/v1/hidden-hazards/export.xlsx", params={"region": p.adcode}, headers=county)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    got = [list(row) for row in ws.iter_rows(values_only=True)]
    assert got[0] == [
        "序号",
        "企业名称",
        "所在地区",
        "隐患内容",
        "隐患等级",
        "判定依据",
        "整改措施",
        "责任人",
        "整改时限",
        "整改情况",
        "督办单位",
        "销号日期",
    ]
    expected = session.execute(
        text("""
        SELECT e.name, r.name, h.title, h.description, h.major, h.criterion, h.major_reason, h.measures,
               h.responsible, h.deadline, h.state, o.name, h.rectified_at, h.found_at
        FROM hidden_hazards h JOIN sites s ON s.id = h.site_id JOIN enterprises e ON e.id = s.enterprise_id
        JOIN regions r ON r.adcode = s.region_adcode LEFT JOIN organisations o ON o.id = h.supervising_org_id
        WHERE s.region_adcode LIKE :a ORDER BY h.found_at, h.id"""),
        {"a": p.adcode + "%"},
    ).all()
    assert len(got) - 1 == len(expected) >= 2
    day = lambda t: t.astimezone(CHINA_TZ).strftime("%Y-%m-%d") if t else None  # noqa: E731
    for n, (row, db) in enumerate(zip(got[1:], expected, strict=True), 1):
        item = criteria.item(db.criterion) if db.criterion else None
        basis = (item.basis if item else f"监管部门认定：{db.major_reason}") if db.major else None
        assert row[0] == n
        assert row[1:4] == [db[0], db[1], db.title + (f"：{db.description}" if db.description else "")]
        assert row[4] == ("重大隐患" if db.major else "一般隐患") and row[5] == basis
        assert row[6:8] == [db.measures, db.responsible] and row[8] == day(db.deadline)
        assert (row[9] == "已整改销号") == (db.state == "closed")
        assert row[10] == db[11] and row[11] == day(db.rectified_at)
    # the annual list: only what was found in that year (China time)
    year = datetime.now(CHINA_TZ).year
    r = client.get("/api/v1/hidden-hazards/export.xlsx", params={"region": p.adcode, "year": year - 1}, headers=county)
    annual = load_workbook(io.BytesIO(r.content)).active
    assert annual is not None and annual.max_row - 1 == sum(
        1 for db in expected if db.found_at.astimezone(CHINA_TZ).year == year - 1
    )


def test_http_statistics_by_county_and_month(session: Session, client: TestClient, actors: dict[str, Any]) -> None:
    p, county = actors["place"], _auth(actors["county"])
    rows = client.get("/api/v1/hidden-hazards/stats", params={"by": "county"}, headers=county).json()
    assert [r["key"] for r in rows] == [p.adcode]  # its own county only
    db = session.execute(
        text("""SELECT count(*), count(*) FILTER (WHERE state = 'closed') FROM hidden_hazards h
                JOIN sites s ON s.id = h.site_id WHERE s.region_adcode = :a"""),
        {"a": p.adcode},
    ).one()
    assert (rows[0]["found"], rows[0]["rectified"]) == tuple(db)
    assert rows[0]["rate"] == round(db[1] / db[0], 4)
    months = client.get("/api/v1/hidden-hazards/stats", params={"by": "month"}, headers=county).json()
    assert sum(m["found"] for m in months) == db[0] and all(len(m["key"]) == 7 for m in months)
    assert client.get("/api/v1/hidden-hazards/stats", params={"by": "week"}, headers=county).status_code == 422


def test_http_map_layer_lists_open_hazards_in_jurisdiction(client: TestClient, actors: dict[str, Any]) -> None:
    county, other = _auth(actors["county"]), _auth(actors["other"])
    mine = client.get("/api/v1/hidden-hazards/map", headers=county).json()
    assert mine["features"] and all(f["geometry"]["type"] == "Point" for f in mine["features"])
    ids = {f["properties"]["id"] for f in mine["features"]}
    assert not ids & {
        f["properties"]["id"] for f in client.get("/api/v1/hidden-hazards/map", headers=other).json()["features"]
    }


# --- row-level security and unconfirmed items ---------------------------------------------------


def test_row_level_security_keeps_each_caller_to_its_jurisdiction(session: Session) -> None:
    """The policies on the three tables, as the API's role (which does not own them)."""
    p = place(session, "hazchem")
    h = to_state(session, p, State.rectifying)
    evidence(session, h)
    session.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
    count = text(
        "SELECT (SELECT count(*) FROM hidden_hazards WHERE id = :h), (SELECT count(*) FROM hazard_events WHERE hazard_id = :h),"
        " (SELECT count(*) FROM hazard_files WHERE hazard_id = :h)"
    )

    def seen(scope: str, region: str = "", enterprise_id: int | None = None) -> tuple[int, int, int]:
        session.execute(
            text(
                "SELECT set_config('riskmap.scope', :s, true), set_config('riskmap.region', :r, true),"
                " set_config('riskmap.enterprise', :e, true)"
            ),
            {"s": scope, "r": region, "e": "" if enterprise_id is None else str(enterprise_id)},
        )
        return tuple(session.execute(count, {"h": h.id}).one())  # type: ignore[return-value]

    assert seen("region", p.adcode) == (1, 4, 1)
    assert seen("enterprise", enterprise_id=p.enterprise_id) == (1, 4, 1)
    assert seen("region", "2201" if not p.adcode.startswith("2201") else "2202") == (0, 0, 0)
    assert seen("enterprise", enterprise_id=-1) == (0, 0, 0)
    assert seen("public") == (0, 0, 0)
    session.rollback()


def test_criteria_items_not_yet_checked_are_listed_as_unconfirmed() -> None:
    from backend.domain.unconfirmed import unconfirmed

    listed = [u for u in unconfirmed() if u.file == "hidden_hazard_criteria"]
    items = [u for u in listed if "items" in u.path]
    assert len(items) == sum(c.unconfirmed for c in criteria.all_items())
    assert "standards › hazchem › items › 二十" in [u.path for u in items]
    assert any(u.path == "supervision" for u in listed)  # the 挂牌督办 levels and the 10-day review


def test_the_review_deadline_names_its_clause_and_stays_unconfirmed_until_checked(
    client: TestClient, tokens: dict[Role, str]
) -> None:
    """10 days after the enterprise's request (第二十三条 of 总局令第16号) is cited, not yet checked
    against the published text: the administrators' list shows the value with its clause."""
    sup = criteria.rules().supervision
    assert sup.review_days == 10 and sup.review_days_verify
    assert (
        sup.review_days_source and "总局令第16号" in sup.review_days_source and "第二十三条" in sup.review_days_source
    )
    r = client.get("/api/v1/admin/unconfirmed-defaults", headers={"Authorization": f"Bearer {tokens[Role.admin]}"})
    row = next(u for u in r.json() if u["file"] == "hidden_hazard_criteria" and u["path"] == "supervision")
    assert row["value"]["review_days"] == 10 and row["value"]["review_days_source"] == sup.review_days_source
