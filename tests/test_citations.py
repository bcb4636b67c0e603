"""Every item number the rule data cites from a Jilin notice exists in that notice's text
(docs/notices/), and each structured `cites:` entry's words are in the item it names."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from backend.domain.standards import PACKAGED

NOTICES = Path(__file__).resolve().parents[1] / "docs" / "notices"
FILES = {
    "吉政发〔2018〕26号": "jizhengfa-2018-26.txt",
    "延边州实施意见（2018）": "yanbian-2018-shishi-yijian.txt",
    "通安委〔2022〕10号": "tonganwei-2022-10.txt",
}
NUMERAL = "一二三四五六七八九十"
# A notice's name, then its item: 吉政发〔2018〕26号（三十二）, …26号 十七, …26号 item 七.
CITED = re.compile("(" + "|".join(map(re.escape, FILES)) + rf")\s*(?:item\s*)?[（(]?([{NUMERAL}]+)(?![{NUMERAL}])")


def items(notice: str) -> dict[str, str]:
    """Item number -> its text, from a heading （N） or (N) at the start of a line to the next."""
    text = (NOTICES / FILES[notice]).read_text(encoding="utf-8")
    heads = list(re.finditer(rf"^\s*[（(]([{NUMERAL}]+)[）)]", text, re.MULTILINE))
    out: dict[str, str] = {}
    for head, nxt in zip(heads, [*heads[1:], None], strict=True):
        out.setdefault(head.group(1), text[head.end() : nxt.start() if nxt else len(text)])
    return out


def _cites(node: Any) -> list[dict[str, str]]:
    if isinstance(node, dict):
        return list(node.get("cites", [])) + [c for v in node.values() for c in _cites(v)]
    if isinstance(node, list):
        return [c for v in node for c in _cites(v)]
    return []


STANDARDS = sorted(PACKAGED.glob("*.yaml"))
CITATIONS = [
    (path.name, m.group(1), m.group(2)) for path in STANDARDS for m in CITED.finditer(path.read_text(encoding="utf-8"))
]
STRUCTURED = [(path.name, c) for path in STANDARDS for c in _cites(yaml.safe_load(path.read_text(encoding="utf-8")))]


def test_the_notices_are_numbered_as_read() -> None:
    jilin = items("吉政发〔2018〕26号")
    assert "司法" in jilin["十一"] and "物联网监测监控" in jilin["三十二"]  # 十一 is criminal cases, not monitoring
    assert "挂牌督办" in items("延边州实施意见（2018）")["十三"] and "挂牌督办" in items("通安委〔2022〕10号")["十七"]


def test_there_are_citations_to_check() -> None:
    assert len(CITATIONS) >= 8 and len(STRUCTURED) >= 5
    assert {n for _, n, _ in CITATIONS} == set(FILES)


@pytest.mark.parametrize(("file", "notice", "item"), CITATIONS)
def test_each_cited_item_exists_in_its_notice(file: str, notice: str, item: str) -> None:
    assert item in items(notice), f"{file} cites {notice}（{item}）, which that notice does not have"


@pytest.mark.parametrize(("file", "cite"), STRUCTURED, ids=[f"{f}:{c['notice']}{c['item']}" for f, c in STRUCTURED])
def test_each_structured_citation_says_what_its_item_says(file: str, cite: dict[str, str]) -> None:
    text = items(cite["notice"])[cite["item"]]
    assert cite["words"] in text, f"{file}: {cite['notice']}（{cite['item']}） does not say {cite['words']}"


def test_silent_site_cites_the_monitoring_item_and_major_hazards_the_supervision_items() -> None:
    rules = yaml.safe_load((PACKAGED / "risk_rules.yaml").read_text(encoding="utf-8"))["dynamic"]
    assert [(c["notice"], c["item"]) for c in rules["silent_site"]["cites"]] == [("吉政发〔2018〕26号", "三十二")]
    assert "十一" not in rules["silent_site"]["source"]
    assert {(c["notice"], c["item"]) for c in rules["major_hidden_hazard"]["cites"]} == {
        ("延边州实施意见（2018）", "十三"),
        ("通安委〔2022〕10号", "十七"),
    }
