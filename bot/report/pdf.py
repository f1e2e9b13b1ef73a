"""The PDF of the report, laid out with matplotlib on A4 pages (no browser needed).

Blocks (headings, paragraphs, tables, charts) flow down the page and onto the next when they
do not fit; long tables continue on the next page with their header repeated.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from bot.report.charts import Chart, cjk_font
from bot.report.tables import Table
from handlers.report_data import ReportData

PAGE_W, PAGE_H = 8.27, 11.69  # A4 in inches
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 0.6, 0.7, 0.7
ROW_H = 0.24
TITLE_ROOM, LABEL_ROOM = 0.35, 0.6  # above a chart's axes, below them
TITLE_H, TABLE_PAD, MIN_ROWS = 0.42, 0.15, 3
TABLE_FONT = 7.5
LINE_H = 0.2
TEXT_COLUMNS = 92  # display width (a CJK character counts 2) of a paragraph line


def display_width(text: str) -> int:
    """Columns a string takes: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """Cut text into lines of at most `columns` display columns (CJK has no spaces to wrap at)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, width = "", 0
        for ch in paragraph:
            w = display_width(ch)
            if width + w > columns:
                lines.append(line)
                line, width = "", 0
            line, width = line + ch, width + w
        lines.append(line)
    return lines


def clip(text: str, columns: int) -> str:
    """Text cut to `columns` display columns, with an ellipsis when cut."""
    if display_width(text) <= columns:
        return text
    out, width = "", 0
    for ch in text:
        if width + display_width(ch) > columns - 2:
            break
        out, width = out + ch, width + display_width(ch)
    return out + "…"


class Pager:
    """Places blocks on A4 figures and saves each full page into the PDF."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf, self.footer = pdf, footer
        self.page = 0
        self.figure: Figure | None = None
        self.y = 0.0

    def _new_page(self) -> Figure:
        self.finish_page()
        self.page += 1
        self.figure = Figure(figsize=(PAGE_W, PAGE_H))
        self.figure.text(
            0.5,
            MARGIN_BOTTOM / 2 / PAGE_H,
            f"{self.footer}　第 {self.page} 页",
            ha="center",
            fontsize=8,
            color="#718096",
        )
        self.y = PAGE_H - MARGIN_TOP
        return self.figure

    def finish_page(self) -> None:
        """Save the page under construction, if any."""
        if self.figure is not None:
            self.pdf.savefig(self.figure)  # type: ignore[no-untyped-call]
            self.figure = None

    def _room(self, height: float) -> Figure:
        if self.figure is None or self.y - height < MARGIN_BOTTOM:
            return self._new_page()
        return self.figure

    def _axes(self, height: float, *, pad: float = 0.0) -> Axes:
        figure = self._room(height + pad)
        bottom = (self.y - height) / PAGE_H
        axes = figure.add_axes(
            (MARGIN_X / PAGE_W, bottom, 1 - 2 * MARGIN_X / PAGE_W, height / PAGE_H)
        )
        self.y -= height + pad
        return axes

    def text(self, line: str, *, size: float = 10, bold: bool = False, gap: float = 0.0) -> None:
        """One line of text."""
        height = size / 72 * 1.7 + gap
        figure = self._room(height)
        # The gap goes above the line; room for descenders stays below the baseline.
        baseline = self.y - gap - size / 72 * 1.2
        figure.text(
            MARGIN_X / PAGE_W,
            baseline / PAGE_H,
            line,
            fontsize=size,
            fontweight="bold" if bold else "normal",
        )
        self.y -= height

    def paragraph(self, body: str, *, size: float = 9) -> None:
        """Wrapped text."""
        for line in wrap(body, TEXT_COLUMNS):
            self.text(line, size=size)

    def chart(self, chart: Chart, data: ReportData) -> None:
        """A chart drawn as vectors into the page, with room for its title and labels."""
        figure = self._room(chart.height)
        top, bottom = self.y - TITLE_ROOM, self.y - chart.height + LABEL_ROOM
        left = MARGIN_X + chart.left
        axes = figure.add_axes(
            (
                left / PAGE_W,
                bottom / PAGE_H,
                (PAGE_W - MARGIN_X - left) / PAGE_W,
                (top - bottom) / PAGE_H,
            )
        )
        chart.draw(axes, data)
        self.y -= chart.height

    def table(self, table: Table) -> None:
        """A table with its title, continued on the next page (title marked 续) as needed."""
        first_rows = min(len(table.rows), MIN_ROWS) + 1
        self._room(TITLE_H + ROW_H * first_rows + TABLE_PAD)  # no title alone at a page end
        self.text(table.title, size=11, bold=True, gap=0.12)
        if not table.rows:
            self.text("（无）", size=9)
            return
        widths = _column_widths(table)
        columns = [max(6, int(w * TEXT_COLUMNS * 1.1)) for w in widths]
        rows = list(table.rows)
        while rows:
            fitting = int((self.y - MARGIN_BOTTOM - TABLE_PAD) / ROW_H) - 1
            if fitting < min(len(rows), MIN_ROWS):
                self._new_page()
                self.text(f"{table.title}（续）", size=9, gap=0.05)
                continue
            chunk, rows = rows[:fitting], rows[fitting:]
            axes = self._axes(ROW_H * (len(chunk) + 1), pad=TABLE_PAD)
            axes.set_axis_off()
            cells = [[clip(v, c) for v, c in zip(r, columns, strict=True)] for r in chunk]
            drawn = axes.table(
                cellText=cells,
                colLabels=list(table.headers),
                colWidths=widths,
                cellLoc="left",
                bbox=Bbox.from_bounds(0, 0, 1, 1),
            )
            drawn.auto_set_font_size(False)
            drawn.set_fontsize(TABLE_FONT)
            for (row, _), cell in drawn.get_celld().items():
                cell.set_edgecolor("#cbd5e0")
                if row == 0:
                    cell.set_facecolor("#edf2f7")
                    cell.set_text_props(fontweight="bold")


def _column_widths(table: Table) -> list[float]:
    """Shares of the width by the widest text of each column, within sensible bounds."""
    raw = []
    for i, header in enumerate(table.headers):
        widest = max([display_width(header)] + [display_width(r[i]) for r in table.rows[:200]])
        raw.append(min(max(widest, 6), 60))
    total = sum(raw)
    return [w / total for w in raw]


def write_pdf(
    data: ReportData,
    tables: list[Table],
    charts: list[Chart],
    path: Path,
    *,
    title: str,
    notes: list[str],
) -> Path:
    """Write the report's PDF: title, notes, charts, then every table; returns the path."""
    cjk_font()
    generated = f"{data.generated_at:%Y-%m-%d %H:%M} UTC"
    with PdfPages(path, metadata={"Title": title, "Creator": "complaintbot"}) as pdf:
        pager = Pager(pdf, title)
        pager.text(title, size=17, bold=True)
        pager.text(f"统计期间：{data.month.label()}　生成时间：{generated}", size=9, gap=0.05)
        for note in notes:
            pager.paragraph(note, size=10)
        by_name = {t.name: t for t in tables}
        pager.table(by_name["kpis"])
        for chart in charts:
            pager.chart(chart, data)
        for table in tables:
            if table.name == "typical_cases":
                _typical(pager, table)
            elif table.name != "kpis":
                pager.table(table)
        pager.finish_page()
    return path


def _typical(pager: Pager, table: Table) -> None:
    """Typical cases as short paragraphs: a table cannot hold their summaries."""
    pager.text(table.title, size=11, bold=True, gap=0.12)
    if not table.rows:
        pager.text("（无）", size=9)
    for number, kind, category, unit, place, summary, status in table.rows:
        pager.text(
            f"{number}　{kind} · {category} · {unit} · {status}", size=9, bold=True, gap=0.06
        )
        pager.paragraph(f"地点：{place}", size=9)
        pager.paragraph(summary, size=9)
