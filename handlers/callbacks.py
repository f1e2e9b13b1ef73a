"""Manual callback sample (抽查回访): a seeded random share of last month's closed cases.

Each month `callback_ratio` of the enforcement tickets closed in the previous month become
phone or video callback tasks for supervisors. Eligible: complaints and reports in one of the
five enforcement categories, closed in that month and still closed, with a complainant who
did not file anonymously (anonymous drivers get the chat survey only, DOMAIN.md §9) and not
sealed (discipline clues stay with discipline inspectors). The number drawn is
ceil(ratio × eligible), the draw `random.Random(seed).sample` over the eligible ids in
ascending order, so the same seed and the same data give the same sample. A month is
sampled once: asking again returns the tasks already drawn.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from handlers.kpis import is_closed
from handlers.months import Month, MonthError, check_reportable
from handlers.staff_actions import SUPERVISING_ROLES, ActionRefused, authorize
from handlers.survey_policy import RATINGS
from handlers.workdays import SHANGHAI
from storage.complainants import read_identity
from storage.lifecycle import Action
from storage.models import Ticket
from storage.models_reports import CallbackTask
from storage.staffing import supervising_unit
from storage.tickets import apply_action

log = logging.getLogger(__name__)

ENFORCEMENT_CATEGORIES = ("profit_driven", "irregular", "rigid", "abusive", "rent_seeking")
SAMPLED_KINDS = ("complaint", "report")
METHODS = ("phone", "video")
RESULTS = ("done", "unreachable")
MAX_NOTE_CHARS = 1000


@dataclass(frozen=True)
class Sample:
    """The callback tasks of a month: how many were eligible, which tickets, whether new."""

    month: str
    seed: int
    eligible: int
    ticket_nos: tuple[str, ...]
    created: bool


def default_seed(month: Month) -> int:
    """The seed used when none is given: the month as a number (202610)."""
    return month.year * 100 + month.month


def eligible_tickets(
    session: Session, *, month: Month, tz: ZoneInfo = SHANGHAI
) -> list[tuple[int, str, int | None]]:
    """(id, ticket_no, unit_id) of the tickets the month's sample is drawn from, by id."""
    rows = session.exec(
        select(Ticket.id, Ticket.ticket_no, Ticket.unit_id)
        .where(
            is_closed(),
            col(Ticket.closed_at) >= month.start(tz),
            col(Ticket.closed_at) < month.end(tz),
            col(Ticket.kind).in_(SAMPLED_KINDS),
            col(Ticket.category).in_(ENFORCEMENT_CATEGORIES),
            col(Ticket.complainant_id).is_not(None),
            Ticket.anonymity != "anonymous",
            col(Ticket.sealed).is_(False),
        )
        .order_by(col(Ticket.id))
    ).all()
    return [(int(i), str(no), unit) for i, no, unit in rows if i is not None]


def sample_callbacks(
    session: Session,
    *,
    month: Month,
    ratio: float,
    now: datetime,
    seed: int | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> Sample:
    """Draw the month's callback tasks once; a month not over yet raises MonthError."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"callback ratio must be between 0 and 1, got {ratio}")
    if not check_reportable(month, now, tz):
        raise MonthError(f"{month} is not over yet; its closed cases are sampled next month")
    existing = session.exec(
        select(CallbackTask, Ticket.ticket_no)
        .where(CallbackTask.month == str(month), col(CallbackTask.ticket_id) == col(Ticket.id))
        .order_by(col(CallbackTask.ticket_id))
    ).all()
    eligible = eligible_tickets(session, month=month, tz=tz)
    if existing:
        return Sample(
            str(month), existing[0][0].seed, len(eligible), tuple(n for _, n in existing), False
        )
    seed = default_seed(month) if seed is None else seed
    count = math.ceil(ratio * len(eligible)) if ratio > 0 else 0
    chosen = sorted(random.Random(seed).sample(eligible, count))
    for ticket_id, ticket_no, unit_id in chosen:
        body = supervising_unit(session, unit_id=unit_id) if unit_id is not None else None
        task = CallbackTask(
            ticket_id=ticket_id,
            month=str(month),
            seed=seed,
            unit_id=body.id if body is not None else unit_id,
            created_at=now,
        )
        session.add(task)
        session.flush()
        apply_action(
            session,
            ticket_no=ticket_no,
            action=Action.NOTE,
            actor="system",
            now=now,
            data={"callback": "sampled", "task_id": task.id, "month": str(month)},
        )
    log.info("callback sample %s: %d of %d tickets (seed %d)", month, count, len(eligible), seed)
    return Sample(str(month), seed, len(eligible), tuple(c[1] for c in chosen), True)


def _task(session: Session, task_id: int) -> tuple[CallbackTask, Ticket]:
    task = session.get(CallbackTask, task_id)
    ticket = session.get(Ticket, task.ticket_id) if task is not None else None
    if task is None or ticket is None:
        raise ActionRefused("callback.unknown_task", f"no callback task {task_id}")
    return task, ticket


def callback_contact(
    session: Session, *, staff_id: int, task_id: int, now: datetime
) -> tuple[str | None, str | None]:
    """The driver's name and phone for the call; the read is checked and logged."""
    task, ticket = _task(session, task_id)
    person, _ = authorize(
        session,
        staff_id=staff_id,
        ticket_no=ticket.ticket_no,
        action="callback",
        roles=SUPERVISING_ROLES,
    )
    driver = read_identity(
        session,
        complainant_id=ticket.complainant_id or 0,
        actor=f"staff:{person.id}",
        reason=f"manual callback task {task.id}",
        now=now,
        ticket_id=ticket.id,
    )
    return driver.name, driver.phone


def record_callback_result(
    session: Session,
    *,
    staff_id: int,
    task_id: int,
    status: str,
    method: str,
    now: datetime,
    satisfaction: str | None = None,
    solved: bool | None = None,
    note: str = "",
) -> CallbackTask:
    """Record a manual callback: done (with the rating) or unreachable; once per task."""
    task, ticket = _task(session, task_id)
    person, _ = authorize(
        session,
        staff_id=staff_id,
        ticket_no=ticket.ticket_no,
        action="callback",
        roles=SUPERVISING_ROLES,
    )
    if task.status != "open":
        raise ActionRefused("callback.already_done", f"callback task {task_id} is {task.status}")
    if method not in METHODS:
        raise ActionRefused("callback.bad_method", f"callback method {method!r}")
    if status not in RESULTS:
        raise ActionRefused("callback.bad_status", f"callback result {status!r}")
    if status == "done" and satisfaction not in RATINGS:
        raise ActionRefused("callback.bad_rating", f"callback rating {satisfaction!r}")
    cleaned = note.strip()[:MAX_NOTE_CHARS]
    task.status, task.method, task.note = status, method, cleaned
    task.satisfaction = satisfaction if status == "done" else None
    task.solved = solved if status == "done" else None
    task.completed_by, task.completed_at = person.id, now
    session.add(task)
    apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.NOTE,
        actor=f"staff:{person.id}",
        now=now,
        note=cleaned,
        data={
            "callback": status,
            "task_id": task.id,
            "method": method,
            "satisfaction": task.satisfaction,
            "solved": task.solved,
        },
    )
    session.flush()
    log.info("callback task %s on %s: %s by staff %s", task.id, ticket.ticket_no, status, person.id)
    return task


@dataclass(frozen=True)
class CallbackLine:
    """One callback task as the console lists it (no identity)."""

    task_id: int
    ticket_no: str
    month: str
    unit_id: int | None
    status: str
    method: str | None
    satisfaction: str | None


def callback_tasks(
    session: Session,
    *,
    month: Month | None = None,
    unit_ids: set[int] | None = None,
    status: str | None = None,
) -> list[CallbackLine]:
    """Callback tasks, optionally of one month, of some supervising units, of one status."""
    query = select(CallbackTask, Ticket.ticket_no).where(
        col(CallbackTask.ticket_id) == col(Ticket.id)
    )
    if month is not None:
        query = query.where(CallbackTask.month == str(month))
    if unit_ids is not None:
        query = query.where(col(CallbackTask.unit_id).in_(sorted(unit_ids)))
    if status is not None:
        query = query.where(CallbackTask.status == status)
    rows = session.exec(query.order_by(col(CallbackTask.id))).all()
    return [
        CallbackLine(
            task.id or 0,
            ticket_no,
            task.month,
            task.unit_id,
            task.status,
            task.method,
            task.satisfaction,
        )
        for task, ticket_no in rows
    ]
