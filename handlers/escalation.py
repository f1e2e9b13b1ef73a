"""SLA sweep and escalation (DOMAIN.md §6), new-ticket notices and supervision orders (督办).

Warnings rise with time: a yellow card at `yellow_at` to the assignee (or the unit's
handlers), a red card at `due_at` to the unit's heads, and at `escalate_at` (5 working days
overdue) a report to the supervisors of the unit's supervising body; an urgent ticket alerts
the duty supervisor at once. Sealed tickets only ever reach discipline inspectors.

Exactly once, also with several replicas: every warning first inserts its `Escalation` row
(unique per ticket, level and deadline) inside a savepoint; the loser of a race gets an
IntegrityError, rolls back its savepoint and moves on, so it records and sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.catalog import text
from handlers.notify import (
    Notice,
    assignee_or_handlers,
    quiet_until,
    send_notice,
    sign_choice,
    status_notice,
    superiors_of,
    ticket_notice,
    unit_staff,
)
from handlers.routing import RoutingDecision, record_decision
from handlers.staff_actions import SUPERVISING_ROLES, ActionRefused, authorize
from handlers.workdays import WorkCalendar
from storage.errors import ConflictError
from storage.escalations import add_supervision_order, insert_escalation, supervision_orders
from storage.lifecycle import Action, IllegalTransition, SupervisionLevel, TicketStatus
from storage.models import Staff, Ticket
from storage.models_ops import Escalation, SupervisionOrder
from storage.staffing import (
    discipline_inspectors,
    duty_supervisors,
)
from storage.tickets import apply_action

log = logging.getLogger(__name__)

S = TicketStatus
# A replied ticket has met its deadline; it waits for closing, not for a warning.
SLA_STATES = tuple(
    s.value for s in (S.RECEIVED, S.VERIFYING, S.HANDLING, S.TRANSFERRING, S.REOPENED)
)
LEVEL_RANK = {level.value: rank for rank, level in enumerate(SupervisionLevel)}
ORDER_LEVELS = (SupervisionLevel.YELLOW, SupervisionLevel.RED, SupervisionLevel.LISTED)
BATCH = 200


@dataclass
class SweepReport:
    """What one sweep raised; `lost` counts warnings another worker raised first."""

    yellow: int = 0
    red: int = 0
    superior: int = 0
    urgent_alert: int = 0
    lost: int = 0
    notices: int = 0
    tickets: list[str] = field(default_factory=list)


Recipients = Callable[[Session, Ticket], list[Staff]]
LEVELS: dict[str, tuple[Recipients, str]] = {
    "yellow": (assignee_or_handlers, "notice.yellow"),
    "red": (lambda s, t: unit_staff(s, t, handlers_first=False), "notice.red"),
    "superior": (superiors_of, "notice.superior"),
    "urgent_alert": (lambda s, t: duty_supervisors(s), "notice.urgent"),
}


def raise_once(
    session: Session,
    *,
    ticket: Ticket,
    level: str,
    deadline: datetime,
    now: datetime,
    calendar: WorkCalendar,
) -> int | None:
    """Record the warning, its ESCALATE event and its notices, once; None if already raised."""
    find_recipients, key = LEVELS[level]
    changes: dict[str, Any] = {}
    if level in ("red", "superior") and LEVEL_RANK.get(ticket.supervision_level, 0) < 2:
        changes["supervision_level"] = SupervisionLevel.RED.value
    try:
        with session.begin_nested():
            row = insert_escalation(
                session, ticket_id=ticket.id or 0, level=level, deadline=deadline, now=now
            )
            ticket = apply_action(
                session,
                ticket_no=ticket.ticket_no,
                action=Action.ESCALATE,
                actor="system",
                now=now,
                data={"level": level, "deadline": deadline.isoformat()},
                changes=changes or None,
            )
            recipients = (
                discipline_inspectors(session)
                if ticket.sealed
                else find_recipients(session, ticket)
            )
            if level == "urgent_alert":
                body = ticket_notice(session, key=key, ticket=ticket, now=now, calendar=calendar)
            else:
                # Whole working days overdue: today counts once it is over.
                today = 1 if calendar.is_workday(calendar.local_date(now)) else 0
                overdue = max(calendar.workdays_between(deadline, now) - today, 0)
                body = status_notice(
                    session, key=key, ticket=ticket, calendar=calendar, days=overdue
                )
            queued = send_notice(
                session,
                notice=Notice(level, body),
                recipients=recipients,
                occasion=f"{ticket.ticket_no}:{level}:{deadline:%Y%m%d%H%M}",
                ticket_id=ticket.id,
                now=now,
                not_before=None if level == "urgent_alert" else quiet_until(now, calendar),
            )
            row.recipients = len(recipients)
            session.flush()
    except IntegrityError:
        return None  # another worker raised this warning first
    except (ConflictError, IllegalTransition) as exc:
        # The ticket moved under us (signed, replied, closed): the next sweep looks again.
        log.info("escalation %s of %s postponed: %s", level, ticket.ticket_no, type(exc).__name__)
        return None
    log.info("escalation %s raised on %s (%d recipients)", level, ticket.ticket_no, len(recipients))
    return queued


def _due(session: Session, *, level: str, deadline: Any, condition: Any) -> list[Ticket]:
    raised = exists().where(
        and_(
            col(Escalation.ticket_id) == col(Ticket.id),
            col(Escalation.level) == level,
            col(Escalation.deadline) == deadline,
        )
    )
    query = (
        select(Ticket)
        .where(col(Ticket.status).in_(SLA_STATES), condition, ~raised)
        .order_by(col(Ticket.id))
        .limit(BATCH)
    )
    return list(session.exec(query).all())


def sweep(session: Session, *, now: datetime, calendar: WorkCalendar) -> SweepReport:
    """Raise every warning that is due now and not yet raised; safe to run anywhere, often."""
    report = SweepReport()
    plans: list[tuple[str, Any, Any]] = [
        ("urgent_alert", Ticket.created_at, col(Ticket.severity) == "urgent"),
        ("yellow", Ticket.due_at, and_(col(Ticket.yellow_at) <= now, col(Ticket.due_at) > now)),
        ("red", Ticket.due_at, col(Ticket.due_at) <= now),
        ("superior", Ticket.due_at, col(Ticket.escalate_at) <= now),
    ]
    for level, deadline_column, condition in plans:
        for ticket in _due(
            session, level=level, deadline=col(deadline_column), condition=condition
        ):
            deadline = ticket.created_at if level == "urgent_alert" else ticket.due_at
            assert deadline is not None
            queued = raise_once(
                session, ticket=ticket, level=level, deadline=deadline, now=now, calendar=calendar
            )
            if queued is None:
                report.lost += 1
                continue
            setattr(report, level, getattr(report, level) + 1)
            report.notices += queued
            report.tickets.append(ticket.ticket_no)
    return report


def announce_new_ticket(
    session: Session,
    *,
    ticket: Ticket,
    decision: RoutingDecision,
    now: datetime,
    calendar: WorkCalendar,
) -> int:
    """Record the routing, tell the handling unit (facts and place only), alert if urgent."""
    ticket = record_decision(session, ticket=ticket, decision=decision, now=now)
    if ticket.sealed:
        recipients, key = discipline_inspectors(session), "notice.new_sealed"
    else:
        recipients, key = unit_staff(session, ticket, handlers_first=True), "notice.new_ticket"
    urgent = ticket.severity == "urgent"
    queued = send_notice(
        session,
        notice=Notice(
            "new",
            ticket_notice(session, key=key, ticket=ticket, now=now, calendar=calendar),
            sign_choice(ticket.ticket_no),
        ),
        recipients=recipients,
        occasion=f"{ticket.ticket_no}:new",
        ticket_id=ticket.id,
        now=now,
        not_before=None if urgent else quiet_until(now, calendar),
    )
    if urgent:
        queued += (
            raise_once(
                session,
                ticket=ticket,
                level="urgent_alert",
                deadline=ticket.created_at,
                now=now,
                calendar=calendar,
            )
            or 0
        )
    return queued


def _refuse(key: str, message: str) -> ActionRefused:
    log.warning("refused: %s", message)
    return ActionRefused(key, message)


def issue_supervision_order(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    level: str,
    note: str,
    deadline: datetime,
    now: datetime,
    calendar: WorkCalendar,
) -> SupervisionOrder:
    """督办: a supervisor's order with a note and a deadline; `listed` enters the ledger."""
    person, ticket = authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="supervise", roles=SUPERVISING_ROLES
    )
    if level not in {lv.value for lv in ORDER_LEVELS}:
        raise _refuse("staff.bad_level", f"unknown supervision level {level!r}")
    if not note.strip():
        raise _refuse("staff.reason_required", f"supervise {ticket_no}: a note is required")
    if deadline <= now:
        raise _refuse("staff.bad_deadline", f"supervise {ticket_no}: deadline in the past")
    raise_level = LEVEL_RANK[level] > LEVEL_RANK.get(ticket.supervision_level, 0)
    ticket = apply_action(
        session,
        ticket_no=ticket_no,
        action=Action.SUPERVISE,
        actor=f"staff:{person.id}",
        now=now,
        note=note.strip(),
        data={"level": level, "deadline": deadline.isoformat()},
        changes={"supervision_level": level} if raise_level else None,
    )
    order = add_supervision_order(
        session,
        order=SupervisionOrder(
            ticket_id=ticket.id or 0,
            level=level,
            note=note.strip(),
            deadline=deadline,
            issued_by=person.id,
            created_at=now,
        ),
    )
    if ticket.sealed:
        recipients = discipline_inspectors(session)
    else:
        recipients = unit_staff(session, ticket, handlers_first=False)
        recipients += assignee_or_handlers(session, ticket)
    body = status_notice(
        session,
        key="notice.supervision_order",
        ticket=ticket,
        calendar=calendar,
        level=text(f"notice.level_{level}"),
        note=note.strip(),
        deadline=f"{deadline.astimezone(calendar.tz):%Y-%m-%d %H:%M}",
    )
    send_notice(
        session,
        notice=Notice("supervise", body),
        recipients=recipients,
        occasion=f"{ticket_no}:order:{order.id}",
        ticket_id=ticket.id,
        now=now,
    )
    log.info("supervision order %s on %s by staff %s", level, ticket_no, person.id)
    return order


def resolve_supervision_order(
    session: Session, *, staff_id: int, order_id: int, note: str, now: datetime
) -> SupervisionOrder:
    """Take an order off the ledger once the matter is settled."""
    order = session.get(SupervisionOrder, order_id)
    if order is None:
        raise _refuse("staff.unknown_order", f"no supervision order {order_id}")
    ticket = session.get(Ticket, order.ticket_id)
    assert ticket is not None
    person, _ = authorize(
        session,
        staff_id=staff_id,
        ticket_no=ticket.ticket_no,
        action="resolve",
        roles=SUPERVISING_ROLES,
    )
    if order.resolved_at is not None:
        raise _refuse("staff.order_resolved", f"order {order_id} is already resolved")
    order.resolved_at, order.resolved_by, order.resolution = now, person.id, note.strip()
    session.add(order)
    apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.NOTE,
        actor=f"staff:{person.id}",
        now=now,
        note=note.strip(),
        data={"resolved_order": order_id},
    )
    return order


@dataclass(frozen=True)
class LedgerLine:
    """One line of the supervision ledger (挂牌督办台账)."""

    order_id: int
    ticket_no: str
    unit_id: int | None
    level: str
    note: str
    deadline: datetime | None
    issued_at: datetime
    ticket_status: str
    overdue: bool


def supervision_ledger(
    session: Session,
    *,
    now: datetime,
    level: str | None = "listed",
    open_only: bool = True,
    include_sealed: bool = False,
) -> list[LedgerLine]:
    """Open supervision orders (by default the listed ones), oldest first; no identity."""
    return [
        LedgerLine(
            order_id=order.id or 0,
            ticket_no=ticket.ticket_no,
            unit_id=ticket.unit_id,
            level=order.level,
            note=order.note,
            deadline=order.deadline,
            issued_at=order.created_at,
            ticket_status=ticket.status,
            overdue=order.deadline is not None and order.deadline < now,
        )
        for order, ticket in supervision_orders(
            session, level=level, open_only=open_only, include_sealed=include_sealed
        )
    ]
