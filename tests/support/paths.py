"""Where the tests keep their private services, their database and what they leave to look at."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / ".riskmap-test"
ARTIFACTS = ROOT / "test-artifacts"
TEST_DATABASE = "riskmap_test"
