"""What a callback answer sets in motion: every step an event, 不满意 → 重办 once, then 督办.

A rated survey is finalised once (a guarded status change): when the driver finishes the
follow-up questions, or when the survey job finds them left unanswered. Only then do the
effects run, so the unit and supervisors get the driver's comment with the notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.catalog import text
from handlers.deadlines import DeadlinePolicy, compute_deadlines
from handlers.notify import (
    Notice,
    assignee_or_handlers,
    category_label,
    local_date,
    quiet_until,
    scrubbed_text,
    send_notice,
    superiors_of,
    unit_name,
    unit_staff,
)
from handlers.survey_policy import RATING_KEYS, UNSATISFIED, SurveyPolicy
from handlers.workdays import WorkCalendar
from storage.escalations import add_supervision_order
from storage.lifecycle import Action, SupervisionLevel, TicketStatus
from storage.models import Staff, Survey, Ticket
from storage.models_ops import SupervisionOrder
from storage.staffing import discipline_inspectors
from storage.surveys import load_survey, move_survey
from storage.tickets import apply_action

log = logging.getLogger(__name__)

LEVEL_RANK = {level.value: rank for rank, level in enumerate(SupervisionLevel)}


@dataclass(frozen=True)
class Outcome:
    """How a finished survey ended: 'thanks', 'reopened', 'supervised' or 'stale'."""

    kind: str
    ticket_no: str


def is_current(survey: Survey, ticket: Ticket) -> bool:
    """Whether the survey is about the ticket as it stands: closed, and this closing round."""
    return ticket.status == TicketStatus.CLOSED and survey.round == ticket.reopen_count + 1


def survey_event(
    session: Session,
    *,
    ticket: Ticket,
    survey: Survey,
    step: str,
    now: datetime,
    actor: str = "system",
    **data: Any,
) -> Ticket:
    """One audit event for one survey step (a NOTE: it leaves the ticket's status alone)."""
    return apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.NOTE,
        actor=actor,
        now=now,
        data={"survey": step, "survey_id": survey.id, "round": survey.round, **data},
    )


def finalise(
    session: Session,
    *,
    survey_id: int,
    now: datetime,
    calendar: WorkCalendar,
    policy: SurveyPolicy,
    deadlines: DeadlinePolicy | None = None,
) -> Outcome | None:
    """Record a rated survey as answered and run its effects, once; None if already done."""
    survey = load_survey(session, survey_id=survey_id)
    if survey is None or survey.status != "answering":
        return None
    if not move_survey(
        session, survey_id=survey_id, from_statuses=("answering",), values={"status": "answered"}
    ):
        return None  # another worker finalised it first
    ticket = session.get(Ticket, survey.ticket_id)
    assert ticket is not None
    current = is_current(survey, ticket)
    ticket = survey_event(
        session,
        ticket=ticket,
        survey=survey,
        step="answered",
        now=now,
        actor="driver",
        satisfaction=survey.satisfaction,
        solved=survey.solved,
        has_comment=bool(survey.comment),
    )
    log.info("survey %s of %s answered: %s", survey.id, ticket.ticket_no, survey.satisfaction)
    if survey.satisfaction != UNSATISFIED or not current:
        return Outcome("thanks" if current else "stale", ticket.ticket_no)
    if ticket.reopen_count < policy.reopen_limit:
        reopen(
            session, survey=survey, ticket=ticket, now=now, calendar=calendar, deadlines=deadlines
        )
        return Outcome("reopened", ticket.ticket_no)
    supervise(session, survey=survey, ticket=ticket, now=now, calendar=calendar, policy=policy)
    return Outcome("supervised", ticket.ticket_no)


def _details(session: Session, survey: Survey, ticket: Ticket, now: datetime) -> dict[str, str]:
    """The answer as staff may read it: rating, solved, and the comment without identity."""
    (comment,) = scrubbed_text(session, ticket=ticket, values=(survey.comment,), now=now)
    solved = {True: "survey.solved_yes", False: "survey.solved_no", None: "survey.solved_unknown"}
    return {
        "ticket_no": ticket.ticket_no,
        "category": category_label(ticket),
        "unit": unit_name(session, ticket.unit_id),
        "rating": text(RATING_KEYS.get(survey.satisfaction or "", "survey.solved_unknown")),
        "solved": text(solved[survey.solved]),
        "comment": comment.strip() or text("survey.comment_none"),
    }


def _recipients(session: Session, ticket: Ticket) -> list[Staff]:
    """The unit's heads and assignee, the supervisors over it; discipline for sealed clues."""
    if ticket.sealed:
        return discipline_inspectors(session)
    people = unit_staff(session, ticket, handlers_first=False)
    people += assignee_or_handlers(session, ticket)
    return people + superiors_of(session, ticket)


def reopen(
    session: Session,
    *,
    survey: Survey,
    ticket: Ticket,
    now: datetime,
    calendar: WorkCalendar,
    deadlines: DeadlinePolicy | None = None,
) -> Ticket:
    """重办: reopen with a fresh time limit; the unit and its supervisors get the comment."""
    fresh = compute_deadlines(
        received_at=now,
        kind=ticket.kind,
        severity=ticket.severity,
        calendar=calendar,
        policy=deadlines or DeadlinePolicy(),
    )
    ticket = apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.REOPEN,
        actor="driver",
        now=now,
        note=text("survey.reopen_note"),
        data={"survey_id": survey.id, "round": survey.round},
        changes={
            "due_at": fresh.due_at,
            "yellow_at": fresh.yellow_at,
            "escalate_at": fresh.escalate_at,
            "extended": False,
        },
    )
    body = text(
        "survey.notice_reopened",
        due=local_date(ticket.due_at, calendar),
        **_details(session, survey, ticket, now),
    )
    send_notice(
        session,
        notice=Notice("rework", body),
        recipients=_recipients(session, ticket),
        occasion=f"{ticket.ticket_no}:survey:{survey.id}:reopen",
        ticket_id=ticket.id,
        now=now,
        not_before=quiet_until(now, calendar),
    )
    log.info("ticket %s reopened after an unsatisfied callback", ticket.ticket_no)
    return ticket


def supervise(
    session: Session,
    *,
    survey: Survey,
    ticket: Ticket,
    now: datetime,
    calendar: WorkCalendar,
    policy: SurveyPolicy,
) -> SupervisionOrder:
    """Unsatisfied again after rework: a supervision order issued by the system, and notices."""
    level = policy.unsatisfied_again_level
    deadline = calendar.add_workdays(now, policy.order_workdays)
    note = text("survey.order_note", ticket_no=ticket.ticket_no)
    order = add_supervision_order(
        session,
        order=SupervisionOrder(
            ticket_id=ticket.id or 0, level=level, note=note, deadline=deadline, created_at=now
        ),
    )
    # The ticket stays closed (SUPERVISE needs an open ticket): the order is recorded as a
    # NOTE carrying the order, and the ticket's supervision level rises with it.
    raise_level = LEVEL_RANK[level] > LEVEL_RANK.get(ticket.supervision_level, 0)
    ticket = apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.NOTE,
        actor="system",
        now=now,
        note=note,
        data={"survey_id": survey.id, "supervision_order": order.id, "level": level},
        changes={"supervision_level": level} if raise_level else None,
    )
    body = text(
        "survey.notice_supervise",
        level=text(
            {"yellow": "notice.level_yellow", "red": "notice.level_red"}.get(
                level, "notice.level_listed"
            )
        ),
        deadline=f"{deadline.astimezone(calendar.tz):%Y-%m-%d}",
        **_details(session, survey, ticket, now),
    )
    send_notice(
        session,
        notice=Notice("supervise", body),
        recipients=_recipients(session, ticket),
        occasion=f"{ticket.ticket_no}:survey:{survey.id}:order",
        ticket_id=ticket.id,
        now=now,
        not_before=quiet_until(now, calendar),
    )
    log.info(
        "supervision order %s on %s after a second unsatisfied callback", level, ticket.ticket_no
    )
    return order
