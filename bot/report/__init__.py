"""The monthly analysis report as files: self-contained HTML, its PDF, and CSV tables.

The numbers come from `handlers.report_data.build_report`; this package only renders them:
charts with matplotlib in a CJK font (embedded in the HTML as base64 PNG, drawn as vectors in
the PDF), tables through one `Table` shape for all three formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from bot.report.charts import chart_images, report_charts
from bot.report.pdf import write_pdf
from bot.report.tables import TOP_TITLES, VOLUME_TITLES, all_tables, write_csvs
from handlers.report_data import ReportData

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TITLE = "交通运输执法类投诉举报分析报告"


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written."""

    html: Path
    pdf: Path
    csvs: list[Path]


def report_title(data: ReportData) -> str:
    """'交通运输执法类投诉举报分析报告（2026年10月）'."""
    return f"{TITLE}（{data.month.label()}）"


def report_notes(data: ReportData) -> list[str]:
    """Warnings at the top: an empty month, a month still running."""
    notes = []
    if not data.complete:
        notes.append(
            f"{data.month.label()}尚未结束：本报告统计截至生成时间，数字在月底前还会变化。"
        )
    if data.empty:
        notes.append(f"{data.month.label()}没有受理、办结或到期的工单，本期无数据可分析。")
    return notes


NUMERIC = re.compile(r"[+-]?\d+(\.\d+)?%?")


def is_numeric_cell(value: object) -> bool:
    """Counts, shares and changes ('12', '87.5%', '+3') align right; months and names do not."""
    return isinstance(value, str) and NUMERIC.fullmatch(value) is not None


def render_html(data: ReportData) -> str:
    """The HTML report, one file with its charts embedded."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.tests["numeric_cell"] = is_numeric_cell
    tables = {t.name: t for t in all_tables(data)}
    return environment.get_template("report.html").render(
        title=report_title(data),
        month_label=data.month.label(),
        generated=f"{data.generated_at:%Y-%m-%d %H:%M} UTC",
        notes=report_notes(data),
        tables=tables,
        charts=chart_images(data),
        volume_tables=[f"volume_{k}" for k in VOLUME_TITLES],
        top_tables=[f"top_{k}" for k in TOP_TITLES],
        typical=data.typical,
    )


def write_report(data: ReportData, out: Path) -> ReportFiles:
    """Write report.html, report.pdf and the CSV tables into `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    html = out / "report.html"
    html.write_text(render_html(data), encoding="utf-8")
    tables = all_tables(data)
    pdf = write_pdf(
        data,
        tables,
        report_charts(),
        out / "report.pdf",
        title=report_title(data),
        notes=report_notes(data),
    )
    return ReportFiles(html=html, pdf=pdf, csvs=write_csvs(tables, out))
