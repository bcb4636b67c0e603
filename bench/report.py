"""PDF report benchmark: the province's annual supervision report as PDF, for 10,000 sites and 300
inspectors.

The figures are those of bench.plan's province-wide plan for 2026 (the sample register copied to
10,000 sites), with a fixed share of its visits done by 25 November and the rest of the visits due
by then overdue, so the report's longest tables (overdue sites, inspectors' workload) are as long
as a province's would be. Rendering is backend/api/report_print.py's, as the PDF route does it (the
same template, the CJK font embedded); no services are started.

    python -m bench.report [--sites 10000] [--inspectors 300]

Target on the 2-core machine: under 30 s.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import statistics
import time
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from backend.api.report_print import DETAIL_LIMIT, report_pdf
from backend.domain.rules_models import Supervision, rules
from backend.supervision.inspections import ACTION_ZH
from backend.supervision.plan import Period, generate
from backend.supervision.report import COLOUR_NAME, COLOURS
from bench.plan import SAMPLE, province_roster, province_sites

CEILING_S = 30.0
AS_OF = date(2026, 11, 25)
DONE_SHARE = 0.8  # of the visits due by AS_OF


def province_report(n_sites: int, n_inspectors: int) -> dict[str, Any]:
    """The report dict report.py would give for the province and 2026 on such a register."""
    rng = random.Random(2026)
    r: Supervision = rules("supervision")  # type: ignore[assignment]
    sites = province_sites(n_sites, rng)
    roster = province_roster(sites, n_inspectors, r)
    plan = generate(sites, roster, Period(2026), r, seed="bench-2026")
    by_site = {s.code: s for s in sites}
    regions = {
        f["properties"]["adcode"]: f["properties"]["name"]
        for f in json.loads((SAMPLE / "regions.geojson").read_text(encoding="utf-8"))["features"]
    }
    due = [v for v in plan.visits if v.day < AS_OF]
    done = [v for v in due if rng.random() < DONE_SHARE]
    done_keys = {v.key for v in done}
    months = {m: {"month": m, "planned": 0, "done": 0} for m in range(1, 13)}
    for v in plan.visits:
        months[v.day.month]["planned"] += 1
    for v in done:
        months[v.day.month]["done"] += 1
    overdue: dict[str, list[dict[str, str]]] = defaultdict(list)
    for code in sorted({v.site for v in due if v.key not in done_keys}):
        s = by_site[code]
        colour = s.colour.value if s.colour else "none"
        overdue[colour].append({"code": code, "name": s.name, "region": regions.get(s.region_adcode, s.region_adcode)})
    workload: dict[str, dict[str, Any]] = defaultdict(lambda: {"planned": 0, "done": 0})
    for v in plan.visits:
        for i in v.inspectors:
            workload[i]["planned"] += 1
    for v in done:
        for i in v.inspectors:
            workload[i]["done"] += 1
    names = {i.id: i.name for i in roster}
    findings = sum(rng.choice([0, 0, 1, 1, 2, 3]) for _ in done)
    kinds = Counter(rng.choice(list(ACTION_ZH)) for _ in range(len(done) // 5))
    fines = kinds["fine"]
    return {
        "jurisdiction": "220000",
        "name": "吉林省",
        "bureau": "吉林省应急管理厅",
        "period": "2026",
        "period_zh": "2026年",
        "as_of": AS_OF,
        "by_month": list(months.values()),
        "planned": len(plan.visits),
        "done": len(done),
        "overdue": [
            {
                "colour": c,
                "colour_zh": COLOUR_NAME[c],
                "sites": [o["code"] for o in overdue[c]],
                "site_details": overdue[c],
            }
            for c in COLOURS
        ],
        "findings": findings,
        "major_findings": findings // 20,
        "hazards_reported": findings // 2,
        "findings_per_inspection": round(findings / len(done), 2) if done else 0.0,
        "fines": fines,
        "fines_yuan": float(fines * 30000),
        "actions": [{"kind": k, "kind_zh": z, "count": kinds[k]} for k, z in ACTION_ZH.items()],
        "workload": [{"inspector": i, "name": names.get(i, ""), **w} for i, w in sorted(workload.items())],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--inspectors", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = province_report(args.sites, args.inspectors)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    times, pdf = [], b""
    for _ in range(args.runs):
        started = time.perf_counter()
        pdf = report_pdf(data)
        times.append(time.perf_counter() - started)
    # The process's peak resident memory: pango's and the font's C memory too, which tracemalloc
    # would not see (and tracing every allocation would triple the time measured).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    from pypdf import PdfReader  # a test extra: only to count the pages

    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    overdue = sum(len(o["sites"]) for o in data["overdue"])
    median = statistics.median(times)
    print(f"province annual report for 2026 as PDF: {args.sites} sites, {args.inspectors} inspectors; 2 cores")
    print(f"  visits planned / done        {data['planned']} / {data['done']}")
    print(
        f"  overdue sites                {overdue} (the first {min(overdue, DETAIL_LIMIT)} listed by name)"
        f"   inspectors listed {len(data['workload'])}"
    )
    print(f"  PDF                          {pages} pages, {len(pdf) / 2**20:.2f} MiB")
    print(f"  rendering                    median {median:.2f} s   best {min(times):.2f} s")
    print(f"  peak memory (max RSS)        {rss:.0f} MiB   ({before:.0f} MiB with the figures, before rendering)")
    print(f"  ceiling {CEILING_S:.0f} s: {median / CEILING_S:.1%} of it ({CEILING_S / median:.1f}× headroom)")


if __name__ == "__main__":
    main()
