"""Helpers for the routing, escalation and staff tests: the sample city, tickets, outbox rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers.deadlines import DeadlinePolicy, compute_deadlines
from handlers.escalation import announce_new_ticket
from handlers.routing import route_draft
from handlers.staff_config import apply_config, load_config
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.models import OutboxMessage, Staff, Ticket, Unit
from storage.tickets import TicketDraft, create_ticket

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "city.sample.toml"


def load_city(engine: Engine, now: datetime) -> None:
    """Import docs/city.sample.toml."""
    config = load_config(SAMPLE)
    with transaction(engine) as session:
        apply_config(session, config=config, now=now)


def staff_id(engine: Engine, username: str) -> int:
    """The id of a staff member of the sample city."""
    with Session(engine) as session:
        person = session.exec(select(Staff).where(Staff.username == username)).one()
        assert person.id is not None
        return person.id


def unit_id(engine: Engine, code: str) -> int:
    """The id of a unit of the sample city."""
    with Session(engine) as session:
        unit = session.exec(select(Unit).where(Unit.code == code)).one()
        assert unit.id is not None
        return unit.id


def file_ticket(
    engine: Engine,
    *,
    now: datetime,
    calendar: WorkCalendar,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> Ticket:
    """Create, route and announce a ticket the way intake does (one transaction)."""
    values: dict[str, Any] = {
        "kind": "complaint",
        "category": "service",
        "severity": "normal",
        "channel": "telegram",
        "description": "西山服务区加油站多收费",
        "place_text": "西山服务区",
    }
    values.update(fields)
    deadlines = compute_deadlines(
        received_at=now,
        kind=values["kind"],
        severity=values["severity"],
        calendar=calendar,
        policy=DeadlinePolicy(),
    )
    draft = TicketDraft(
        **values,
        ack_due_at=deadlines.ack_due_at,
        due_at=deadlines.due_at,
        yellow_at=deadlines.yellow_at,
        escalate_at=deadlines.escalate_at,
    )
    with transaction(engine) as session:
        draft, decision = route_draft(session, draft=draft, data=data or {})
        ticket = create_ticket(session, draft=draft, actor="driver", now=now)
        announce_new_ticket(session, ticket=ticket, decision=decision, now=now, calendar=calendar)
        session.refresh(ticket)
        return ticket


def staff_outbox(engine: Engine, *, ticket_no: str | None = None) -> list[OutboxMessage]:
    """Notices queued for staff, oldest first, optionally of one ticket."""
    with Session(engine) as session:
        query = select(OutboxMessage).where(OutboxMessage.purpose == "staff_notice")
        if ticket_no is not None:
            ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
            query = query.where(OutboxMessage.ticket_id == ticket.id)
        return list(session.exec(query.order_by(col(OutboxMessage.id))).all())


def recipients(engine: Engine, rows: list[OutboxMessage]) -> set[str]:
    """The usernames the rows go to."""
    with Session(engine) as session:
        people = session.exec(select(Staff)).all()
    by_account = {p.telegram_chat_id: p.username for p in people if p.telegram_chat_id}
    by_account |= {p.wechat_openid: p.username for p in people if p.wechat_openid}
    return {by_account[row.recipient] for row in rows}


def load_ticket(engine: Engine, ticket_no: str) -> Ticket:
    """The ticket as stored now."""
    with Session(engine) as session:
        return session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()


def snapshot(engine: Engine, ticket_no: str) -> tuple[object, ...]:
    """What must not move when an action is refused: the ticket row, its events, the outbox."""
    from sqlalchemy import func

    from storage.models import TicketEvent

    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
        events = session.exec(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        ).one()
        outbox = session.exec(select(func.count()).select_from(OutboxMessage)).one()
        return (ticket.model_dump_json(), events, outbox)
