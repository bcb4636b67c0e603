"""Every default not yet confirmed against a standard's text: pure.

Rules files mark such a value `verify: true`, or some fields of an entry `verify: [field, …]` or
`<field>_verify: true` (a criteria item not yet checked against its standard's text: `unconfirmed: true`).
A province confirms one by overriding the file (a copy in `$RISKMAP_DATA_DIR/standards/`)
with the value it has checked and `verify: false`; until then it is shown as 默认值（待确认）.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from backend.core.config import paths
from backend.domain.standards import PACKAGED, load

RULE_FILES = (
    "gb18218",
    "risk_rules",
    "risk_levels",
    "sensor_thresholds",
    "tailings",
    "flood_warning",
    "alarm_escalation",
    "supervision",
    "inspection_checklists",
    "hidden_hazard_criteria",
    "holidays",
)


@dataclass(frozen=True)
class Unconfirmed:
    file: str  # the rules file, e.g. "gb18218"
    path: str  # where in it, e.g. "substances › 甲醇"
    value: dict[str, Any]  # the entry as configured, without its markers
    fields: tuple[str, ...]  # the fields not confirmed; () for the whole entry
    source: str  # the nearest `source` above or at the entry
    overridden: bool  # the file in force is the administrator's copy


def _label(key: str | int, node: Any) -> str:
    """A readable step of the path: an entry's name when it has one."""
    if isinstance(node, dict):
        for k in ("name", "location", "color", "kind", "code", "number"):
            if isinstance(node.get(k), str | int):
                return str(node[k])
    return str(key)


def _walk(node: Any, path: list[str], source: str) -> Iterator[tuple[list[str], dict[str, Any], tuple[str, ...], str]]:
    if isinstance(node, dict):
        source = str(node.get("source", source))
        fields = tuple(str(k).removesuffix("_verify") for k, v in node.items() if str(k).endswith("_verify") and v)
        marker = node.get("verify")
        if marker is None and node.get("unconfirmed") is True:  # a criteria item not yet checked against its text
            marker = True
        if isinstance(marker, list):  # verify: [power_off, restore]: only these fields
            fields = (*fields, *(str(f) for f in marker))
        if marker is True or isinstance(marker, str) or fields:
            value = {
                str(k): v
                for k, v in node.items()
                if k not in ("verify", "unconfirmed") and not str(k).endswith("_verify")
            }
            yield path, value, () if marker is True or isinstance(marker, str) else fields, source
        for k, v in node.items():
            if isinstance(v, dict | list) and k != "source":
                yield from _walk(v, [*path, str(k)], source)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, [*path, _label(i, v)], source)


def unconfirmed(files: tuple[str, ...] = RULE_FILES) -> list[Unconfirmed]:
    out = []
    for name in files:
        overridden = (paths().data_dir / "standards" / f"{name}.yaml").exists()
        if not overridden and not (PACKAGED / f"{name}.yaml").exists():
            continue
        for path, value, fields, source in _walk(load(name), [], ""):
            out.append(Unconfirmed(name, " › ".join(path) or "（整个文件）", value, fields, source, overridden))
    return out
