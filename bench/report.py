"""Monthly report time on a million tickets beside the bare aggregate SQL, and survey dispatch.

    .venv/bin/python bench/report.py [--n 1000000] [--backend both] [--surveys 100000]
    .venv/bin/python bench/report.py --sample docs/report-sample   # the sample report

Per backend (SQLite on a temp file; PostgreSQL in a private schema of the test database,
dropped afterwards): bulk-generate n tickets over 24 months, then time the report's numbers
(`build_report`), its rendering (HTML, PDF, CSV) and, in the same run, the bare SQL
aggregates the report rests on. Then queue `--surveys` due surveys to a fake channel and
time the survey job and the outbox delivery until all are sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fake_data import BulkWriter, generate, load_city  # noqa: E402
from bot.cli.progress import Progress  # noqa: E402
from bot.outbox import OutboxDelivery  # noqa: E402
from bot.report import write_report  # noqa: E402
from handlers.months import Month  # noqa: E402
from handlers.report_data import build_report  # noqa: E402
from handlers.survey_policy import SurveyPolicy  # noqa: E402
from handlers.surveys import run_survey_job  # noqa: E402
from handlers.workdays import WorkCalendar  # noqa: E402
from storage.engine import make_engine, transaction  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CITY = ROOT / "docs" / "city.sample.toml"
MONTH = Month(2026, 10)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing, in November
BATCH = 500


def bare_sql(engine: Engine, month: Month) -> float:
    """Seconds for the aggregate statements behind the report's numbers, plain SQL."""
    lite = engine.dialect.name == "sqlite"

    def ts(moment: datetime) -> Any:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if lite else moment

    a, b = ts(month.start()), ts(month.end())
    statements = [
        f"SELECT {column}, count(*) FROM tickets WHERE created_at >= :a AND created_at < :b "
        f"GROUP BY {column}"
        for column in ("kind", "category", "subcategory", "domain", "unit_id", "channel")
    ] + [
        # coalesce(status, '') as in handlers.kpis.is_closed: the same plan on both sides.
        "SELECT count(*) FROM tickets WHERE coalesce(status, '') = 'closed' AND closed_at >= :a "
        "AND closed_at < :b",
        "SELECT count(*), sum(CASE WHEN status = 'closed' AND closed_at <= due_at THEN 1 "
        "ELSE 0 END) FROM tickets WHERE due_at >= :a AND due_at < :b "
        "AND status NOT IN ('rejected', 'withdrawn')",
        "SELECT count(*) FROM tickets t WHERE coalesce(t.status, '') = 'closed' AND "
        "t.closed_at >= :a AND "
        "t.closed_at < :b AND (EXISTS (SELECT 1 FROM surveys s WHERE s.ticket_id = t.id AND "
        "s.status = 'answered') OR EXISTS (SELECT 1 FROM callback_tasks c WHERE "
        "c.ticket_id = t.id AND c.status = 'done'))",
        "SELECT satisfaction, count(*) FROM surveys WHERE status = 'answered' AND "
        "answered_at >= :a AND answered_at < :b GROUP BY satisfaction",
        "SELECT count(DISTINCT ticket_id) FROM ticket_events WHERE action = 'reopen' AND "
        "created_at >= :a AND created_at < :b",
        "SELECT count(*) FROM supervision_orders WHERE created_at >= :a AND created_at < :b",
        "SELECT accused_unit_id, place_text, badges FROM tickets WHERE created_at >= :a AND "
        "created_at < :b AND kind IN ('complaint', 'report') AND sealed = false",
    ]
    for offset in range(12):  # the trend
        m = month.shift(-offset)
        start, end = ts(m.start()), ts(m.end())
        statements.append(
            "SELECT category, count(*) FROM tickets WHERE created_at >= "
            f"'{start}' AND created_at < '{end}' GROUP BY category"
        )
        statements.append(
            "SELECT count(*) FROM tickets WHERE coalesce(status, '') = 'closed' AND "
            f"closed_at >= '{start}' AND closed_at < '{end}'"
        )
    start = time.perf_counter()
    with engine.connect() as connection:
        for sql in statements:
            connection.execute(text(sql), {"a": a, "b": b}).all()
    return time.perf_counter() - start


def bench_report(engine: Engine, name: str, n: int, out: Path) -> None:
    """Generate n tickets, then time the report beside the bare SQL."""
    units = load_city(engine, CITY, NOW)
    start = time.perf_counter()
    with Progress(n, f"{name}: generating") as bar:
        made = generate(engine, n=n, end=MONTH, months=24, now=NOW, units=units, progress=bar.set)
    print(
        f"{name}: {made.tickets} tickets, {made.events} events, {made.surveys} surveys in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    bare_sql(engine, MONTH)  # warm the caches for both sides alike
    bare = bare_sql(engine, MONTH)
    start = time.perf_counter()
    with transaction(engine) as session:
        data = build_report(session, month=MONTH, now=NOW)
    numbers = time.perf_counter() - start
    start = time.perf_counter()
    write_report(data, out)
    render = time.perf_counter() - start
    print(
        f"{name:<10} report {MONTH} ({data.kpis.received} tickets in the month): numbers "
        f"{numbers:6.2f} s, rendering {render:5.2f} s; bare aggregate SQL {bare:6.2f} s "
        f"(numbers / bare = {numbers / bare:4.1f}x)",
        flush=True,
    )


def bench_surveys(engine: Engine, name: str, count: int) -> None:
    """Queue `count` due surveys and time the survey job and the delivery to a fake channel."""
    if count <= 0:
        return
    due = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing
    _due_surveys(engine, count, due)
    calendar, policy = WorkCalendar(), SurveyPolicy()
    start = time.perf_counter()
    with Progress(count, f"{name}: survey job") as bar:
        while True:
            with transaction(engine) as session:
                run = run_survey_job(
                    session, now=due, calendar=calendar, policy=policy, limit=BATCH
                )
            if not run.asked:
                break
            bar.advance(run.asked)
    job = time.perf_counter() - start

    class FakeChannel:
        sent = 0

        async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
            FakeChannel.sent += 1

    delivery = OutboxDelivery(
        engine=engine, senders={"bench": FakeChannel()}, clock=lambda: due, worker_id="bench"
    )

    async def deliver() -> None:
        while (await delivery.deliver_due(limit=BATCH)).sent:
            pass

    start = time.perf_counter()
    asyncio.run(deliver())
    send = time.perf_counter() - start
    assert FakeChannel.sent == count, (FakeChannel.sent, count)
    print(
        f"{name:<10} {count} due surveys: survey job {count / job:7.0f}/s ({job:5.1f} s), "
        f"outbox delivery {count / send:7.0f}/s ({send:5.1f} s)",
        flush=True,
    )


def _due_surveys(engine: Engine, count: int, due: datetime) -> None:
    """count complainants on the 'bench' channel with closed tickets and due surveys."""
    writer = BulkWriter(engine)
    with engine.connect() as connection:
        first = (
            int(connection.execute(text("SELECT coalesce(max(id), 0) FROM tickets")).scalar_one())
            + 1
        )
    closed = due - timedelta(days=1)
    for low in range(0, count, 20_000):
        ids = range(first + low, first + min(low + 20_000, count))
        writer.write(
            "complainants",
            [
                {
                    "id": i,
                    "channel": "bench",
                    "channel_user_id": f"b-{i}",
                    "anonymity": "real_name",
                    "language": "zh",
                    "created_at": closed,
                }
                for i in ids
            ],
        )
        writer.write(
            "tickets",
            [
                {
                    "id": i,
                    "ticket_no": f"TB{i:09d}",
                    "kind": "complaint",
                    "category": "service",
                    "severity": "normal",
                    "status": "closed",
                    "channel": "bench",
                    "complainant_id": i,
                    "anonymity": "real_name",
                    "sealed": False,
                    "description": "bench",
                    "plates": [],
                    "badges": [],
                    "classification": {},
                    "supervision_level": "none",
                    "reopen_count": 0,
                    "extended": False,
                    "deadline_provisional": False,
                    "created_at": closed,
                    "updated_at": closed,
                    "closed_at": closed,
                    "version": 1,
                }
                for i in ids
            ],
        )
        writer.write(
            "surveys",
            [
                {
                    "ticket_id": i,
                    "round": 1,
                    "channel": "bench",
                    "status": "scheduled",
                    "due_at": due,
                    "created_at": closed,
                }
                for i in ids
            ],
        )
    writer.fix_sequences("complainants", "tickets", "surveys")


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    """A migrated SQLite file in a temp dir, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="complaintbot-report-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_engine() -> Iterator[Engine | None]:
    """A migrated private schema of the test database, dropped afterwards; None if away."""
    admin = make_engine(PG_URL)
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not reachable"
        print(f"postgresql skipped: {type(exc).__name__}")
        yield None
        return
    schema = f"cbreport_{uuid.uuid4().hex[:8]}"
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def sample(out: Path) -> None:
    """The sample report in docs/: 4,000 made-up tickets over 13 months, PDF pages as PNG."""
    with sqlite_engine() as engine:
        units = load_city(engine, CITY, NOW)
        generate(engine, n=4000, end=MONTH, months=13, now=NOW, units=units, seed=2026)
        with transaction(engine) as session:
            data = build_report(session, month=MONTH, now=NOW)
    # Replace an earlier sample's generated files only (the README stays).
    for old in [*out.glob("*.csv"), *out.glob("report.*"), *out.glob("pages/page-*.png")]:
        old.unlink()
    files = write_report(data, out)
    pages = out / "pages"
    pages.mkdir(exist_ok=True)
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", str(files.pdf), str(pages / "page")], check=True
        )
    print(f"sample report for {MONTH} in {out}")


def main() -> None:
    """Run the benchmark (or write the sample report)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="tickets to generate")
    parser.add_argument("--surveys", type=int, default=100_000, help="due surveys to dispatch")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sample", type=Path, help="write the sample report here instead")
    args = parser.parse_args()
    # A terminated run still drops its temp files and schema (the context managers unwind).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.sample:
        sample(args.sample)
        return
    with tempfile.TemporaryDirectory(prefix="complaintbot-report-out-") as out:
        if args.backend in ("sqlite", "both"):
            with sqlite_engine() as engine:
                bench_report(engine, "sqlite", args.n, Path(out) / "sqlite")
                bench_surveys(engine, "sqlite", args.surveys)
        if args.backend in ("postgresql", "both"):
            with postgres_engine() as engine:
                if engine is not None:
                    bench_report(engine, "postgresql", args.n, Path(out) / "postgresql")
                    bench_surveys(engine, "postgresql", args.surveys)


if __name__ == "__main__":
    main()
