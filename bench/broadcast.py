"""Flood-season broadcast benchmark:

1. a warning covering a whole prefecture holding 10,000 mines and ponds: targeting in PostGIS
   (sites inside, villages in the ponds' downstream zones) and the CAP 1.2 alert, built and
   validated against the official schema (target < 1 s);
2. the same broadcast issued in full (recipients, tokens, SMS outbox) and delivered;
3. delivery to 1,000 site topics, retained, QoS 1, from the outbox by the delivery worker until the
   broker acknowledged all and the outbox recorded it (target < 2 s).

    python -m bench.broadcast [--sites 10000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from shapely import wkt
from shapely.geometry import MultiPolygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.domain import cap
from backend.models import Broadcast
from backend.risk import exposure
from backend.warnings import delivery
from backend.warnings.delivery import DeliverySettings, Worker
from backend.warnings.issue import BroadcastOrder, cap_rings, issue
from backend.warnings.targeting import targets
from bench.common import bench_stack, timed

PREFECTURE = "220600"  # 白山市

ADD_SITES = """
WITH pts AS (
    SELECT (ST_Dump(ST_GeneratePoints(boundary, :n, 42))).geom AS g FROM regions WHERE adcode = :pref),
numbered AS (SELECT g, row_number() OVER () AS k FROM pts),
made AS (
    INSERT INTO sites (code, name, kind, enterprise_id, region_adcode, location)
    SELECT 'BENCH-' || k, '测试矿' || k, CASE WHEN k % 2 = 0 THEN 'tailings_pond' ELSE 'coal_mine' END,
           (SELECT min(id) FROM enterprises), :pref, g
    FROM numbered RETURNING id, kind)
INSERT INTO tailings_ponds (site_id, capacity_10k_m3, dam_height_m, dam_type, wet, downstream_bearing_deg)
SELECT id, 300, 40, 'upstream', true, (id * 37) % 360 FROM made WHERE kind = 'tailings_pond'
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--topics", type=int, default=1_000)
    args = parser.parse_args()
    with bench_stack() as (_, engine), Session(engine) as s:
        s.info["actor"] = "bench"
        s.execute(text(ADD_SITES), {"n": args.sites, "pref": PREFECTURE})
        s.execute(text("ANALYZE"))
        s.commit()
        area = MultiPolygon(
            wkt.loads(
                s.scalar(text("SELECT ST_AsText(boundary) FROM regions WHERE adcode = :a"), {"a": PREFECTURE})
            ).geoms
        )
        in_area = len(targets(s, area, None))
        print(f"warning over prefecture {PREFECTURE}: {in_area} mines and ponds inside; 2 cores")

        def target_and_cap() -> None:
            ids = targets(s, area, None)
            ponds = list(s.scalars(text("SELECT site_id FROM tailings_ponds WHERE site_id = ANY(:i)"), {"i": ids}))
            exposure.downstream(s, exposure.Source.sites(ponds))
            now = datetime.now(UTC).replace(microsecond=0)
            cap.build(
                cap.Alert(
                    identifier=f"{PREFECTURE}{now:%Y%m%d%H%M%S}001",
                    sender="bench",
                    sent=now,
                    status="Exercise",
                    msg_type="Alert",
                    event="汛期停产撤人",
                    response_type="Evacuate",
                    severity="Extreme",
                    headline="白山市暴雨红色预警",
                    description=f"{len(ids)} 家企业",
                    instruction="立即停产撤人",
                    area_desc="白山市",
                    rings=cap_rings(area),
                    adcodes=[PREFECTURE],
                    expires=now.replace(hour=23),
                )
            )

        median, best = timed(target_and_cap, runs=5)
        print(f"  targeting + CAP (build and validate)    median {median * 1000:6.0f} ms   best {best * 1000:6.0f} ms")

        started = time.perf_counter()
        order = BroadcastOrder("evacuate", "red", area, (PREFECTURE,), status="Exercise")
        b = issue(s, order, datetime.now(UTC), "bench")
        s.commit()
        total = time.perf_counter() - started
        n = s.scalar(text("SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = :b"), {"b": b.id})
        print(f"  full issue: {n} recipients, tokens, SMS outbox, deliveries queued   {total:.2f} s")
        worker = Worker(engine, "bench", DeliverySettings(batch=1000))
        started = time.perf_counter()
        sent = worker.drain(timeout_s=600)
        print(f"  delivery worker: {sent} site messages, QoS 1, confirmed   {time.perf_counter() - started:.2f} s")

        few = s.scalars(
            text("SELECT site_id FROM broadcast_recipients WHERE broadcast_id = :b ORDER BY id LIMIT :n"),
            {"b": b.id, "n": args.topics},
        ).all()
        small = issue(
            s,
            BroadcastOrder("evacuate", "red", area, (PREFECTURE,), status="Exercise", site_ids=tuple(few)),
            datetime.now(UTC),
            "bench",
        )
        s.commit()
        bc = s.get(Broadcast, small.id)

        def queue_and_deliver() -> None:
            delivery.queue_site_messages(s, bc, None)
            s.commit()
            worker.drain()

        median, best = timed(queue_and_deliver, runs=3)
        print(
            f"  delivery to {len(few)} site topics (retained, QoS 1, all acknowledged)   "
            f"median {median * 1000:6.0f} ms   best {best * 1000:6.0f} ms"
        )


if __name__ == "__main__":
    main()
