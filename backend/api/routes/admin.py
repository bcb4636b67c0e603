"""What administrators confirm: the defaults not yet checked against a standard's text."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from backend.api.deps import Admin
from backend.api.edge import StrictJSONRoute
from backend.api.templating import templates
from backend.core.config import paths
from backend.domain.unconfirmed import unconfirmed

router = APIRouter(tags=["administration"], route_class=StrictJSONRoute)
FILE_ZH = {
    "gb18218": "危险化学品重大危险源辨识（GB 18218-2018）",
    "risk_rules": "风险分级规则",
    "risk_levels": "四色风险等级",
    "sensor_thresholds": "监测报警阈值",
    "tailings": "尾矿库等别",
    "flood_warning": "汛期预警与停产撤人",
    "alarm_escalation": "未确认报警逐级通知",
    "supervision": "分类分级监管（检查频次、双随机）",
    "inspection_checklists": "现场检查表",
    "hidden_hazard_criteria": "重大事故隐患判定标准与挂牌督办",
    "holidays": "法定节假日与调休上班（检查计划的工作日）",
}


class UnconfirmedOut(BaseModel):
    file: str
    path: str
    value: dict[str, Any]
    fields: list[str]
    source: str
    overridden: bool


@router.get("/api/v1/admin/unconfirmed-defaults", response_model=list[UnconfirmedOut])
def unconfirmed_defaults(caller: Admin) -> list[UnconfirmedOut]:
    """Every default marked `verify` in the rules files in force, with where it is and its source."""
    return [UnconfirmedOut(**{**u.__dict__, "fields": list(u.fields)}) for u in unconfirmed()]


@router.get("/admin/defaults", response_class=HTMLResponse, include_in_schema=False)
def defaults_page() -> HTMLResponse:
    """The same list as a page, in Chinese: 默认值（待确认）."""
    html = (
        templates()
        .get_template("defaults.html")
        .render(items=unconfirmed(), file_zh=FILE_ZH, override_dir=str(paths().data_dir / "standards"))
    )
    return HTMLResponse(html)
