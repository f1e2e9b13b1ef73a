"""Monthly work guards: one row per (kind, month) makes each piece of monthly work run once.

A replica claims the work by inserting the row ('running'); a crash leaves it running, and
after `stale` another replica may take it over. Finished work is 'done' for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models_reports import MonthlyRun


def claim_monthly_run(
    session: Session, *, kind: str, month: str, worker: str, now: datetime, stale: timedelta
) -> bool:
    """Whether this worker may do the month's work now (nobody did it or is doing it)."""
    try:
        with session.begin_nested():
            session.add(MonthlyRun(kind=kind, month=month, claimed_by=worker, claimed_at=now))
            session.flush()
        return True
    except IntegrityError:
        pass
    # Someone claimed it: take over only if they never finished and went quiet.
    result = session.execute(
        update(MonthlyRun)
        .where(
            col(MonthlyRun.kind) == kind,
            col(MonthlyRun.month) == month,
            col(MonthlyRun.status) == "running",
            col(MonthlyRun.claimed_at) < now - stale,
        )
        .values(claimed_by=worker, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def finish_monthly_run(
    session: Session, *, kind: str, month: str, worker: str, now: datetime, summary: str
) -> bool:
    """Mark the work done; False if another worker took it over meanwhile."""
    result = session.execute(
        update(MonthlyRun)
        .where(
            col(MonthlyRun.kind) == kind,
            col(MonthlyRun.month) == month,
            col(MonthlyRun.claimed_by) == worker,
            col(MonthlyRun.status) == "running",
        )
        .values(status="done", finished_at=now, summary=summary[:1000])
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def monthly_run(session: Session, *, kind: str, month: str) -> MonthlyRun | None:
    """The guard row of a month's work, if any."""
    return session.exec(
        select(MonthlyRun).where(MonthlyRun.kind == kind, MonthlyRun.month == month)
    ).first()
