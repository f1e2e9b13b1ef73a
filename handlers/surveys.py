"""Callback surveys (回访): scheduled when a ticket closes, sent by a job through the outbox.

Never twice, never silently lost: a survey is a row; the job moves it on with a guarded
status change (`storage.surveys.move_survey`, rows locked with SKIP LOCKED on PostgreSQL) in
the same transaction that queues its outbox row under the key `survey:<id>:ask` or
`survey:<id>:remind`. The outbox then sends each row at most once and flags a send whose
outcome a crash left unknown for staff review.

WeChat payloads: within the 48-hour customer-service window the question goes as
`{"replies": [...]}` (choices as numbered lines); later as a template message inviting the
driver to answer, `{"template": {"template_id", "data": {"first", "keyword1" (ticket no),
"keyword2" (closing date), "remark"}}}` — the template configured on the account must have
those fields. Without a configured template such a survey is recorded as unreachable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.catalog import text
from handlers.deadlines import DeadlinePolicy
from handlers.notify import unit_name
from handlers.survey_effects import finalise, is_current, survey_event
from handlers.survey_policy import CHOICE_KEYS, RATINGS, SurveyPolicy
from handlers.workdays import WorkCalendar
from storage.complainants import read_identity
from storage.errors import ConflictError
from storage.lifecycle import IllegalTransition, TicketStatus
from storage.models import Complainant, Conversation, Survey, Ticket
from storage.outbox import enqueue
from storage.surveys import (
    OPEN_STATUSES,
    add_survey,
    due_survey_ids,
    move_survey,
    preload_surveys,
    survey_of_round,
)

log = logging.getLogger(__name__)

BATCH = 100


@cache
def default_calendar() -> WorkCalendar:
    """The package calendar, for callers that have none at hand (the job passes its own)."""
    return WorkCalendar()


def schedule_survey(
    session: Session,
    *,
    ticket: Ticket,
    now: datetime,
    calendar: WorkCalendar | None = None,
    policy: SurveyPolicy | None = None,
) -> Survey | None:
    """Plan the callback of a just-closed ticket; None when there is nobody to ask."""
    policy = policy or SurveyPolicy()
    if ticket.status != TicketStatus.CLOSED or ticket.kind not in policy.kinds:
        return None
    if ticket.complainant_id is None or ticket.id is None:
        return None
    # Channel and erasure only: no identity is read to plan a survey.
    reachable = session.exec(
        select(Complainant.channel).where(
            Complainant.id == ticket.complainant_id, col(Complainant.erased_at).is_(None)
        )
    ).first()
    if reachable is None:
        return None
    round_no = ticket.reopen_count + 1
    existing = survey_of_round(session, ticket_id=ticket.id, round_no=round_no)
    if existing is not None:
        return existing
    due = policy.first_due(now, calendar or default_calendar())
    try:
        with session.begin_nested():
            survey = add_survey(
                session,
                survey=Survey(
                    ticket_id=ticket.id,
                    round=round_no,
                    channel=reachable,
                    due_at=due,
                    created_at=now,
                ),
            )
            survey_event(
                session,
                ticket=ticket,
                survey=survey,
                step="scheduled",
                now=now,
                due=due.isoformat(),
            )
    except IntegrityError:
        return survey_of_round(session, ticket_id=ticket.id, round_no=round_no)
    log.info("survey %s of %s scheduled for %s", survey.id, ticket.ticket_no, due.isoformat())
    return survey


@dataclass
class SurveyRun:
    """What one pass of the survey job did."""

    asked: int = 0
    reminded: int = 0
    expired: int = 0
    finalised: int = 0
    cancelled: int = 0
    unreachable: int = 0
    postponed: int = 0

    @property
    def total(self) -> int:
        """Surveys moved on in this pass."""
        return (
            self.asked
            + self.reminded
            + self.expired
            + self.finalised
            + self.cancelled
            + self.unreachable
        )


def run_survey_job(
    session: Session,
    *,
    now: datetime,
    calendar: WorkCalendar,
    policy: SurveyPolicy,
    deadlines: DeadlinePolicy | None = None,
    limit: int = BATCH,
) -> SurveyRun:
    """One batch: finish stale answers and expire; in daytime on a working day, ask and remind."""
    run = SurveyRun()
    stale = now - policy.comment_grace
    for survey_id in due_survey_ids(
        session, statuses=("answering",), column=Survey.answered_at, now=stale, limit=limit
    ):
        with _savepoint(run, session):
            if finalise(
                session,
                survey_id=survey_id,
                now=now,
                calendar=calendar,
                policy=policy,
                deadlines=deadlines,
            ):
                run.finalised += 1
    for survey_id in due_survey_ids(
        session, statuses=OPEN_STATUSES, column=Survey.expires_at, now=now, limit=limit
    ):
        with _savepoint(run, session):
            if _expire(session, survey_id, now):
                run.expired += 1
    if not policy.may_send(now, calendar):
        return run  # quiet hours or a day off: due surveys wait for the next daytime
    for status in ("scheduled", "sent"):
        due = due_survey_ids(
            session, statuses=(status,), column=Survey.due_at, now=now, limit=limit
        )
        batch = preload_surveys(session, survey_ids=due)  # held: the identity map is weak
        for survey_id in due:
            with _savepoint(run, session):
                outcome = _send(session, survey_id, now, calendar, policy)
                if outcome:
                    setattr(run, outcome, getattr(run, outcome) + 1)
        del batch
    return run


@contextmanager
def _savepoint(run: SurveyRun, session: Session) -> Iterator[None]:
    """One survey's step in a savepoint; a ticket changed meanwhile postpones it."""
    try:
        with session.begin_nested():
            yield
    except (ConflictError, IllegalTransition) as exc:
        # The ticket moved under us (a staff action): the survey row is untouched, next pass.
        run.postponed += 1
        log.info("survey step postponed: %s", type(exc).__name__)


def _expire(session: Session, survey_id: int, now: datetime) -> bool:
    if not move_survey(
        session, survey_id=survey_id, from_statuses=OPEN_STATUSES, values={"status": "no_answer"}
    ):
        return False
    survey = session.get(Survey, survey_id)
    ticket = session.get(Ticket, survey.ticket_id) if survey else None
    if survey is not None and ticket is not None:
        survey_event(session, ticket=ticket, survey=survey, step="no_answer", now=now)
    return True


def _send(
    session: Session, survey_id: int, now: datetime, calendar: WorkCalendar, policy: SurveyPolicy
) -> str | None:
    """Queue the question (scheduled) or the reminder (sent); or cancel a survey gone stale."""
    survey = session.get(Survey, survey_id)  # loaded just now by preload_surveys
    if survey is None:
        return None
    ticket = session.get(Ticket, survey.ticket_id)
    assert ticket is not None
    reminder = survey.status == "sent"
    if not is_current(survey, ticket):
        if move_survey(
            session,
            survey_id=survey_id,
            from_statuses=(survey.status,),
            values={"status": "cancelled"},
        ):
            survey_event(
                session,
                ticket=ticket,
                survey=survey,
                step="cancelled",
                now=now,
                reason="ticket_moved",
            )
            return "cancelled"
        return None
    driver = read_identity(
        session,
        complainant_id=ticket.complainant_id or 0,
        actor="system",
        reason="deliver survey",
        now=now,
        ticket_id=ticket.id,
    )
    if driver.erased_at is not None:
        if move_survey(
            session,
            survey_id=survey_id,
            from_statuses=(survey.status,),
            values={"status": "cancelled"},
        ):
            survey_event(
                session, ticket=ticket, survey=survey, step="cancelled", now=now, reason="erased"
            )
            return "cancelled"
        return None
    payload, via = _payload(session, survey, ticket, driver, now, policy, reminder=reminder)
    if payload is None:
        if move_survey(
            session,
            survey_id=survey_id,
            from_statuses=("scheduled",),
            values={"status": "unreachable"},
        ):
            survey_event(
                session, ticket=ticket, survey=survey, step="unreachable", now=now, via=via
            )
            return "unreachable"
        return None
    if reminder:
        values: dict[str, Any] = {"status": "reminded", "reminded_at": now}
    else:
        values = {
            "status": "sent",
            "sent_at": now,
            "due_at": policy.reminder_due(now, calendar),
            "expires_at": policy.expires(now, calendar),
        }
    if not move_survey(session, survey_id=survey_id, from_statuses=(survey.status,), values=values):
        return None  # another replica took it first
    step = "remind" if reminder else "ask"
    enqueue(
        session,
        channel=driver.channel,
        recipient=driver.channel_user_id,
        payload=payload,
        idempotency_key=f"survey:{survey_id}:{step}",
        now=now,
        purpose="survey",
        ticket_id=ticket.id,
    )
    survey_event(
        session,
        ticket=ticket,
        survey=survey,
        step="reminded" if reminder else "sent",
        now=now,
        via=via,
    )
    return "reminded" if reminder else "asked"


def _payload(
    session: Session,
    survey: Survey,
    ticket: Ticket,
    driver: Complainant,
    now: datetime,
    policy: SurveyPolicy,
    *,
    reminder: bool,
) -> tuple[dict[str, Any] | None, str]:
    """The outbox payload and how it goes ('message' or 'template'); None if it cannot go."""
    lang = driver.language
    values = {"ticket_no": ticket.ticket_no, "unit": unit_name(session, ticket.unit_id)}
    if driver.channel == "wechat" and not _in_wechat_window(session, driver, now, policy):
        if not policy.wechat_template_id:
            return None, "template_missing"
        closed = ticket.closed_at or now
        template = {
            "template_id": policy.wechat_template_id,
            "data": {
                "first": {"value": text("survey.template_first", lang, **values)},
                "keyword1": {"value": ticket.ticket_no},
                "keyword2": {"value": f"{closed.astimezone(default_calendar().tz):%Y-%m-%d}"},
                "remark": {"value": text("survey.template_remark", lang)},
            },
        }
        return {"template": template, "language": lang}, "template"
    key = "survey.reminder" if reminder else "survey.question"
    choices = [
        {"label": text(CHOICE_KEYS[rating], lang), "value": f"survey:{survey.id}:{rating}"}
        for rating in RATINGS
    ]
    replies: list[dict[str, Any]] = [{"text": text(key, lang, **values), "choices": choices}]
    if driver.channel == "wechat":
        replies.append({"text": text("survey.reply_hint", lang), "choices": []})
    return {"replies": replies, "language": lang}, "message"


def _in_wechat_window(
    session: Session, driver: Complainant, now: datetime, policy: SurveyPolicy
) -> bool:
    """Whether the driver wrote to the account recently enough for a customer-service message."""
    # The dispatcher saves the conversation on every inbound message and nothing else does,
    # so its update time is the driver's last message.
    last = session.exec(
        select(Conversation.updated_at).where(
            Conversation.channel == "wechat", Conversation.user_key == driver.channel_user_id
        )
    ).first()
    return last is not None and now - last < policy.wechat_window
