"""Loading the sample Jilin register: the importer over the sample files, existing rows skipped,
so that seeding twice changes nothing."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.security import mosquitto_hash, new_secret
from backend.models import Gateway
from backend.people.rotation import repeat_rotation
from backend.registry.importer import ImportReport, Layer, import_file

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_FILES: list[tuple[str, Layer]] = [
    ("regions.geojson", Layer.regions),
    ("enterprises.csv", Layer.enterprises),
    ("sites.geojson", Layer.sites),
    ("site_footprints.geojson", Layer.footprints),
    ("downstream_zones.geojson", Layer.downstream_zones),
    ("inventory.csv", Layer.inventory),
    ("hazard_units.geojson", Layer.hazard_units),
    ("exposed_places.geojson", Layer.places),
    ("exposed_features.geojson", Layer.features),
    ("gateways.csv", Layer.gateways),
    ("sensors.csv", Layer.sensors),
    ("people.csv", Layer.people),
    ("duty_roster.csv", Layer.duty_roster),
    ("inspectors.csv", Layer.inspectors),
]
DEMO_SECRETS = "demo-gateway-secrets.json"


ROSTER_AHEAD = timedelta(days=31)


def seed(
    session: Session, data_dir: Path, sample_dir: Path = SAMPLE_DIR, now: datetime | None = None
) -> list[ImportReport]:
    reports = [import_file(session, sample_dir / name, layer, skip_existing=True) for name, layer in SAMPLE_FILES]
    give_demo_passwords(session, data_dir / DEMO_SECRETS)
    # The sample roster covers 31 fixed days: repeated so that the demo has officers on duty today.
    start, end = roster_cycle(sample_dir / "duty_roster.csv")
    repeat_rotation(session, start, end, (now or datetime.now(UTC)) + ROSTER_AHEAD)
    return reports


def roster_cycle(path: Path) -> tuple[datetime, datetime]:
    """The span of the sample duty roster: the cycle repeated forward when seeding."""
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return (
        min(datetime.fromisoformat(r["starts_at"]) for r in rows),
        max(datetime.fromisoformat(r["ends_at"]) for r in rows),
    )


def give_demo_passwords(session: Session, secrets_file: Path) -> int:
    """Sample gateways get random passwords, kept (mode 600) for the gateway simulator."""
    secrets: dict[str, str] = json.loads(secrets_file.read_text()) if secrets_file.exists() else {}
    fresh = 0
    for gateway in session.scalars(select(Gateway).where(Gateway.password_hash == "!")):
        password = secrets.get(gateway.id) or new_secret()
        gateway.password_hash = mosquitto_hash(password)
        secrets[gateway.id] = password
        fresh += 1
    if fresh:
        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        secrets_file.touch(mode=0o600)
        secrets_file.write_text(json.dumps(secrets, indent=0, sort_keys=True))
    return fresh
