"""Report charts with matplotlib (Agg, no display) in a CJK font, as figures and PNG data."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

# Figures are made without pyplot: no global figure registry, no display backend needed.
from matplotlib import font_manager, rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from handlers.report_data import Count, ReportData

log = logging.getLogger(__name__)

# Debian's fonts-noto-cjk first; then other common CJK fonts a deployment may have.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)
BLUE, ORANGE, GREY = "#2b6cb0", "#dd6b20", "#a0aec0"
NATIONAL_RATES = {"限时办结率": 0.87, "抽查回访率": 0.44, "回访满意率": 0.97}


@cache
def cjk_font() -> str | None:
    """The first installed CJK font, set as matplotlib's sans-serif; None (logged) if none."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        found = next((n for n in sorted(installed) if "CJK" in n or "Hei" in n), None)
    if found is None:
        log.warning("no CJK font installed: Chinese text in report charts will not render")
    rcParams["font.sans-serif"] = [found, "DejaVu Sans"] if found else ["DejaVu Sans"]
    rcParams["font.family"] = "sans-serif"
    rcParams["axes.unicode_minus"] = False  # the CJK font lacks U+2212
    # Type 3 glyphs: every PDF reader shows them and text stays searchable.
    rcParams["pdf.fonttype"] = 3
    return found


def png_base64(figure: Figure, *, dpi: int = 110) -> str:
    """A figure as base64 PNG, for an <img src="data:image/png;base64,...">."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def new_figure(width: float = 7.0, height: float = 3.2) -> tuple[Figure, Axes]:
    """A figure with one axes, in the CJK font."""
    cjk_font()
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _plain(axes: Axes, title: str) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title, fontsize=11)


def _empty(axes: Axes, title: str) -> None:
    axes.set_title(title, fontsize=11)
    axes.text(0.5, 0.5, "本月无数据", ha="center", va="center", color=GREY, fontsize=14)
    axes.set_axis_off()


def draw_trend(axes: Axes, data: ReportData) -> None:
    """Received tickets per month (bars), enforcement and closed (lines), 12 months."""
    _plain(axes, "近12个月受理与办结趋势")
    labels = [p.month[2:] for p in data.trend]
    axes.bar(labels, [p.received for p in data.trend], color=BLUE, label="受理总量")
    axes.plot(
        labels, [p.enforcement for p in data.trend], color=ORANGE, marker="o", label="其中执法类"
    )
    axes.plot(labels, [p.closed for p in data.trend], color=GREY, marker=".", label="办结")
    axes.set_ylabel("件数")
    axes.tick_params(axis="x", labelrotation=45, labelsize=8)
    # Head room above the tallest bar keeps the legend off the data.
    axes.set_ylim(0, max([p.received for p in data.trend] + [1]) * 1.3)
    axes.legend(frameon=False, fontsize=8, ncols=3, loc="upper left")


def draw_bars(axes: Axes, counts: list[Count], title: str, *, limit: int = 10) -> None:
    """A horizontal bar chart of a breakdown, largest on top."""
    shown = counts[:limit]
    if not shown:
        _empty(axes, title)
        return
    _plain(axes, title)
    labels = [c.label if len(c.label) <= 16 else c.label[:15] + "…" for c in shown][::-1]
    bars = axes.barh(labels, [c.count for c in shown][::-1], color=BLUE)
    axes.bar_label(bars, padding=3, fontsize=8)
    axes.tick_params(axis="y", labelsize=8)


def draw_kpis(axes: Axes, data: ReportData) -> None:
    """The month's rates beside the national figures for scale."""
    _plain(axes, "主要指标（全国数据仅供参照）")
    k = data.kpis
    rates = {
        "限时办结率": k.on_time_closure.value,
        "抽查回访率": k.callback.value,
        "回访满意率": k.satisfaction.value,
        "重办率": k.rework.value,
    }
    names = list(rates)
    ours = [(v or 0.0) * 100 for v in rates.values()]
    spots = list(range(len(names)))
    bars = axes.bar([p - 0.2 for p in spots], ours, width=0.4, color=BLUE, label="本月")
    shown = [
        f"{v:.1f}%" if rates[n] is not None else "无" for n, v in zip(names, ours, strict=True)
    ]
    axes.bar_label(bars, labels=shown, padding=2, fontsize=8)
    national = [NATIONAL_RATES.get(n, 0.0) * 100 for n in names]
    axes.bar([p + 0.2 for p in spots], national, width=0.4, color=GREY, label="全国参考")
    axes.set_xticks(spots, names)
    axes.set_ylim(0, 115)
    axes.set_ylabel("%")
    axes.legend(frameon=False, fontsize=8, loc="upper right")


Drawer = Callable[[Axes, ReportData], None]


@dataclass(frozen=True)
class Chart:
    """One chart: caption, height in inches, room for labels left of the axes, drawer."""

    caption: str
    height: float
    left: float
    draw: Drawer


def _bars(key: str, source: str, title: str) -> Drawer:
    def draw(axes: Axes, data: ReportData) -> None:
        counts = data.volumes if source == "volumes" else data.tops
        draw_bars(axes, counts.get(key, []), title)

    return draw


def report_charts() -> list[Chart]:
    """Every chart of the report, in reading order."""
    return [
        Chart("近12个月趋势", 3.2, 0.4, draw_trend),
        Chart("主要指标", 3.0, 0.4, draw_kpis),
        Chart("问题类别", 3.2, 1.2, _bars("category", "volumes", "受理量按问题类别")),
        Chart("渠道", 2.0, 1.2, _bars("channel", "volumes", "受理量按渠道")),
        Chart("被投诉较多的单位", 2.8, 2.4, _bars("unit", "tops", "被投诉较多的单位")),
    ]


def chart_images(data: ReportData) -> list[tuple[str, str]]:
    """(caption, base64 PNG) of every chart, for the HTML report."""
    images = []
    for chart in report_charts():
        figure, axes = new_figure(7.5, chart.height)
        chart.draw(axes, data)
        figure.tight_layout()
        images.append((chart.caption, png_base64(figure)))
    return images
