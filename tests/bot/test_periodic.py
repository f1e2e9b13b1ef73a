"""Scheduled work: the survey pass, and the monthly report and callback sample, once each."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "handlers"))

from bench.fake_data import generate, load_city  # noqa: E402
from bot.periodic import month_due, monthly_report, monthly_work, survey_pass  # noqa: E402
from bot.services import Services, build_services  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.months import Month  # noqa: E402
from handlers.workdays import SHANGHAI, WorkCalendar  # noqa: E402
from storage.engine import transaction  # noqa: E402
from storage.models import OutboxMessage  # noqa: E402
from storage.models_reports import CallbackTask, MonthlyRun  # noqa: E402

CITY = ROOT / "docs" / "city.sample.toml"
NOVEMBER_FIRST_WORKDAY = datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)


def local(*args: int) -> datetime:
    """A Beijing wall-clock time as aware UTC."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


@pytest.fixture
def services(sqlite_engine: Engine, tmp_path: Path, clock) -> Services:
    """Services on the test database with reports in a temp dir and a public address."""
    settings = load_settings(
        environment="test",
        database_url=str(sqlite_engine.url),
        reports_dir=tmp_path / "reports",
        public_base_url="https://cb.example.cn/",
        callback_ratio=0.2,
    )
    return build_services(settings, engine=sqlite_engine, clock=clock)


def test_monthly_work_waits_for_the_first_working_day_at_nine(calendar: WorkCalendar) -> None:
    assert month_due(local(2026, 11, 1, 12), calendar) is None  # Sunday
    assert month_due(local(2026, 11, 2, 8, 59), calendar) is None
    assert month_due(local(2026, 11, 2, 9, 0), calendar) == Month(2026, 10)
    assert month_due(local(2026, 11, 20, 3, 0), calendar) == Month(2026, 10)  # catch up
    assert month_due(local(2026, 10, 7, 12), calendar) is None  # National Day holiday
    assert month_due(local(2026, 10, 8, 9, 30), calendar) == Month(2026, 9)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


async def test_report_and_callbacks_run_once(services: Services, clock, tmp_path: Path) -> None:
    engine = services.engine
    units = load_city(engine, CITY, local(2025, 10, 1))
    generate(engine, n=400, end=Month(2026, 10), months=3, now=local(2026, 11, 1), units=units)
    clock.now = NOVEMBER_FIRST_WORKDAY
    await monthly_work(services)
    folder = tmp_path / "reports" / "2026-10"
    assert (folder / "report.html").exists() and (folder / "report.pdf").exists()
    with Session(engine) as session:
        runs = session.exec(select(MonthlyRun)).all()
        notices = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.ticket_id).is_(None))
        ).all()
    assert {(r.kind, r.month, r.status) for r in runs} == {
        ("report", "2026-10", "done"),
        ("callback_sample", "2026-10", "done"),
    }
    texts = [n.payload["replies"][0]["text"] for n in notices]
    report = [t for t in texts if "月度分析报告" in t]
    assert report and "https://cb.example.cn/console/reports/2026-10" in report[0]
    assert any("人工回访" in t for t in texts)
    tasks, sent = count(engine, CallbackTask), len(notices)
    assert tasks > 0
    clock.advance(hours=1)
    await monthly_work(services)  # the second tick, or a second replica: nothing again
    assert (count(engine, CallbackTask), count(engine, OutboxMessage)) == (
        tasks,
        count(engine, OutboxMessage),
    )
    with Session(engine) as session:
        again = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.ticket_id).is_(None))
        ).all()
    assert len(again) == sent


def test_a_dead_replicas_claim_is_taken_over_after_an_hour(services: Services, clock) -> None:
    clock.now = NOVEMBER_FIRST_WORKDAY
    with transaction(services.engine) as session:
        session.add(
            MonthlyRun(kind="report", month="2026-10", claimed_by="dead:1", claimed_at=clock.now)
        )
    assert monthly_report(services, Month(2026, 10)) is False  # still being worked on
    clock.advance(minutes=61)
    assert monthly_report(services, Month(2026, 10)) is True
    with Session(services.engine) as session:
        run = session.exec(select(MonthlyRun)).one()
    assert run.status == "done" and run.claimed_by != "dead:1"


def test_survey_pass_sends_what_is_due(services: Services, clock, calendar) -> None:
    from ops_support import load_city as load_sample_city
    from survey_support import add_driver, closed_ticket

    load_sample_city(services.engine, local(2026, 9, 22))
    driver = add_driver(services.engine)
    closed_ticket(
        services.engine,
        filed=local(2026, 9, 22, 9),
        closed=local(2026, 9, 24, 15),
        calendar=calendar,
        complainant_id=driver,
    )
    clock.now = local(2026, 9, 28, 10, 0)
    assert survey_pass(services).asked == 1
    assert survey_pass(services).total == 0
    clock.now += timedelta(days=1)
    assert survey_pass(services).reminded == 1
