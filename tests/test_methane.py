"""Methane sensors by location (煤矿安全规程 第172条/第498条, AQ 1029-2019): a location with no row is
refused at import and in the API unless explicit thresholds are given; 总回风巷 alarms at 0.75 %;
the 专用排瓦斯巷 row (dropped by AQ 1029-2019) only where an administrator enabled it."""

from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.core.config import paths
from backend.core.principal import Role
from backend.domain.alarm_rules import level_for
from backend.domain.standards import PACKAGED, load
from backend.domain.thresholds import NoDefaultThresholds, default_thresholds
from backend.registry.importer import Layer, Row, import_rows

EXPLICIT = {
    "direction": "above",
    "levels": [{"color": "orange", "name": "alarm", "value": 0.8}, {"color": "red", "name": "power_off", "value": 1.2}],
    "restore": 0.8,
    "source": "矿井设计",
}


def test_unmatched_location_is_refused_with_the_reason() -> None:
    with pytest.raises(NoDefaultThresholds) as refused:
        default_thresholds("methane", "主井井底车场")
    reason = str(refused.value)
    assert "主井井底车场" in reason and "明确阈值" in reason and "不套用采煤工作面的阈值" in reason
    assert "总回风巷" in reason  # the rows that do exist are listed
    with pytest.raises(NoDefaultThresholds):
        default_thresholds("methane", "")


@pytest.mark.parametrize("label", ["总回风巷", "一翼回风巷"])
def test_main_return_airway_alarms_at_0_75_percent(label: str) -> None:
    t = default_thresholds("methane", label)
    assert level_for(0.74, t) is None
    assert level_for(0.75, t) == ("orange", 0.75)  # an alarm; no power-off value is set for this row
    assert [lv["name"] for lv in t["levels"]] == ["alarm"]
    assert t["restore"] == 0.75 and t["location"] == label and "第172条" in t["source"]
    face = default_thresholds("methane", "采煤工作面T1")
    assert level_for(0.75, face) is None  # what the old fallback would have given it


def test_gas_drainage_roadway_refused_unless_an_administrator_enables_it() -> None:
    with pytest.raises(NoDefaultThresholds, match="默认不启用"):
        default_thresholds("methane", "专用排瓦斯巷")
    table = yaml.safe_load((PACKAGED / "sensor_thresholds.yaml").read_text(encoding="utf-8"))
    table["methane"]["by_location"]["专用排瓦斯巷"]["enabled"] = True
    override = Path(paths().data_dir) / "standards" / "sensor_thresholds.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    load.cache_clear()
    try:
        t = default_thresholds("methane", "专用排瓦斯巷")
        assert [lv["value"] for lv in t["levels"]] == [2.5, 2.5] and "AQ 1029-2019 已删除" in t["source"]
    finally:
        override.unlink()
        load.cache_clear()
    with pytest.raises(NoDefaultThresholds):
        default_thresholds("methane", "专用排瓦斯巷")


def _mine_with_gateway(session: Session) -> tuple[str, str]:
    return session.execute(
        text(
            "SELECT s.code, g.id FROM sites s JOIN gateways g ON g.site_id = s.id "
            "WHERE s.kind = 'coal_mine' ORDER BY s.code LIMIT 1"
        )
    ).one()


def test_import_refuses_an_unmatched_methane_row_and_takes_explicit_thresholds(session: Session) -> None:
    site, gateway = _mine_with_gateway(session)
    base = {"site_code": site, "gateway_id": gateway, "kind": "methane"}
    rows = [
        Row(1, base | {"code": "MT-IMP-1", "location_label": "主井井底车场"}, None),
        Row(2, base | {"code": "MT-IMP-2", "location_label": "专用排瓦斯巷"}, None),
        Row(3, base | {"code": "MT-IMP-3", "location_label": "主井井底车场", "thresholds": EXPLICIT}, None),
        Row(4, base | {"code": "MT-IMP-4", "location_label": "总回风巷"}, None),
    ]
    report = import_rows(session, Layer.sensors, rows)
    refused = {e.row: e.reason for e in report.errors}
    assert set(refused) == {1, 2}
    assert "主井井底车场" in refused[1] and "明确阈值" in refused[1]
    assert "默认不启用" in refused[2]
    stored = dict(session.execute(text("SELECT code, thresholds FROM sensors WHERE code LIKE 'MT-IMP-%'")).all())
    assert set(stored) == {"MT-IMP-3", "MT-IMP-4"}
    assert stored["MT-IMP-3"]["levels"][0]["value"] == 0.8 and stored["MT-IMP-4"]["levels"][0]["value"] == 0.75
    session.rollback()


def test_api_refuses_an_unmatched_methane_sensor_with_the_reason(
    client: TestClient, tokens: dict[Role, str], session: Session
) -> None:
    site, gateway = _mine_with_gateway(session)
    op = {"Authorization": f"Bearer {tokens[Role.operator]}"}
    props = {"code": "MT-API-1", "site_code": site, "gateway_id": gateway, "kind": "methane"}
    body = {"type": "Feature", "geometry": None, "properties": props | {"location_label": "主井井底车场"}}
    assert client.post("/api/v1/sensors", json=body).status_code == 401
    r = client.post("/api/v1/sensors", json=body, headers=op)
    assert r.status_code == 422 and "主井井底车场" in r.json()["detail"] and "明确阈值" in r.json()["detail"]
    assert session.scalar(text("SELECT count(*) FROM sensors WHERE code = 'MT-API-1'")) == 0
    body["properties"] = props | {"location_label": "主井井底车场", "thresholds": EXPLICIT}
    r = client.post("/api/v1/sensors", json=body, headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["thresholds"]["levels"][0]["value"] == 0.8
    again = client.post("/api/v1/sensors", json=body, headers=op)
    assert again.status_code == 409
    audited = session.scalar(
        text(
            "SELECT count(*) FROM audit_log WHERE entity = 'sensors' AND entity_key = 'MT-API-1' AND action = 'insert'"
        )
    )
    assert audited == 1
    session.execute(text("DELETE FROM sensors WHERE code = 'MT-API-1'"))  # not an ORM change: nothing to audit
    session.commit()


def test_sample_register_has_no_drainage_roadway_without_thresholds(session: Session) -> None:
    assert session.scalar(text("SELECT count(*) FROM sensors WHERE location_label = '专用排瓦斯巷'")) == 0
    mains = session.scalars(
        text("SELECT thresholds FROM sensors WHERE kind = 'methane' AND location_label = '总回风巷'")
    ).all()
    assert mains and all(t["levels"][0]["value"] == 0.75 for t in mains)
