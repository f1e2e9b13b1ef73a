"""Escalation, hot-spot and supervision-order rows; unique rows make each warning happen once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Ticket
from storage.models_ops import Escalation, HotSpot, SupervisionOrder


def escalation_exists(session: Session, *, ticket_id: int, level: str, deadline: datetime) -> bool:
    """Whether this warning was already raised for this deadline."""
    found = session.exec(
        select(Escalation.id).where(
            Escalation.ticket_id == ticket_id,
            Escalation.level == level,
            Escalation.deadline == deadline,
        )
    ).first()
    return found is not None


def insert_escalation(
    session: Session, *, ticket_id: int, level: str, deadline: datetime, now: datetime
) -> Escalation:
    """Insert the guard row; IntegrityError when another worker got there first."""
    # Call inside session.begin_nested(): on PostgreSQL a concurrent insert of the same key
    # waits for the other transaction and then fails, so exactly one worker proceeds.
    row = Escalation(ticket_id=ticket_id, level=level, deadline=deadline, created_at=now)
    session.add(row)
    session.flush()
    return row


def escalations_of(session: Session, *, ticket_id: int) -> list[Escalation]:
    """A ticket's warnings, oldest first."""
    return list(
        session.exec(
            select(Escalation)
            .where(Escalation.ticket_id == ticket_id)
            .order_by(col(Escalation.created_at), col(Escalation.id))
        ).all()
    )


def active_hot_spot(session: Session, *, kind: str, key: str, since: datetime) -> HotSpot | None:
    """The hot spot of this kind and key still inside the window, if any."""
    return session.exec(
        select(HotSpot)
        .where(HotSpot.kind == kind, HotSpot.key == key, col(HotSpot.last_seen) >= since)
        .order_by(col(HotSpot.last_seen).desc())
    ).first()


def insert_hot_spot(session: Session, *, spot: HotSpot) -> HotSpot:
    """Insert a new hot spot; raises IntegrityError when another worker got there first."""
    session.add(spot)
    session.flush()
    return spot


def add_supervision_order(session: Session, *, order: SupervisionOrder) -> SupervisionOrder:
    """Record a supervision order."""
    session.add(order)
    session.flush()
    return order


def supervision_orders(
    session: Session,
    *,
    level: str | None = None,
    open_only: bool = True,
    include_sealed: bool = False,
) -> list[tuple[SupervisionOrder, Ticket]]:
    """Orders with their tickets, oldest first: with level='listed', the 挂牌督办 ledger."""
    query = select(SupervisionOrder, Ticket).where(
        col(SupervisionOrder.ticket_id) == col(Ticket.id)
    )
    if level is not None:
        query = query.where(SupervisionOrder.level == level)
    if open_only:
        query = query.where(col(SupervisionOrder.resolved_at).is_(None))
    if not include_sealed:
        query = query.where(col(Ticket.sealed).is_(False))
    rows = session.exec(query.order_by(col(SupervisionOrder.created_at), col(SupervisionOrder.id)))
    return [(order, ticket) for order, ticket in rows.all()]
