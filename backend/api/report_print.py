"""The supervision report as the page a bureau prints and as PDF, both from one template
(maps/templates/supervision_report.html) and from report.py's figures.

The PDF is made by WeasyPrint with a CJK font file embedded (Debian's fonts-wqy-microhei, or the
file RISKMAP_REPORT_FONT names), referenced by @font-face as a file:// URL resolved once, at start-up.
Rendering never reaches the network: the URL fetcher serves that one font file and refuses anything
else. WeasyPrint needs Debian's pango; it is imported when a PDF is made, so a machine without it
still runs the platform and answers the PDF route with the reason.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.api.templating import templates
from backend.core.clock import CHINA_TZ

log = logging.getLogger("riskmap.reports")

# Debian's fonts-wqy-microhei (in the Makefile's package lists): a TrueType collection with every
# character of a bureau's report.
DEFAULT_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),
)
FONT_FAMILY = "RiskmapReportCJK"
# The overdue sites listed one by one, red first: a province's report sends the count per region and
# the worst sites upward, not thousands of rows (the workbook and the dashboard have every one).
DETAIL_LIMIT = 300
# PDFs rendered at once (each a core and a few hundred MiB for a province's year); more wait their turn.
RENDERING = threading.BoundedSemaphore(2)
RENDER_WAIT_S = 20.0


class ReportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKMAP_REPORT_", extra="ignore")
    font: Path | None = None  # RISKMAP_REPORT_FONT: a .ttf/.ttc/.otf with Chinese glyphs, embedded in PDFs


class PdfUnavailable(RuntimeError):
    """The PDF cannot be made on this machine (no CJK font file, or no pango): the reason says what to install."""


class PdfBusy(PdfUnavailable):
    """As many PDFs as the machine renders at once are being made: answered 503 with Retry-After."""


@cache
def report_font() -> Path:
    """The CJK font file PDFs embed: RISKMAP_REPORT_FONT, else Debian's WenQuanYi Micro Hei."""
    chosen = ReportSettings().font
    candidates = (chosen,) if chosen else DEFAULT_FONTS
    for path in candidates:
        if path.is_file():
            return path.resolve()
    wanted = f"RISKMAP_REPORT_FONT={chosen}" if chosen else ", ".join(str(p) for p in DEFAULT_FONTS)
    raise PdfUnavailable(
        f"no CJK font file for PDF reports ({wanted} not found): install Debian's fonts-wqy-microhei "
        "(make deps does) or set RISKMAP_REPORT_FONT to a .ttf/.ttc/.otf file with Chinese glyphs"
    )


def check_font_at_start_up() -> None:
    """Resolve the font when the app starts, and say clearly if PDF reports will not work."""
    try:
        log.info("PDF reports embed %s", report_font())
    except PdfUnavailable as exc:
        log.error("%s", exc)


def css_string(text: str) -> str:
    """`text` as a quoted CSS string, safe inside a <style> element."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("<", "\\3c ")
    return f'"{out}"'


def _percent(done: int, planned: int) -> str:
    return f"{done / planned:.1%}" if planned else "—"


def report_html(report: dict[str, Any], *, for_pdf: bool, links: dict[str, str] | None = None) -> str:
    """The printable report: title, the four sections with 序号 columns, the print CSS (A4, the
    bureau's name atop every page, table headers repeated, page numbers). `for_pdf` adds the
    embedded font's @font-face and leaves out the page's toolbar (`links`: back, PDF, Excel)."""
    font_url = report_font().as_uri() if for_pdf else None
    printed = datetime.now(CHINA_TZ)
    measures = [
        ("完成监督检查", "次", report["done"]),
        ("发现问题隐患", "项", report["findings"]),
        ("其中：重大事故隐患", "项", report["major_findings"]),
        ("转为隐患整改", "项", report["hazards_reported"]),
        ("平均每次检查发现问题", "项", f"{report['findings_per_inspection']:.2f}"),
        *[(a["kind_zh"], "次", a["count"]) for a in report["actions"]],
        ("罚款金额", "元", f"{report['fines_yuan']:,.2f}"),
    ]
    overdue = [
        {**site, "colour": o["colour"], "colour_zh": o["colour_zh"]}
        for o in report["overdue"]
        for site in o["site_details"]
    ]
    colours = [o["colour"] for o in report["overdue"]]
    by_region: dict[str, dict[str, int]] = {}
    for site in overdue:
        counts = by_region.setdefault(site["region"], dict.fromkeys(colours, 0))
        counts[site["colour"]] += 1
    return (
        templates()
        .get_template("supervision_report.html")
        .render(
            r=report,
            title=f"{report['bureau']} {report['period_zh']} 安全生产监管执法工作报表",
            bureau_css=css_string(report["bureau"]),
            font_url=font_url,
            font_family=FONT_FAMILY,
            for_pdf=for_pdf,
            links=links or {},
            months=[{**m, "rate": _percent(m["done"], m["planned"])} for m in report["by_month"]],
            total_rate=_percent(report["done"], report["planned"]),
            measures=measures,
            overdue=overdue[:DETAIL_LIMIT],
            overdue_total=len(overdue),
            overdue_regions=sorted(by_region.items()),
            overdue_colours=[(o["colour"], o["colour_zh"]) for o in report["overdue"]],
            overdue_counts=[(o["colour_zh"], len(o["sites"])) for o in report["overdue"] if o["sites"]],
            workload=[{**w, "rate": _percent(w["done"], w["planned"])} for w in report["workload"]],
            printed=printed.strftime("%Y-%m-%d %H:%M"),
        )
    )


def _weasyprint() -> Any:
    try:
        import weasyprint
    except OSError as exc:  # pango or its companions missing
        raise PdfUnavailable(
            f"WeasyPrint cannot load pango ({exc}): install Debian's libpango-1.0-0, libpangoft2-1.0-0 and "
            "libharfbuzz-subset0 (make deps does)"
        ) from None
    return weasyprint


def local_fetcher(font: Path) -> Any:
    """WeasyPrint's URL fetcher that serves the report's font file and refuses everything else
    (http, https, ftp, data, any other file): rendering never reaches the network."""
    from weasyprint.urls import URLFetcher  # after _weasyprint() has said why it cannot load

    allowed = font.as_uri()

    class LocalOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url != allowed:
                log.warning("PDF report: refused to fetch %s", url[:200])
                raise ValueError(f"refused: a report reads its font file and nothing else ({url[:80]})")
            return super().fetch(url, headers)

    return LocalOnly()


def report_pdf(report: dict[str, Any]) -> bytes:
    """The report as PDF (A4, the CJK font embedded as a subset); run it off the event loop."""
    font = report_font()
    weasyprint = _weasyprint()
    html = report_html(report, for_pdf=True)
    # A request that waits long for its turn gives its worker thread back: 503, try again.
    if not RENDERING.acquire(timeout=RENDER_WAIT_S):
        raise PdfBusy("报表正在生成的数量已达上限，请稍后重试")
    try:
        return weasyprint.HTML(string=html, url_fetcher=local_fetcher(font)).write_pdf()
    finally:
        RENDERING.release()
