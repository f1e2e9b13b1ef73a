"""Helpers for the survey, callback and KPI tests: drivers, closed tickets, the survey job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ops_support import file_ticket, staff_id
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers import staff_actions as act
from handlers.survey_policy import SurveyPolicy
from handlers.surveys import SurveyRun, run_survey_job
from handlers.workdays import SHANGHAI, WorkCalendar
from storage.engine import transaction
from storage.models import Complainant, OutboxMessage, Survey, Ticket, TicketEvent

HANDLER = "chen.dd2"  # handles service complaints at 西山服务区 (二大队)


def local(*args: int) -> datetime:
    """A Beijing wall-clock time as aware UTC: local(2026, 9, 24, 15, 0)."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


def add_driver(
    engine: Engine,
    *,
    channel: str = "test",
    user: str = "driver-1",
    anonymity: str = "real_name",
    language: str = "zh",
    phone: str | None = "13812345678",
) -> int:
    """A complainant on a channel; the chat fixtures talk as `driver-1` on `test`."""
    with transaction(engine) as session:
        person = Complainant(
            channel=channel,
            channel_user_id=user,
            anonymity=anonymity,
            language=language,
            name=None if anonymity == "anonymous" else "刘师傅",
            phone=None if anonymity == "anonymous" else phone,
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id


def handle_and_close(
    engine: Engine, ticket_no: str, *, at: datetime, calendar: WorkCalendar, who: str = HANDLER
) -> None:
    """Sign (if needed), handle, reply and close a ticket, all at `at`."""
    person = staff_id(engine, who)
    with transaction(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
        if ticket.status in ("received", "reopened"):
            act.sign(session, staff_id=person, ticket_no=ticket_no, now=at)
        act.reply_to_driver(
            session,
            staff_id=person,
            ticket_no=ticket_no,
            message="已核实，多收费用已退还。",
            now=at,
        )
        act.close(session, staff_id=person, ticket_no=ticket_no, now=at, calendar=calendar)


def closed_ticket(
    engine: Engine,
    *,
    filed: datetime,
    closed: datetime,
    calendar: WorkCalendar,
    complainant_id: int | None,
    **fields: Any,
) -> str:
    """A service complaint filed, handled by 二大队 and closed; returns its number."""
    ticket = file_ticket(
        engine, now=filed, calendar=calendar, complainant_id=complainant_id, **fields
    )
    handle_and_close(engine, ticket.ticket_no, at=closed, calendar=calendar)
    return ticket.ticket_no


def run_job(
    engine: Engine, now: datetime, calendar: WorkCalendar, policy: SurveyPolicy | None = None
) -> SurveyRun:
    """One pass of the survey job in its own transaction."""
    with transaction(engine) as session:
        return run_survey_job(session, now=now, calendar=calendar, policy=policy or SurveyPolicy())


def surveys(engine: Engine) -> list[Survey]:
    """Every survey, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(Survey).order_by(col(Survey.id))).all())


def survey_outbox(engine: Engine) -> list[OutboxMessage]:
    """Survey messages queued, oldest first."""
    with Session(engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.purpose == "survey")
        return list(session.exec(query.order_by(col(OutboxMessage.id))).all())


def survey_steps(engine: Engine, ticket_no: str) -> list[str]:
    """The survey steps recorded as events on a ticket, in order."""
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
        events = session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(col(TicketEvent.seq))
        ).all()
    return [str(e.data["survey"]) for e in events if "survey" in e.data]


def actions(engine: Engine, ticket_no: str) -> list[str]:
    """A ticket's event actions, in order."""
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
        rows = session.exec(
            select(TicketEvent.action)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(col(TicketEvent.seq))
        ).all()
    return list(rows)
