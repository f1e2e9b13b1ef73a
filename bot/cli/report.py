"""`complaintbot report --month YYYY-MM --out DIR`: the monthly analysis report as files.

One month writes report.html, report.pdf and the CSV tables into DIR; `--months N` writes the
N months ending with --month into DIR/YYYY-MM/ each, with a progress bar. A month still to
come is refused; an empty month gives a report that says so.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.cli.progress import Progress
from bot.settings import get_settings
from handlers.months import Month, MonthError, check_reportable, last_months
from handlers.report_data import build_report
from storage.engine import make_engine, transaction
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.report import ReportFiles

MAX_MONTHS = 60


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `report` command."""
    parser = subparsers.add_parser("report", help="write the monthly analysis report")
    parser.add_argument("--month", required=True, help="the month, YYYY-MM")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--months", type=int, default=1, help="write this many months ending with --month"
    )
    # For reproducible runs (tests, the sample in docs/): the moment the report is made.
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def make_report(
    engine: Engine, month: Month, out: Path, *, now: datetime, tz: ZoneInfo
) -> tuple[ReportFiles, bool]:
    """Collect and write one month's report; also whether the month had nothing in it."""
    # Imported here: matplotlib takes a second to load, and every other command skips it.
    from bot.report import write_report

    with transaction(engine) as session:
        data = build_report(session, month=month, now=now, tz=tz)
    return write_report(data, out), data.empty


def run(args: argparse.Namespace) -> int:
    """Write the report(s); exit 2 on a bad or future month."""
    settings = get_settings()
    tz = ZoneInfo(settings.timezone)
    now = datetime.fromisoformat(args.now) if args.now else utcnow()
    try:
        last = Month.parse(args.month)
        if not 1 <= args.months <= MAX_MONTHS:
            raise MonthError(f"--months must be 1-{MAX_MONTHS}")
        months = last_months(last, args.months)
        complete = check_reportable(last, now, tz)
    except MonthError as exc:
        print(f"complaintbot report: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        if len(months) == 1:
            files, empty = make_report(engine, last, args.out, now=now, tz=tz)
            _describe(last, files, complete=complete, empty=empty)
            return 0
        with Progress(len(months), "reports") as bar:
            for month in months:
                make_report(engine, month, args.out / str(month), now=now, tz=tz)
                bar.advance()
        print(f"{len(months)} monthly reports in {args.out}/YYYY-MM/")
        return 0
    finally:
        engine.dispose()


def _describe(month: Month, files: ReportFiles, *, complete: bool, empty: bool) -> None:
    note = "" if complete else " (month not over: figures up to now)"
    note += " (no tickets in this month: the report says so)" if empty else ""
    print(f"report for {month}{note}:")
    print(f"  {files.html}")
    print(f"  {files.pdf}")
    print(f"  {len(files.csvs)} CSV tables in {files.html.parent}")
