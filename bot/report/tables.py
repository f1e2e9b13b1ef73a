"""The report's tables, one shape for HTML, PDF and CSV: a name, a title, headers and rows."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from handlers.kpis import MonthlyKpis, Ratio
from handlers.report_data import Count, ReportData

# National figures for scale (DOMAIN.md §7): shown beside ours, never used in a computation.
NATIONAL = {"on_time": "约 87%", "callback": "约 44%", "satisfaction": "约 97%"}
VOLUME_TITLES = {
    "kind": "按诉求类型",
    "category": "按问题类别",
    "subcategory": "按细分问题",
    "domain": "按业务领域",
    "unit": "按办理单位",
    "region": "按地区",
    "channel": "按渠道",
}
TOP_TITLES = {
    "unit": "被投诉较多的单位",
    "station": "被投诉较多的站点",
    "road": "被投诉较多的路段",
    "badge": "被投诉较多的执法证号",
}


@dataclass(frozen=True)
class Table:
    """One table of the report."""

    name: str  # the CSV file name without .csv
    title: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def _share(count: int, total: int) -> str:
    return f"{count / total * 100:.1f}%" if total else "—"


def _counts(name: str, title: str, label: str, counts: list[Count]) -> Table:
    total = sum(c.count for c in counts)
    rows = [(c.label, str(c.count), _share(c.count, total)) for c in counts]
    return Table(name, title, (label, "件数", "占比"), rows)


def _ratio(name: str, ratio: Ratio | None, reference: str = "") -> tuple[str, ...]:
    if ratio is None:
        return (name, "—", "—", "—", reference)
    return (name, ratio.percent(), str(ratio.numerator), str(ratio.denominator), reference)


def kpi_table(kpis: MonthlyKpis) -> Table:
    """The KPI table: rate, numerator, denominator and the national figure for scale."""
    rows = [
        _ratio("即时答复率（知识库即时答复 / 咨询总量）", kpis.instant_answer),
        _ratio("限时办结率（按期办结 / 应办结）", kpis.on_time_closure, NATIONAL["on_time"]),
        _ratio("抽查回访率（已回访 / 办结）", kpis.callback, NATIONAL["callback"]),
        _ratio("回访满意率（满意+基本满意 / 已评价）", kpis.satisfaction, NATIONAL["satisfaction"]),
        _ratio("重办率（重办 / 办结）", kpis.rework),
        ("受理件数", str(kpis.received), "", "", ""),
        ("办结件数", str(kpis.closed), "", "", ""),
        ("超期件数（本月到期未按期办结）", str(kpis.overdue), "", "", ""),
        ("督办件数（本月下发督办单）", str(kpis.supervised), "", "", ""),
        ("移送纪检线索", str(kpis.discipline_referrals), "", "", ""),
    ]
    return Table("kpis", "主要指标", ("指标", "数值", "分子", "分母", "全国参考"), rows)


def all_tables(data: ReportData) -> list[Table]:
    """Every table of the report, in reading order."""
    tables = [kpi_table(data.kpis)]
    tables.append(
        Table(
            "trend",
            "近12个月趋势",
            ("月份", "受理", "其中执法类", "办结"),
            [(p.month, str(p.received), str(p.enforcement), str(p.closed)) for p in data.trend],
        )
    )
    for key, title in VOLUME_TITLES.items():
        label = title.removeprefix("按")
        tables.append(_counts(f"volume_{key}", f"受理量{title}", label, data.volumes.get(key, [])))
    for key, title in TOP_TITLES.items():
        rows = [(str(i), c.label, str(c.count)) for i, c in enumerate(data.tops.get(key, []), 1)]
        tables.append(Table(f"top_{key}", title, ("排名", title[6:], "投诉件数"), rows))
    tables.append(
        Table(
            "problems",
            "高频问题（问题清单）",
            ("问题", "本月", "上月", "变化"),
            [(label, str(n), str(b), f"{n - b:+d}") for label, n, b in data.problems],
        )
    )
    for name, title, lines in (
        ("supervised", "本月督办件", data.supervised),
        ("reopened", "本月重办件", data.reopened),
    ):
        headers = ("工单号", "办理单位", "当前状态", "督办级别" if name == "supervised" else "类别")
        lines_rows = [(c.ticket_no, c.unit, c.status, c.detail) for c in lines]
        tables.append(Table(name, title, headers, lines_rows))
    tables.append(
        Table(
            "typical_cases",
            "典型案例（已脱敏）",
            ("工单号", "类型", "类别", "办理单位", "地点", "情况摘要", "状态"),
            [
                (c.ticket_no, c.kind, c.category, c.unit, c.place, c.summary, c.status)
                for c in data.typical
            ],
        )
    )
    return tables


def write_csvs(tables: list[Table], out: Path) -> list[Path]:
    """One UTF-8 CSV per table (with a BOM, so spreadsheet programs read the Chinese)."""
    written = []
    for table in tables:
        path = out / f"{table.name}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.headers)
            writer.writerows(table.rows)
        written.append(path)
    return written
