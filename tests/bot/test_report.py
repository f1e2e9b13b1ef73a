"""The monthly report as files: HTML, PDF and CSV from generated data, and the CLI's answers."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.fake_data import generate, load_city  # noqa: E402
from bot.cli import main  # noqa: E402
from bot.report import write_report  # noqa: E402
from bot.report.charts import cjk_font  # noqa: E402
from bot.settings import get_settings  # noqa: E402
from handlers.months import Month  # noqa: E402
from handlers.report_data import ReportData, build_report  # noqa: E402
from handlers.workdays import SHANGHAI  # noqa: E402
from storage.engine import transaction  # noqa: E402
from storage.models import Complainant, IdentityRead, Ticket  # noqa: E402

OCTOBER = Month(2026, 10)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CITY = ROOT / "docs" / "city.sample.toml"
CSV_NAMES = {
    "kpis", "trend", "problems", "supervised", "reopened", "typical_cases",
    *(f"volume_{k}" for k in ("kind", "category", "subcategory", "domain", "unit", "region")),
    "volume_channel",
    *(f"top_{k}" for k in ("unit", "station", "road", "badge")),
}  # fmt: skip


@pytest.fixture(scope="module")
def report_dir(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Path, ReportData, Path]]:
    """October's report of 1,500 generated tickets plus one with the driver's identity in it."""
    from storage.engine import make_engine

    path = tmp_path_factory.mktemp("report") / "db.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    units = load_city(engine, CITY, NOW)
    generate(engine, n=1500, end=OCTOBER, months=13, now=NOW, units=units, seed=3)
    when = datetime(2026, 10, 9, 10, tzinfo=SHANGHAI)
    with transaction(engine) as session:
        person = Complainant(
            channel="wechat", channel_user_id="o-liu", name="刘大勇", phone="13911112222"
        )
        session.add(person)
        session.flush()
        session.add(
            Ticket(
                ticket_no="TS20261009-9999999", kind="complaint", category="abusive",
                severity="urgent", channel="wechat", status="handling", complainant_id=person.id,
                unit_id=units["FZK"], supervision_level="red", reopen_count=1,
                description="我是刘大勇，电话13911112222，在北岭治超站被执法人员推搡辱骂，还抢了我的手机，"
                "车牌湘A3K921被扣，要求严肃处理。" * 2,
                place_text="北岭治超站", created_at=when, updated_at=when,
            )
        )  # fmt: skip
    with transaction(engine) as session:
        data = build_report(session, month=OCTOBER, now=NOW)
    out = tmp_path_factory.mktemp("out")
    write_report(data, out)
    yield out, data, path
    engine.dispose()


def test_html_is_self_contained_with_charts(report_dir) -> None:
    out, data, _ = report_dir
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "交通运输执法类投诉举报分析报告（2026年10月）" in html
    assert html.count('src="data:image/png;base64,') == 5
    assert not re.search(r'(src|href)="(?!data:)', html), "everything is embedded"
    for heading in (
        "主要指标",
        "限时办结率",
        "按办理单位",
        "被投诉较多的站点",
        "典型案例（已脱敏）",
    ):
        assert heading in html
    assert f'<td class="num">{data.kpis.received}</td>' in html


def test_typical_cases_are_anonymised(report_dir) -> None:
    out, data, _ = report_dir
    case = next(c for c in data.typical if c.ticket_no == "TS20261009-9999999")
    assert "刘大勇" not in case.summary and "13911112222" not in case.summary
    assert "139****2222" in case.summary or "***" in case.summary
    assert "湘A3K921" not in case.summary and "湘A***21" in case.summary
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "刘大勇" not in html and "13911112222" not in html
    text = (out / "typical_cases.csv").read_text(encoding="utf-8-sig")
    assert "刘大勇" not in text and "TS20261009-9999999" in text


def test_csv_tables_match_the_numbers(report_dir) -> None:
    out, data, _ = report_dir
    assert {p.stem for p in out.glob("*.csv")} == CSV_NAMES
    assert (out / "kpis.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for spreadsheets
    with (out / "kpis.csv").open(encoding="utf-8-sig") as handle:
        rows = {r[0]: r for r in csv.reader(handle)}
    on_time = rows["限时办结率（按期办结 / 应办结）"]
    assert on_time[1:4] == [
        data.kpis.on_time_closure.percent(),
        str(data.kpis.on_time_closure.numerator),
        str(data.kpis.on_time_closure.denominator),
    ]
    with (out / "volume_kind.csv").open(encoding="utf-8-sig") as handle:
        kinds = list(csv.reader(handle))[1:]
    assert sum(int(r[1]) for r in kinds) == data.kpis.received
    with (out / "trend.csv").open(encoding="utf-8-sig") as handle:
        months = [r[0] for r in list(csv.reader(handle))[1:]]
    assert months[0] == "2025-11" and months[-1] == "2026-10" and len(months) == 12


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_text_is_chinese_and_searchable(report_dir) -> None:
    out, _, _ = report_dir
    assert cjk_font() is not None, "no CJK font: install fonts-noto-cjk"
    extracted = subprocess.run(
        ["pdftotext", "-layout", str(out / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for words in ("交通运输执法类投诉举报分析报告", "限时办结率", "被投诉较多的单位", "典型案例"):
        assert words in extracted, words
    assert "刘大勇" not in extracted
    pages = extracted.count("\f")
    assert 4 <= pages <= 12, pages


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdf_pages_render_with_ink(report_dir, tmp_path: Path) -> None:
    out, _, _ = report_dir
    subprocess.run(
        ["pdftoppm", "-r", "30", "-gray", "-f", "1", "-l", "1", str(out / "report.pdf"),
         str(tmp_path / "p")],
        check=True, capture_output=True,
    )  # fmt: skip
    (page,) = tmp_path.glob("p*.pgm")
    raw = page.read_bytes()
    pixels = raw[raw.index(b"255\n") + 4 :]
    dark = sum(1 for b in pixels if b < 128) / len(pixels)
    assert 0.02 < dark < 0.6, dark  # charts and text, not a blank or black page


def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    try:
        return main(list(args))
    finally:
        get_settings.cache_clear()


def test_cli_empty_future_and_partial_months(tmp_path: Path, monkeypatch, capsys) -> None:
    assert run_cli(tmp_path, monkeypatch, "db", "upgrade") == 0
    now = ["--now", NOW.isoformat()]
    assert (
        run_cli(
            tmp_path,
            monkeypatch,
            "report",
            "--month",
            "2026-12",
            "--out",
            str(tmp_path / "x"),
            *now,
        )
        == 2
    )
    assert "has not begun yet" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert (
        run_cli(tmp_path, monkeypatch, "report", "--month", "10/2026", "--out", str(tmp_path / "x"))
        == 2
    )
    assert "YYYY-MM" in capsys.readouterr().err
    assert (
        run_cli(
            tmp_path,
            monkeypatch,
            "report",
            "--month",
            "2026-10",
            "--out",
            str(tmp_path / "e"),
            *now,
        )
        == 0
    )
    assert "no tickets in this month" in capsys.readouterr().out
    assert "没有受理、办结或到期的工单" in (tmp_path / "e" / "report.html").read_text(
        encoding="utf-8"
    )
    assert (
        run_cli(
            tmp_path,
            monkeypatch,
            "report",
            "--month",
            "2026-11",
            "--out",
            str(tmp_path / "n"),
            *now,
        )
        == 0
    )
    assert "month not over" in capsys.readouterr().out
    assert "尚未结束" in (tmp_path / "n" / "report.html").read_text(encoding="utf-8")


def test_cli_several_months_show_progress(tmp_path: Path, monkeypatch, capsys) -> None:
    assert run_cli(tmp_path, monkeypatch, "db", "upgrade") == 0
    args = [
        "report",
        "--month",
        "2026-10",
        "--months",
        "3",
        "--out",
        str(tmp_path / "y"),
        "--now",
        NOW.isoformat(),
    ]
    assert run_cli(tmp_path, monkeypatch, *args) == 0
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == ["2026-08", "2026-09", "2026-10"]
    progress = capsys.readouterr().err
    assert "reports [" in progress and "3/3 100%" in progress


def test_identity_reads_for_the_report_are_logged(report_dir) -> None:
    _, _, path = report_dir
    from sqlmodel import Session, select

    from storage.engine import make_engine

    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        reasons = set(session.exec(select(IdentityRead.reason)).all())
    engine.dispose()
    assert reasons == {"anonymise a typical case for the monthly report"}
