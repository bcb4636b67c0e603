"""The standards' facts as data files with their sources; administrators may override them.

A file of the same name in `$RISKMAP_DATA_DIR/standards/` replaces the packaged default.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from backend.core.config import paths

PACKAGED = Path(__file__).parent


@cache
def load(name: str) -> dict[str, Any]:
    override = paths().data_dir / "standards" / f"{name}.yaml"
    source = override if override.exists() else PACKAGED / f"{name}.yaml"
    with source.open(encoding="utf-8") as f:
        return yaml.safe_load(f)
