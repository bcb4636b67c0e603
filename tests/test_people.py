"""People a warning must reach: the people register and duty rosters (validation, masking, CSV
import with row-numbered errors, who is on duty across a shift boundary in China time), 叫应 to
persons with their own tokens and SMS to their phones, escalation of an overdue answer to the
duty officer on the roster at that time, an enterprise user answering through the API, and
unacknowledged alarms escalating step by step until acknowledged — on a controllable clock."""

from __future__ import annotations

import csv
import filecmp
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.alarms import escalation as alarm_escalation
from backend.alarms import lifecycle
from backend.core.clock import CHINA_TZ
from backend.core.principal import PUBLIC, Principal, Role, Scope
from backend.domain.alarm_rules import Decision
from backend.domain.phones import PhoneInvalid, mask, normalise_landline, normalise_mobile
from backend.models import ApiToken, Organisation, Recipient, RecipientPerson
from backend.people.register import may_see_phones, on_duty, responsible_people
from backend.people.rotation import repeat_rotation
from backend.registry.seed import roster_cycle
from backend.registry.tokens import create_token
from backend.warnings import answers, escalation
from backend.warnings.issue import BroadcastOrder, issue
from sample_data.people import HERE, generate

COUNTY, PREFECTURE = "220283", "220200"  # 舒兰市, 吉林市
# Before every other test's broadcasts and alarms (2026-07-20 02:00 UTC onwards, and now), so the
# sweeps here time nothing else out; the county's shifts change at 08:30 China time.
BOUNDARY = datetime(2026, 7, 20, 8, 30, tzinfo=CHINA_TZ)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csv(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def _import(client: TestClient, token: str, layer: str, body: bytes) -> dict:
    r = client.post(f"/api/v1/{layer}/import", content=body, headers=_auth(token) | {"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    return r.json()


def _site(session: Session, code: str) -> tuple[int, int, str]:
    return session.execute(
        text("SELECT id, enterprise_id, region_adcode FROM sites WHERE code = :c"), {"c": code}
    ).one()


def _area(session: Session, site_id: int) -> MultiPolygon:
    x, y = session.execute(text("SELECT ST_X(location), ST_Y(location) FROM sites WHERE id = :i"), {"i": site_id}).one()
    return MultiPolygon([box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)])


def enterprise_token(session: Session, enterprise_id: int, name: str) -> str:
    """A machine token of role enterprise acting for its enterprise only (Scope.enterprise)."""
    session.info["actor"] = "test:setup"
    token = create_token(session, name, Role.enterprise)
    org = session.scalar(select(Organisation.id).where(Organisation.enterprise_id == enterprise_id))
    session.scalar(select(ApiToken).where(ApiToken.name == name)).org_id = org
    session.commit()
    return token


@pytest.fixture(scope="module")
def roster(client: TestClient, tokens: dict[Role, str]) -> dict[str, str]:
    """Shifts around BOUNDARY: the county's A until 08:30, then B; the prefecture's P all day."""
    body = _csv(
        "org_code,name,mobile,landline,starts_at,ends_at",
        f"{COUNTY},值班甲,13911110001,0432-68221100,2026-07-19 08:30,2026-07-20 08:30",
        f"{COUNTY},值班乙,+86 139 1111 0002,,2026-07-20 08:30,2026-07-21 08:30",
        f"{PREFECTURE},市局值班丙,13911110003,,2026-07-20T00:00:00+08:00,2026-07-21T00:00:00+08:00",
    )
    report = _import(client, tokens[Role.operator], "duty-roster", body)
    assert (report["loaded"], report["errors"]) == (3, [])
    return {"A": "13911110001", "B": "13911110002", "P": "13911110003"}


# --- the register ------------------------------------------------------------------------------


def test_mobile_numbers_are_validated_and_normalised() -> None:
    for typed in ("13800138000", "+86 138 0013 8000", "0086-138-0013-8000", "8613800138000", " 138 0013 8000 "):
        assert normalise_mobile(typed) == "13800138000"
    for bad in ("12800138000", "1380013800", "138001380001", "+1 138 0013 8000", "abcdefghijk", ""):
        with pytest.raises(PhoneInvalid, match="手机号码无效"):
            normalise_mobile(bad)
    assert normalise_landline("0432 62345678") == "0432-62345678"
    assert normalise_landline("(010)12345678") == "010-12345678"
    with pytest.raises(PhoneInvalid):
        normalise_landline("62345678")
    assert mask("13812341234") == "138****1234"
    assert mask("0432-62345678") == "0432-******78"
    assert mask(None) is None


def test_phones_are_masked_unless_the_caller_may_see_them(
    session: Session, client: TestClient, anonymous: TestClient, tokens: dict[Role, str]
) -> None:
    _, enterprise_id, region = _site(session, "JL-COAL-0001")
    assert region == COUNTY
    regulator = Principal("user:r", "r", frozenset({Role.regulator}), Scope.region, region="2202")
    cases = [
        (regulator, True),
        (replace(regulator, region=COUNTY, roles=frozenset({Role.duty})), True),
        (replace(regulator, roles=frozenset({Role.admin})), True),
        (replace(regulator, region="2201"), False),  # 长春市: another jurisdiction
        (replace(regulator, roles=frozenset({Role.viewer})), False),
        (Principal("user:e", "e", frozenset({Role.enterprise}), Scope.enterprise, enterprise_id=enterprise_id), True),
        (
            Principal("user:o", "o", frozenset({Role.enterprise}), Scope.enterprise, enterprise_id=enterprise_id + 1),
            False,
        ),
        (Principal("token:x", "x", frozenset({Role.operator}), Scope.all), True),
        (PUBLIC, False),
        (None, False),
    ]
    assert [may_see_phones(p, enterprise_id, region) for p, _ in cases] == [full for _, full in cases]

    params = {"site": "JL-COAL-0001"}
    full = client.get("/api/v1/people", params=params, headers=_auth(tokens[Role.operator])).json()
    masked = client.get("/api/v1/people", params=params, headers=_auth(tokens[Role.viewer])).json()
    assert {p["duty"] for p in full} == {"principal", "safety"} and len(full) == len(masked)
    for f, m in zip(full, masked, strict=True):
        assert not f["masked"] and len(f["mobile"]) == 11 and f["mobile"].isdigit()
        assert m["masked"] and m["mobile"] == f"{f['mobile'][:3]}****{f['mobile'][-4:]}"
    own = enterprise_token(session, enterprise_id, "test-people-own-enterprise")
    assert client.get("/api/v1/people", params=params, headers=_auth(own)).json() == full
    assert anonymous.get("/api/v1/people", params=params).status_code == 401  # personal data: never open


def test_people_import_reports_bad_rows_by_number(
    session: Session, client: TestClient, tokens: dict[Role, str]
) -> None:
    credit = session.scalar(
        text(
            "SELECT e.credit_code FROM sites s JOIN enterprises e ON e.id = s.enterprise_id WHERE s.code = 'JL-HAZ-0001'"
        )
    )
    other = session.scalar(
        text(
            "SELECT code FROM sites WHERE enterprise_id <> (SELECT enterprise_id FROM sites WHERE code = 'JL-HAZ-0001') LIMIT 1"
        )
    )
    header = "enterprise_credit_code,site_code,unit_code,duty,name,mobile,landline,email"
    report = _import(
        client,
        tokens[Role.operator],
        "people",
        _csv(
            header,
            f"{credit},JL-HAZ-0001,,safety,新安全员,+86 137 0000 0001,0432 62345678,aq@example.cn",  # 1 loads
            f"{credit},JL-HAZ-0001,,safety,坏号码,1370000001,,",  # 2: 10 digits
            "91220283MA00000000,,,principal,查无此企业,13700000003,,",  # 3
            f"{credit},JL-NOPE-9999,,principal,查无此厂,13700000004,,",  # 4
            f"{credit},JL-HAZ-0001,TK99,unit_operator,查无此单元,13700000005,,",  # 5
            f"{credit},{other},,principal,别家厂,13700000006,,",  # 6: not its site
            f"{credit},JL-HAZ-0001,,unit_operator,缺单元,13700000007,,",  # 7: a 包保 duty needs a unit
            f"{credit},JL-HAZ-0001,,safety,新安全员,13700000001,,",  # 8: row 1 again (same mobile, normalised)
        ),
    )
    assert report["loaded"] == 1
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "手机号码无效" in reasons[2]
    assert "unknown enterprise" in reasons[3]
    assert "unknown site 'JL-NOPE-9999'" in reasons[4]
    assert "unknown unit 'TK99'" in reasons[5]
    assert "is not a site of enterprise" in reasons[6]
    assert "needs site_code and unit_code" in reasons[7]
    assert "duplicate person" in reasons[8]
    stored = session.execute(text("SELECT mobile, landline, region_adcode FROM people WHERE name = '新安全员'")).one()
    assert tuple(stored) == ("13700000001", "0432-62345678", _site(session, "JL-HAZ-0001")[2])
    audited = session.scalar(text("SELECT count(*) FROM audit_log WHERE entity = 'people' AND action = 'insert'"))
    assert audited >= 1
    garbage = client.post("/api/v1/people/import", content=b"\xff\xfe\x00bad", headers=_auth(tokens[Role.operator]))
    assert garbage.status_code == 422


def test_roster_import_refuses_overlaps_unknown_and_enterprise_organisations(
    session: Session, client: TestClient, tokens: dict[Role, str], roster: dict[str, str]
) -> None:
    enterprise_org = session.scalar(text("SELECT code FROM organisations WHERE kind = 'enterprise' LIMIT 1"))
    report = _import(
        client,
        tokens[Role.operator],
        "duty-roster",
        _csv(
            "org_code,name,mobile,landline,starts_at,ends_at",
            "220284,甲,13911112001,,2026-07-01 08:30,2026-07-02 08:30",  # 1 loads
            "220284,乙,13911112002,,2026-07-02 08:00,2026-07-03 08:30",  # 2 overlaps row 1
            f"{COUNTY},丙,13911112003,,2026-07-20 20:00,2026-07-20 22:00",  # 3 overlaps the roster (乙)
            "999999,丁,13911112004,,2026-07-01 08:30,2026-07-02 08:30",  # 4
            f"{enterprise_org},戊,13911112005,,2026-07-01 08:30,2026-07-02 08:30",  # 5
            "220284,己,1391111200,,2026-07-05 08:30,2026-07-06 08:30",  # 6 bad mobile
            "220284,庚,13911112007,,2026-07-06 08:30,2026-07-06 08:00",  # 7 ends before it starts
            "220284,辛,13911112008,,2026-07-02 08:30,2026-07-03 08:30",  # 8 touches row 1: fine
        ),
    )
    assert report["loaded"] == 2
    reasons = {e["row"]: e["reason"] for e in report["errors"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "overlaps another shift of 220284 (2026-07-01 08:30" in reasons[2]
    assert "overlaps another shift of 220283 (2026-07-20 08:30" in reasons[3]
    assert "unknown organisation '999999'" in reasons[4]
    assert "is an enterprise" in reasons[5]
    assert "手机号码无效" in reasons[6]
    assert "must end after it starts" in reasons[7]


def test_who_is_on_duty_across_a_shift_boundary_in_china_time(
    session: Session, client: TestClient, tokens: dict[Role, str], roster: dict[str, str]
) -> None:
    org = session.scalar(select(Organisation.id).where(Organisation.code == COUNTY))
    second = timedelta(seconds=1)
    assert on_duty(session, org, BOUNDARY - second).mobile == roster["A"]
    assert on_duty(session, org, BOUNDARY).mobile == roster["B"]  # the start is inclusive, the end not
    assert on_duty(session, org, BOUNDARY.astimezone(UTC) - second).mobile == roster["A"]  # 00:29:59 UTC
    assert on_duty(session, org, BOUNDARY + timedelta(days=1)) is None  # past the roster
    r = client.get(
        "/api/v1/duty-roster/on-duty",
        params={"org": COUNTY, "at": "2026-07-20T00:30:00Z"},
        headers=_auth(tokens[Role.operator]),
    ).json()
    assert r["org_name"] == "舒兰市应急管理局" and r["at"] == "2026-07-20T08:30:00+08:00"
    assert r["on_duty"]["name"] == "值班乙" and r["on_duty"]["mobile"] == roster["B"]
    assert r["on_duty"]["starts_at"] == "2026-07-20T08:30:00+08:00"
    shown = client.get(
        "/api/v1/duty-roster",
        params={"org": COUNTY, "from": "2026-07-19T00:00:00+08:00", "to": "2026-07-22T00:00:00+08:00"},
        headers=_auth(tokens[Role.viewer]),
    ).json()
    assert [(s["name"], s["mobile"]) for s in shown] == [("值班甲", "139****0001"), ("值班乙", "139****0002")]
    assert (
        client.get(
            "/api/v1/duty-roster/on-duty", params={"org": "999999"}, headers=_auth(tokens[Role.viewer])
        ).status_code
        == 404
    )
    # The sample roster: every bureau of the sample region has someone on duty on a day of the
    # committed roster, and (its rotation repeated when seeding) today and in three weeks.
    for sample in (
        datetime(2026, 12, 1, 12, 0, tzinfo=CHINA_TZ),
        datetime.now(UTC),
        datetime.now(UTC) + timedelta(days=21),
    ):
        assert _uncovered(session, sample) == 0, sample


UNCOVERED = text(
    "SELECT count(*) FROM organisations o WHERE o.kind = 'bureau' AND NOT EXISTS (SELECT 1 FROM duty_shifts s "
    "WHERE s.org_id = o.id AND s.starts_at <= :t AND s.ends_at > :t)"
)


def _uncovered(session: Session, at: datetime) -> int:
    return session.scalar(UNCOVERED, {"t": at}) or 0


def test_a_rotation_is_repeated_until_the_day_asked_and_only_once(session: Session) -> None:
    start, end = roster_cycle(HERE / "duty_roster.csv")
    assert end - start == timedelta(days=31)
    last = session.scalar(text("SELECT max(ends_at) FROM duty_shifts"))
    far = last + timedelta(days=70)
    assert _uncovered(session, far - timedelta(hours=1)) > 0
    bureau = session.scalar(text("SELECT min(org_id) FROM duty_shifts WHERE starts_at = :s"), {"s": start})
    first = session.scalar(
        text("SELECT name FROM duty_shifts WHERE org_id = :o AND starts_at = :s"), {"o": bureau, "s": start}
    )
    assert repeat_rotation(session, start, end, far) > 0
    assert _uncovered(session, far - timedelta(hours=1)) == 0
    # the same officer at the same hour, any number of cycles later: the cycle is the sample's 31 days
    for k in (1, 2, 3):
        again = session.scalar(
            text("SELECT name FROM duty_shifts WHERE org_id = :o AND starts_at = :t"),
            {"o": bureau, "t": start + k * (end - start)},
        )
        assert again == first, k
    assert repeat_rotation(session, start, end, far) == 0  # reached already: nothing more
    overlapping = session.scalar(
        text(
            "SELECT count(*) FROM duty_shifts a JOIN duty_shifts b ON a.org_id = b.org_id AND a.id < b.id "
            "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"
        )
    )
    assert overlapping == 0
    session.rollback()


def test_a_broadcast_reaches_each_responsible_person_with_their_own_token(
    session: Session, client: TestClient, tokens: dict[Role, str]
) -> None:
    site_id, _, _ = _site(session, "JL-HAZ-0001")
    expected = set(
        session.execute(
            text(
                "SELECT name, mobile FROM people WHERE site_id = :s AND (duty IN ('principal', 'safety') AND "
                "hazard_unit_id IS NULL OR duty = 'unit_principal')"
            ),
            {"s": site_id},
        ).all()
    )
    expected = {tuple(r) for r in expected}
    assert len(expected) >= 4  # 主要负责人, 安全负责人 (two, after the import test or not) and two units' 包保
    now = datetime.now(UTC)
    b = issue(session, BroadcastOrder("evacuate", "red", _area(session, site_id), site_ids=(site_id,)), now, "test")
    session.commit()
    recipients = session.scalars(select(Recipient).where(Recipient.broadcast_id == b.id)).all()
    assert len(recipients) == 1  # the site's answer is one
    people = session.scalars(
        select(RecipientPerson).where(RecipientPerson.broadcast_id == b.id).order_by(RecipientPerson.id)
    ).all()
    assert {(p.name, p.mobile) for p in people} == expected
    assert {p.duty for p in people} >= {"principal", "safety", "unit_principal"}
    sms = session.execute(
        text("SELECT to_phone, to_name, text, kind FROM sms_outbox WHERE broadcast_id = :b"), {"b": b.id}
    ).all()
    assert {(m.to_name, m.to_phone) for m in sms} == expected and {m.kind for m in sms} == {"warning"}
    assert all(m.text.startswith("【吉林省应急管理厅】") and "叫应码" in m.text for m in sms)
    # Each person's token is in their SMS; one person answering answers for the site.
    token = next(m.text for m in sms if m.to_phone == people[0].mobile).rsplit(" ", 1)[1]
    r = client.post(f"/api/v1/broadcasts/{b.id}/ack", json={"token": token})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    session.expire_all()
    assert session.get(RecipientPerson, people[0].id).answered_at is not None
    assert all(session.get(RecipientPerson, p.id).answered_at is None for p in people[1:])
    detail = client.get(f"/api/v1/broadcasts/{b.id}").json()
    assert detail["recipients"][0]["status"] == "acknowledged"
    shown_people = detail["recipients"][0]["people"]  # open read: masked
    assert {(p["name"], p["mobile"]) for p in shown_people} == {(n, f"{m[:3]}****{m[-4:]}") for n, m in expected}
    assert [p["answered"] for p in shown_people] == [True] + [False] * (len(people) - 1)
    operator = client.get(f"/api/v1/broadcasts/{b.id}", headers=_auth(tokens[Role.operator])).json()
    assert {(p["name"], p["mobile"]) for p in operator["recipients"][0]["people"]} == expected
    ack = next(e for e in detail["events"] if e["event"] == "acknowledged")
    assert ack["actor"] == f"person:{people[0].id}" and ack["detail"]["person"] == people[0].name
    assert not any("139" in str(e["detail"]) or "138" in str(e["detail"]) for e in detail["events"])


def test_an_overdue_answer_escalates_to_the_duty_officer_then_the_prefecture(
    session: Session, roster: dict[str, str]
) -> None:
    site_id, _, region = _site(session, "JL-COAL-0006")
    assert region == COUNTY
    sent = BOUNDARY - timedelta(minutes=10)  # 08:20: 值班甲 is on duty when it goes out
    b = issue(session, BroadcastOrder("evacuate", "red", _area(session, site_id), site_ids=(site_id,)), sent, "test")
    session.commit()
    rec = session.scalar(select(Recipient).where(Recipient.broadcast_id == b.id))

    def escalations() -> list[tuple[str, str]]:
        return [
            tuple(r)
            for r in session.execute(
                text(
                    "SELECT to_name, to_phone FROM sms_outbox WHERE recipient_id = :r AND kind = 'escalation' ORDER BY id"
                ),
                {"r": rec.id},
            )
        ]

    escalation.sweep(session, b.sent + timedelta(minutes=14))  # red: 15 minutes
    assert escalations() == []
    escalation.sweep(session, b.sent + timedelta(minutes=16))  # 08:36: 值班乙's shift began at 08:30
    assert escalations() == [("值班乙", roster["B"])]
    escalation.sweep(session, b.sent + timedelta(minutes=31))
    assert escalations() == [("值班乙", roster["B"]), ("市局值班丙", roster["P"])]
    escalation.sweep(session, b.sent + timedelta(minutes=60))  # nothing beyond the prefecture
    assert len(escalations()) == 2
    session.commit()
    events = session.scalars(
        text("SELECT detail FROM broadcast_events WHERE recipient_id = :r AND event = 'escalated' ORDER BY id"),
        {"r": rec.id},
    ).all()
    assert [(e["to"], e["region"], e["bureau"], e["duty_officer"]) for e in events] == [
        ("county", COUNTY, "舒兰市应急管理局", "值班乙"),
        ("prefecture", PREFECTURE, "吉林市应急管理局", "市局值班丙"),
    ]
    assert events[0]["phone"] == "139****0002"  # the timeline is readable by all: masked
    sms = session.scalar(
        text("SELECT text FROM sms_outbox WHERE recipient_id = :r AND kind = 'escalation'"), {"r": rec.id}
    )
    assert "叫应逾期" in sms and "舒兰市应急管理局" in sms


def test_an_enterprise_user_answers_through_the_api(
    session: Session, client: TestClient, tokens: dict[Role, str]
) -> None:
    site_id, enterprise_id, _ = _site(session, "JL-COAL-0009")
    b = issue(
        session,
        BroadcastOrder("evacuate", "orange", _area(session, site_id), site_ids=(site_id,)),
        datetime.now(UTC),
        "test",
    )
    session.commit()
    own = enterprise_token(session, enterprise_id, "test-answer-own")
    other_enterprise = session.scalar(text("SELECT id FROM enterprises WHERE id <> :e LIMIT 1"), {"e": enterprise_id})
    other = enterprise_token(session, other_enterprise, "test-answer-other")
    url = f"/api/v1/broadcasts/{b.id}/answer"
    assert client.post(url, json={}).status_code == 401
    assert client.post(url, json={}, headers=_auth(tokens[Role.operator])).status_code == 403  # no answer permission
    assert client.post(url, json={}, headers=_auth(tokens[Role.enterprise])).status_code == 403  # no enterprise
    assert client.post(url, json={}, headers=_auth(other)).status_code == 404  # not addressed to it
    assert client.post(url, json={"site": "JL-COAL-0001"}, headers=_auth(own)).status_code == 404
    r = client.post(url, json={"evacuated": True}, headers=_auth(own))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "evacuated"
    detail = client.get(f"/api/v1/broadcasts/{b.id}").json()
    assert detail["recipients"][0]["acknowledged_via"] == "http"
    assert [e["actor"] for e in detail["events"] if e["event"] == "acknowledged"] == ["token:test-answer-own"]
    # The same answer is idempotent; the broadcast is still answered by token link and gateway too.
    assert client.post(url, json={"site": "JL-COAL-0009"}, headers=_auth(own)).json()["status"] == "evacuated"
    assert (
        answers.acknowledge(session, b.id, None, "JL-COAL-0009", False, "mqtt", datetime.now(UTC)).status == "evacuated"
    )


# --- alarms nobody acknowledges ------------------------------------------------------------------


def _raise(session: Session, site: str, at: datetime) -> int:
    site_id, _, _ = _site(session, site)
    sensor = session.scalar(text("SELECT id FROM sensors WHERE site_id = :s ORDER BY id LIMIT 1"), {"s": site_id})
    change = lifecycle.raise_or_move(
        session,
        lifecycle.Subject(f"sensor:{sensor}", site_id, sensor),
        "test_escalation",
        Decision("red", 2.0, 1.5),
        "甲烷浓度 2.0% 超过断电值 1.5%",
        at,
        None,
    )
    session.commit()
    return change["id"]


def _notices(session: Session, alarm_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        text("SELECT to_name, to_phone FROM sms_outbox WHERE alarm_id = :a AND kind = 'alarm' ORDER BY id"),
        {"a": alarm_id},
    )
    return [tuple(r) for r in rows]


def test_an_unacknowledged_red_alarm_escalates_step_by_step_until_acknowledged(
    session: Session, roster: dict[str, str]
) -> None:
    raised = BOUNDARY - timedelta(minutes=5)  # 08:25 China time
    alarm = _raise(session, "JL-COAL-0024", raised)
    site_id, _, _ = _site(session, "JL-COAL-0024")
    people = {(c.name, c.mobile) for c in responsible_people(session, [site_id])[site_id]}
    assert len(people) == 2

    assert alarm_escalation.sweep(session, raised + timedelta(minutes=9))["steps"] == 0  # red: 10 minutes
    assert _notices(session, alarm) == []
    counts = alarm_escalation.sweep(session, raised + timedelta(minutes=10))
    assert counts["steps"] == 1 and counts["messages"] == 3
    assert set(_notices(session, alarm)) == people | {("值班乙", roster["B"])}  # the officer at 08:35
    alarm_escalation.sweep(session, raised + timedelta(minutes=15))  # nothing new within a step
    assert len(_notices(session, alarm)) == 3
    alarm_escalation.sweep(session, raised + timedelta(minutes=20))
    assert _notices(session, alarm)[3:] == [("市局值班丙", roster["P"])]
    alarm_escalation.sweep(session, raised + timedelta(minutes=60))  # two steps only
    assert len(_notices(session, alarm)) == 4
    session.commit()
    timeline = session.execute(
        text("SELECT event, actor, comment, detail FROM alarm_events WHERE alarm_id = :a ORDER BY at, id"), {"a": alarm}
    ).all()
    assert [e.event for e in timeline] == ["raised", "notified", "notified"]
    assert [e.detail["step"] for e in timeline[1:]] == [1, 2]
    assert "值班乙" in timeline[1].comment and "139****0002" in str(timeline[1].detail)
    assert roster["B"] not in str(timeline[1].detail)
    sms = session.scalar(text("SELECT text FROM sms_outbox WHERE alarm_id = :a ORDER BY id LIMIT 1"), {"a": alarm})
    assert "红色报警10分钟未确认" in sms
    lifecycle.acknowledge(session, alarm, "test", "test", "已处置")
    session.commit()


def test_acknowledging_stops_the_escalation(session: Session, roster: dict[str, str]) -> None:
    raised = BOUNDARY - timedelta(minutes=5)
    alarm = _raise(session, "JL-COAL-0043", raised)
    alarm_escalation.sweep(session, raised + timedelta(minutes=11))
    session.commit()
    first = _notices(session, alarm)
    assert ("值班乙", roster["B"]) in first
    lifecycle.acknowledge(session, alarm, "test", "值班员", "已电话确认")
    session.commit()
    alarm_escalation.sweep(session, raised + timedelta(minutes=40))
    session.commit()
    assert _notices(session, alarm) == first
    events = session.scalars(text("SELECT event FROM alarm_events WHERE alarm_id = :a ORDER BY id"), {"a": alarm}).all()
    assert events == ["raised", "notified", "acknowledged"]


# --- sample data and row-level security -----------------------------------------------------------


def test_sample_people_and_rosters_are_generated_and_complete(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in ("people.csv", "duty_roster.csv"):
        assert filecmp.cmp(tmp_path / name, HERE / name, shallow=False), name
    people = list(csv.DictReader((HERE / "people.csv").open(encoding="utf-8")))
    enterprises = {r["credit_code"] for r in csv.DictReader((HERE / "enterprises.csv").open(encoding="utf-8"))}
    sites = [f["properties"] for f in json.loads((HERE / "sites.geojson").read_text(encoding="utf-8"))["features"]]
    units = {(r["site_code"], r["unit_code"]) for r in csv.DictReader((HERE / "inventory.csv").open(encoding="utf-8"))}
    duties: dict[tuple[str, str, str], set[str]] = {}
    for p in people:
        duties.setdefault((p["enterprise_credit_code"], p["site_code"], p["unit_code"]), set()).add(p["duty"])
        assert normalise_mobile(p["mobile"]) == p["mobile"]
    assert len({p["mobile"] for p in people}) == len(people)
    assert all(duties[(e, "", "")] == {"principal", "safety"} for e in enterprises)
    assert all(duties[(s["enterprise_credit_code"], s["code"], "")] == {"principal", "safety"} for s in sites)
    owner = {s["code"]: s["enterprise_credit_code"] for s in sites}
    assert all(duties[(owner[s], s, u)] == {"unit_principal", "unit_technical", "unit_operator"} for s, u in units)
    roster = list(csv.DictReader((HERE / "duty_roster.csv").open(encoding="utf-8")))
    assert len({r["org_code"] for r in roster}) == 70 and len(roster) == 70 * 31


def test_row_level_security_keeps_people_and_rosters_in_their_jurisdiction(seeded: Engine) -> None:
    """As a role bound by the policies (not the platform's own), a 长春市 caller sees no person or
    shift of 吉林市, a 吉林市 caller sees its own, and an enterprise sees only its own people."""
    with seeded.connect() as c, c.begin():
        c.execute(text("CREATE ROLE riskmap_people_rls_probe NOLOGIN"))
        c.execute(
            text("GRANT SELECT ON people, duty_shifts, broadcast_recipient_people, sites TO riskmap_people_rls_probe")
        )
        enterprise = c.scalar(text("SELECT enterprise_id FROM sites WHERE code = 'JL-COAL-0001'"))
        c.execute(text("SET LOCAL ROLE riskmap_people_rls_probe"))

        def seen(scope: str, region: str = "", enterprise_id: str = "") -> tuple[int, ...]:
            c.execute(
                text(
                    "SELECT set_config('riskmap.scope', :s, true), set_config('riskmap.region', :r, true), "
                    "set_config('riskmap.enterprise', :e, true)"
                ),
                {"s": scope, "r": region, "e": enterprise_id},
            )
            return tuple(
                c.execute(
                    text(
                        "SELECT (SELECT count(*) FROM people WHERE region_adcode LIKE '2202%'), "
                        "(SELECT count(*) FROM people WHERE region_adcode NOT LIKE '2202%'), "
                        "(SELECT count(*) FROM duty_shifts WHERE region_adcode LIKE '2202%'), "
                        "(SELECT count(DISTINCT enterprise_id) FROM people)"
                    )
                ).one()
            )

        changchun, jilin = seen("region", "2201"), seen("region", "2202")
        assert changchun[0] == 0 and changchun[2] == 0 and changchun[1] > 0
        assert jilin[0] > 0 and jilin[1] == 0 and jilin[2] > 0
        own = seen("enterprise", "", str(enterprise))
        assert own[3] == 1 and own[2] == 0
        assert seen("public") == (0, 0, 0, 0)
        c.rollback()
