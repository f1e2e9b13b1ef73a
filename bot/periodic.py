"""Scheduled work of issue 8: the survey job, and the monthly report and callback sample.

The survey job runs every minute in every replica (surveys are claimed row by row). The
monthly work runs from the first working day of a month, 09:00 local, for the month before:
a `monthly_runs` row per (kind, month) lets exactly one replica do it, and a replica that
died half-way is taken over after an hour. Supervisors then get a summary and a link.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from handlers.callbacks import callback_tasks, sample_callbacks
from handlers.catalog import text
from handlers.months import Month
from handlers.notify import Notice, quiet_until, send_notice
from handlers.report_data import build_report
from handlers.survey_policy import SurveyPolicy
from handlers.surveys import BATCH, SurveyRun, run_survey_job
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.monthly_runs import claim_monthly_run, finish_monthly_run
from storage.staffing import Role, staff_with_role

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MONTHLY_FROM = time(9, 0)
STALE_RUN = timedelta(hours=1)
MAX_BATCHES = 20  # per tick: a backlog drains over a few minutes without hogging a thread


def survey_policy(services: Services) -> SurveyPolicy:
    """The survey settings of this deployment."""
    return SurveyPolicy(wechat_template_id=services.settings.wechat_survey_template_id)


def survey_pass(services: Services) -> SurveyRun:
    """Run survey batches until nothing is due (bounded); blocking, run it in a thread."""
    total = SurveyRun()
    policy = survey_policy(services)
    for _ in range(MAX_BATCHES):
        with transaction(services.engine) as session:
            run = run_survey_job(
                session,
                now=services.clock(),
                calendar=services.rules.calendar,
                policy=policy,
                deadlines=services.rules.policy,
            )
        for name in total.__dataclass_fields__:
            setattr(total, name, getattr(total, name) + getattr(run, name))
        if run.total < BATCH:
            break
    return total


def first_workday(month: Month, calendar: WorkCalendar) -> date:
    """The month's first working day."""
    day = date(month.year, month.month, 1)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def month_due(now: datetime, calendar: WorkCalendar) -> Month | None:
    """The previous month once its successor's first working day reaches 09:00; else None."""
    local = now.astimezone(calendar.tz)
    current = Month.of(now, calendar.tz)
    if local.date() < first_workday(current, calendar):
        return None
    if local.date() == first_workday(current, calendar) and local.time() < MONTHLY_FROM:
        return None
    return current.previous()


def report_link(services: Services, month: Month) -> str:
    """Where supervisors open the report: the console's reports page, else the file."""
    base = services.settings.public_base_url.rstrip("/")
    if base:
        return f"{base}/console/reports/{month}"
    return str((services.settings.reports_dir / str(month) / "report.html").resolve())


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def monthly_report(services: Services, month: Month) -> bool:
    """Write the month's report once and tell the supervisors; False if not this replica's."""
    from bot.report import write_report  # matplotlib loads only when a report is due

    now, worker, calendar = services.clock(), _worker(), services.rules.calendar
    with transaction(services.engine) as session:
        if not claim_monthly_run(
            session, kind="report", month=str(month), worker=worker, now=now, stale=STALE_RUN
        ):
            return False
    with transaction(services.engine) as session:
        data = build_report(session, month=month, now=now, tz=calendar.tz)
    write_report(data, services.settings.reports_dir / str(month))
    k = data.kpis
    body = text(
        "report.notice",
        month=month.label(),
        total=k.received,
        on_time=k.on_time_closure.percent(),
        satisfaction=k.satisfaction.percent(),
        rework=k.rework.percent(),
        overdue=k.overdue,
        link=report_link(services, month),
    )
    with transaction(services.engine) as session:
        if finish_monthly_run(
            session, kind="report", month=str(month), worker=worker, now=now, summary=body
        ):
            send_notice(
                session,
                notice=Notice("report", body),
                recipients=staff_with_role(session, roles=[Role.SUPERVISOR]),
                occasion=f"report:{month}",
                ticket_id=None,
                now=now,
                not_before=quiet_until(now, calendar),
            )
    log.info("monthly report %s written (%d tickets)", month, k.received)
    return True


def monthly_callbacks(services: Services, month: Month) -> bool:
    """Draw the month's callback sample once and tell each supervising body its share."""
    now, worker, calendar = services.clock(), _worker(), services.rules.calendar
    with transaction(services.engine) as session:
        if not claim_monthly_run(
            session,
            kind="callback_sample",
            month=str(month),
            worker=worker,
            now=now,
            stale=STALE_RUN,
        ):
            return False
        sample = sample_callbacks(
            session, month=month, ratio=services.settings.callback_ratio, now=now, tz=calendar.tz
        )
        shares = Counter(line.unit_id for line in callback_tasks(session, month=month))
        for unit_id, count in sorted(shares.items(), key=lambda item: item[0] or 0):
            people = staff_with_role(
                session, roles=[Role.SUPERVISOR], unit_ids=[unit_id] if unit_id else None
            ) or staff_with_role(session, roles=[Role.SUPERVISOR])
            body = text(
                "callback.notice",
                month=month.label(),
                count=count,
                link=f"{services.settings.public_base_url.rstrip('/')}/console/callbacks"
                if services.settings.public_base_url
                else "complaintbot callbacks list",
            )
            send_notice(
                session,
                notice=Notice("callbacks", body),
                recipients=people,
                occasion=f"callbacks:{month}:{unit_id}",
                ticket_id=None,
                now=now,
                not_before=quiet_until(now, calendar),
            )
        finish_monthly_run(
            session,
            kind="callback_sample",
            month=str(month),
            worker=worker,
            now=now,
            summary=f"{len(sample.ticket_nos)} of {sample.eligible} (seed {sample.seed})",
        )
    return True


async def monthly_work(services: Services) -> None:
    """The monthly job: the previous month's report and callback sample, once each."""
    month = month_due(services.clock(), services.rules.calendar)
    if month is None:
        return
    await asyncio.to_thread(monthly_callbacks, services, month)
    await asyncio.to_thread(monthly_report, services, month)
