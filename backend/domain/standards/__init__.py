"""The standards' facts as data files with their sources; administrators may override them.

A file of the same name in `$RISKMAP_DATA_DIR/standards/` replaces the packaged default. Each file
is validated into its model at start-up (`rules_models.check_rules`, `substances.gb18218`);
`load` gives the raw mapping to the code that reads it by key.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from backend.core.config import paths

PACKAGED = Path(__file__).parent


def source_of(name: str) -> Path:
    """The file in force for `name`: the administrator's override if there is one."""
    override = paths().data_dir / "standards" / f"{name}.yaml"
    return override if override.exists() else PACKAGED / f"{name}.yaml"


@cache
def load(name: str) -> dict[str, Any]:
    with source_of(name).open(encoding="utf-8") as f:
        return yaml.safe_load(f)
