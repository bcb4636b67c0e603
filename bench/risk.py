"""Risk engine benchmark: full regrade and the map's layers, for the sample register and for
the sample multiplied to 10,000 sites (places multiplied alike, so density stays realistic).

    python -m bench.risk [--sites 10000]

Targets on the 2-core machine: regrade of 10,000 sites < 5 s; GET /api/v1/risk/sites < 300 ms.
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.risk.engine import regrade
from bench.common import bench_stack, served_app, timed

MULTIPLY = """
-- copies of every site, inventory, pond/mine record, sensor and exposed place, shifted so the
-- copies land elsewhere in the province (same county code: the region layer stays comparable)
CREATE TEMP TABLE shift AS SELECT k, (random() - 0.5) * 1.6 AS dx, (random() - 0.5) * 1.2 AS dy
  FROM generate_series(1, :copies) AS k;
INSERT INTO sites (code, name, kind, enterprise_id, region_adcode, location, footprint)
  SELECT s.code || '-X' || k, s.name, s.kind, s.enterprise_id, s.region_adcode,
         ST_Translate(s.location, dx, dy), ST_Translate(s.footprint, dx, dy)
  FROM sites s, shift WHERE s.code NOT LIKE '%-X%';
INSERT INTO tailings_ponds SELECT c.id, t.capacity_10k_m3, t.dam_height_m, t.dam_type, t.wet,
         t.downstream_bearing_deg, ST_Translate(t.downstream_zone, dx, dy)
  FROM tailings_ponds t JOIN sites o ON o.id = t.site_id CROSS JOIN shift
  JOIN sites c ON c.code = o.code || '-X' || k;
INSERT INTO coal_mines SELECT c.id, m.gas_class, m.hydrogeology, m.capacity_10k_t
  FROM coal_mines m JOIN sites o ON o.id = m.site_id
  CROSS JOIN shift JOIN sites c ON c.code = o.code || '-X' || k;
INSERT INTO noncoal_mines SELECT c.id, m.mining_method, m.mineral, m.capacity_10k_t
  FROM noncoal_mines m JOIN sites o ON o.id = m.site_id
  CROSS JOIN shift JOIN sites c ON c.code = o.code || '-X' || k;
INSERT INTO hazard_units (site_id, code, name, kind, footprint)
  SELECT c.id, u.code, u.name, u.kind, ST_Translate(u.footprint, dx, dy)
  FROM hazard_units u JOIN sites o ON o.id = u.site_id
  CROSS JOIN shift JOIN sites c ON c.code = o.code || '-X' || k;
INSERT INTO inventory_items (site_id, unit_id, substance, cas, hazard_class, max_quantity_t)
  SELECT c.id, cu.id, i.substance, i.cas, i.hazard_class, i.max_quantity_t
  FROM inventory_items i JOIN hazard_units u ON u.id = i.unit_id JOIN sites o ON o.id = i.site_id
  CROSS JOIN shift JOIN sites c ON c.code = o.code || '-X' || k
  JOIN hazard_units cu ON cu.site_id = c.id AND cu.code = u.code;
INSERT INTO exposed_places (code, name, kind, population, region_adcode, geom)
  SELECT p.code || '-X' || k, p.name, p.kind, p.population, p.region_adcode, ST_Translate(p.geom, dx, dy)
  FROM exposed_places p, shift WHERE p.code NOT LIKE '%-X%';
INSERT INTO exposed_features (code, name, kind, geom)
  SELECT f.code || '-X' || k, f.name, f.kind, ST_Translate(f.geom, dx, dy)
  FROM exposed_features f, shift WHERE f.kind IN ('river', 'reservoir') AND f.code NOT LIKE '%-X%';
INSERT INTO sensors (code, site_id, gateway_id, kind, unit, location_label, substance, interval_s, thresholds,
                     geom, last_reading_at)
  SELECT se.code || '-X' || k, c.id, se.gateway_id, se.kind, se.unit, se.location_label, se.substance,
         se.interval_s, se.thresholds, ST_Translate(se.geom, dx, dy), now()
  FROM sensors se JOIN sites o ON o.id = se.site_id
  CROSS JOIN shift JOIN sites c ON c.code = o.code || '-X' || k;
ANALYZE;
"""


def measure(engine: Engine, label: str) -> None:
    with Session(engine) as s:
        sites = s.scalar(text("SELECT count(*) FROM sites"))
        s.execute(text("UPDATE sensors SET last_reading_at = now()"))
        s.commit()

        def full() -> None:
            regrade(s, now=datetime.now(UTC))
            s.commit()

        median, best = timed(full, runs=3)
    print(f"{label}: {sites} sites")
    print(f"  full regrade               median {median * 1000:7.0f} ms   best {best * 1000:7.0f} ms")
    with served_app() as base, httpx.Client(base_url=base, timeout=60) as client:
        for name, path in [
            ("GET /api/v1/risk/sites", "/api/v1/risk/sites"),
            ("GET /api/v1/risk/regions?by=county", "/api/v1/risk/regions?by=county"),
            ("GET /api/v1/risk/regions?by=grid", "/api/v1/risk/regions?by=grid"),
        ]:
            response = client.get(path)
            response.raise_for_status()
            size, wire = len(response.content), response.num_bytes_downloaded
            median, best = timed(lambda p=path: client.get(p).raise_for_status(), runs=7)
            print(
                f"  {name:<34} median {median * 1000:7.0f} ms   best {best * 1000:7.0f} ms   "
                f"{size / 1e6:.2f} MB ({wire / 1e6:.2f} MB gzipped)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=10_000)
    args = parser.parse_args()
    with bench_stack() as (_, engine):
        measure(engine, "sample register")
        with Session(engine) as s:
            base = s.scalar(text("SELECT count(*) FROM sites"))
            copies = max(0, math.ceil(args.sites / base) - 1)
            for statement in MULTIPLY.split(";\n"):
                if statement.strip():
                    s.execute(text(statement), {"copies": copies})
            s.execute(
                text(
                    "DELETE FROM sites WHERE id IN (SELECT id FROM sites ORDER BY id DESC LIMIT "
                    "(SELECT greatest(count(*) - :n, 0) FROM sites))"
                ),
                {"n": args.sites},
            )
            s.commit()
        measure(engine, f"multiplied x{copies + 1}")


if __name__ == "__main__":
    main()
