"""Inspection-plan benchmark: a province-wide yearly plan for 10,000 sites and 300 inspectors.

The sites are the sample register's 342, copied to 10,000 (same kinds, counties, enterprises and
capacities; colours and credit lists drawn with a fixed seed: 5 % red, 15 % orange, 35 % yellow,
45 % blue); the 300 inspectors are spread over the supervising jurisdictions in proportion to the
inspector-days each needs, each with the specialities of the sites it supervises. Plan generation is
pure (backend/supervision/plan.py), so no services are started.

    python -m bench.plan [--sites 10000] [--inspectors 300]

Target on the 2-core machine: under 10 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

from backend.domain.kinds import CreditList, SiteKind
from backend.domain.rules_models import Supervision, rules
from backend.domain.states import Colour
from backend.supervision.plan import Inspector, Period, SiteFacts, generate, required_visits, supervising_region

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
CEILING_S = 10.0
COLOURS = [(Colour.red, 0.05), (Colour.orange, 0.15), (Colour.yellow, 0.35), (Colour.blue, 0.45)]


def province_sites(n: int, rng: random.Random) -> list[SiteFacts]:
    features = json.loads((SAMPLE / "sites.geojson").read_text(encoding="utf-8"))["features"]
    with (SAMPLE / "enterprises.csv").open(encoding="utf-8") as f:
        credit = {row["credit_code"]: row["credit_list"] for row in csv.DictReader(f)}
    out = []
    for i in range(n):
        p = features[i % len(features)]["properties"]
        copy = i // len(features)
        enterprise = p["enterprise_credit_code"] + (f"-X{copy}" if copy else "")
        out.append(
            SiteFacts(
                code=p["code"] + (f"-X{copy}" if copy else ""),
                name=p["name"],
                kind=SiteKind(p["kind"]),
                enterprise=enterprise,
                region_adcode=p["region_adcode"],
                colour=rng.choices([c for c, _ in COLOURS], [w for _, w in COLOURS])[0],
                credit_list=CreditList(credit.get(p["enterprise_credit_code"], "none")),
                open_major_hazard=rng.random() < 0.02,
                recent_alarms=rng.choice([0, 0, 0, 1, 2, 3]),
                capacity_10k_t=p.get("capacity_10k_t"),
                capacity_10k_m3=p.get("capacity_10k_m3"),
            )
        )
    return out


def province_roster(sites: list[SiteFacts], total: int, r: Supervision) -> list[Inspector]:
    """`total` inspectors, at least the visit's two per jurisdiction and speciality in use, the rest
    in proportion to the inspector-days each jurisdiction's specialities need."""
    demand: Counter[tuple[str, str]] = Counter()
    for s in sites:
        n, _ = required_visits(s, r)
        demand[(supervising_region(s, r), r.team.specialities_by_kind[s.kind])] += max(n, 1)
    need = 2 * r.team.inspectors_per_visit  # two disjoint pairs: the rotation at an enterprise
    seats = dict.fromkeys(demand, need)
    spare = total - sum(seats.values())
    if spare < 0:
        raise SystemExit(f"{total} inspectors cannot staff {len(demand)} teams of {need}")
    weight = sum(demand.values())
    for key, d in demand.items():
        seats[key] += int(spare * d / weight)
    for key, _ in demand.most_common(total - sum(seats.values())):
        seats[key] += 1
    out = []
    for (jurisdiction, spec), k in sorted(seats.items()):
        for j in range(k):
            out.append(Inspector(f"{jurisdiction}-{spec}-{j:03d}", f"检查员{j}", jurisdiction, frozenset({spec})))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--inspectors", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(2026)
    r: Supervision = rules("supervision")  # type: ignore[assignment]
    sites = province_sites(args.sites, rng)
    roster = province_roster(sites, args.inspectors, r)
    teams = len({i.region_adcode for i in roster})

    times = []
    for _ in range(3):
        started = time.perf_counter()
        plan = generate(sites, roster, Period(2026), r, seed="bench-2026")
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    generate(sites, roster, Period(2026), r, seed="bench-2026")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    by_colour = Counter((s.colour or Colour.blue).value for s in sites)
    sampled = sum(1 for q in plan.requirements.values() if q.sampled)
    per_inspector = Counter(i for v in plan.visits for i in v.inspectors)
    per_month: dict[int, int] = defaultdict(int)
    for v in plan.visits:
        per_month[v.day.month] += 1
    median = statistics.median(times)
    print(f"province-wide plan for 2026: {len(sites)} sites, {len(roster)} inspectors in {teams} teams; 2 cores")
    print("  sites by colour              " + ", ".join(f"{c} {by_colour[c.value]}" for c, _ in COLOURS))
    print(f"  blue sites drawn (双随机)     {sampled}")
    print(f"  visits planned               {len(plan.visits)}   shortfalls {len(plan.shortfalls)}")
    print(f"  visits per month             {min(per_month.values())}–{max(per_month.values())}")
    print(
        f"  inspections per inspector    median {statistics.median(per_inspector.values()):.0f}"
        f"   max {max(per_inspector.values())}"
    )
    print(f"  generation                   median {median:.2f} s   best {min(times):.2f} s")
    print(f"  peak memory (tracemalloc)    {peak / 2**20:.1f} MiB")
    print(f"  ceiling {CEILING_S:.0f} s: {median / CEILING_S:.1%} of it ({CEILING_S / median:.1f}× headroom)")
    for line in plan.summary[:5]:
        print(f"  shortfall: {line}")


if __name__ == "__main__":
    main()
