"""Callback surveys (回访): rows claimed by a guarded status change, like the outbox.

Statuses: scheduled → sent → reminded → answering → answered; sent/reminded → no_answer when
the answer window ends; scheduled → cancelled (the ticket moved on) or unreachable (no way to
reach the driver). `due_at` is when the next message is due: the question while scheduled,
the reminder once sent.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Complainant, Survey, Ticket

OPEN_STATUSES = ("sent", "reminded")
FINAL_STATUSES = ("answered", "no_answer", "cancelled", "unreachable")


def add_survey(session: Session, *, survey: Survey) -> Survey:
    """Insert a survey; IntegrityError when the ticket already has one for this round."""
    session.add(survey)
    session.flush()
    return survey


def survey_of_round(session: Session, *, ticket_id: int, round_no: int) -> Survey | None:
    """The survey of a ticket's closing round, if scheduled."""
    return session.exec(
        select(Survey).where(Survey.ticket_id == ticket_id, Survey.round == round_no)
    ).first()


def surveys_of_ticket(session: Session, *, ticket_id: int) -> list[Survey]:
    """A ticket's surveys, first round first."""
    return list(
        session.exec(
            select(Survey).where(Survey.ticket_id == ticket_id).order_by(col(Survey.round))
        ).all()
    )


def due_survey_ids(
    session: Session, *, statuses: Collection[str], column: Any, now: datetime, limit: int
) -> list[int]:
    """Ids of surveys in `statuses` whose `column` time has come, oldest first."""
    query = (
        select(Survey.id)
        .where(col(Survey.status).in_(list(statuses)), col(column) <= now)
        .order_by(col(column), col(Survey.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Replicas take disjoint batches instead of queueing behind each other's locks.
        query = query.with_for_update(skip_locked=True)
    return [row for row in session.exec(query).all() if row is not None]


def move_survey(
    session: Session, *, survey_id: int, from_statuses: Collection[str], values: dict[str, Any]
) -> bool:
    """Change a survey only if it is still in one of `from_statuses`; False if it moved on."""
    result = session.execute(
        update(Survey)
        .where(col(Survey.id) == survey_id, col(Survey.status).in_(list(from_statuses)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def load_survey(session: Session, *, survey_id: int) -> Survey | None:
    """A survey as stored now (not a cached copy)."""
    return session.exec(
        select(Survey).where(col(Survey.id) == survey_id).execution_options(populate_existing=True)
    ).first()


def preload_surveys(session: Session, *, survey_ids: list[int]) -> list[object]:
    """Load surveys with their tickets and complainants in one go; keep the list while working."""
    # The session's identity map holds objects weakly: the caller keeps the returned list
    # alive through the batch, so `session.get` finds them without another query.
    if not survey_ids:
        return []
    rows = session.exec(
        select(Survey, Ticket)
        .where(col(Survey.id).in_(survey_ids), col(Survey.ticket_id) == col(Ticket.id))
        .execution_options(populate_existing=True)
    ).all()
    loaded: list[object] = [item for row in rows for item in row]
    people = {t.complainant_id for _, t in rows if t.complainant_id is not None}
    if people:
        # Identity rows enter the session only; `read_identity` still logs each use.
        query = select(Complainant).where(col(Complainant.id).in_(sorted(people)))
        loaded.extend(session.exec(query).all())
    return loaded


def recent_surveys_of(
    session: Session, *, complainant_id: int, since: datetime
) -> list[tuple[Survey, Ticket]]:
    """A complainant's surveys sent since `since` (or still open), newest first."""
    rows = session.exec(
        select(Survey, Ticket)
        .where(
            col(Survey.ticket_id) == col(Ticket.id),
            Ticket.complainant_id == complainant_id,
            col(Survey.sent_at).is_not(None),
            (col(Survey.sent_at) >= since) | col(Survey.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Survey.sent_at).desc(), col(Survey.id).desc())
        .limit(20)
    ).all()
    return [(survey, ticket) for survey, ticket in rows]
