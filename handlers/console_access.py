"""Who sees which ticket in the console, and who may read a complainant's identity.

Ticket visibility is the rule of `staff_actions.authorize` as a query: handlers and unit
heads see their unit's tickets (and those being transferred to it), supervisors their
jurisdiction, discipline inspectors sealed tickets only (nobody else sees those), admins
everything; staff of the accused unit never see a ticket about their unit.

Identity (name, phone, own plate, chat id) is never part of a page or a queue; it is read
only through `show_identity`, with a reason, which logs an IdentityRead row and writes an
IDENTITY_READ event on the ticket. Who may ask:

- nobody, for anonymous complainants (there is nothing to show) and for a ticket without
  a complainant;
- never a member of the accused unit (they cannot open the ticket at all);
- sealed tickets (discipline clues): discipline inspectors only, not even administrators —
  a whistle-blower on bribery is known to the inspectors and to nobody else;
- confidential (保密) complainants: supervisors whose jurisdiction covers the ticket;
- real-name complainants: those supervisors and administrators.
Handlers and unit heads never see identity: they reach the driver through the reply
action, which the outbox delivers without showing them who it goes to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, true
from sqlmodel import Session, col

from handlers.staff_actions import PermissionDenied, authorize
from storage.complainants import read_identity
from storage.lifecycle import Action
from storage.models import Complainant, Staff, Ticket
from storage.staffing import Role, jurisdiction
from storage.tickets import apply_action, get_ticket

log = logging.getLogger(__name__)

MIN_REASON_CHARS = 4
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Identity:
    """What the 'show identity' action shows, once, to the one who asked."""

    anonymity: str
    name: str | None
    phone: str | None
    own_plate: str | None
    channel: str


class IdentityRefused(Exception):
    """Identity may not be shown; `reason` is a short word for the page and the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def active_staff(session: Session, staff_id: int) -> Staff | None:
    """The staff member if they exist and are active."""
    person = session.get(Staff, staff_id)
    return person if person is not None and person.active else None


def visibility(session: Session, person: Staff, *, within: Any = None) -> Any:
    """A WHERE condition over tickets: exactly those `person` may open.

    `within` replaces the unit part by a narrower condition the caller guarantees implies it
    (a queue of the person's own units): the same rows, and PostgreSQL's row estimates stay
    right instead of counting the unit condition twice.
    """
    role = person.role
    if role == Role.ADMIN:
        return true() if within is None else within
    # `= true/false`, not `IS`: PostgreSQL plans an equality on the index and statistics.
    conditions: list[Any] = [col(Ticket.sealed) == (true() if role == Role.DISCIPLINE else false())]
    if person.unit_id is not None:
        conditions.append(
            or_(
                col(Ticket.accused_unit_id).is_(None),
                col(Ticket.accused_unit_id) != person.unit_id,
            )
        )
    if role == Role.DISCIPLINE:
        return and_(*conditions) if within is None else and_(*conditions, within)
    if person.unit_id is None:
        return false()
    if within is not None and role in (Role.SUPERVISOR, Role.HANDLER, Role.UNIT_HEAD):
        return and_(*conditions, within)
    if role == Role.SUPERVISOR:
        units = sorted(jurisdiction(session, unit_id=person.unit_id))
        mine = or_(col(Ticket.unit_id).in_(units), col(Ticket.pending_unit_id).in_(units))
    elif role in (Role.HANDLER, Role.UNIT_HEAD):
        mine = or_(
            col(Ticket.unit_id) == person.unit_id, col(Ticket.pending_unit_id) == person.unit_id
        )
    else:
        return false()
    return and_(*conditions, mine)


def _pending_view(session: Session, person: Staff, ticket: Ticket) -> bool:
    """Whether `person` reaches the ticket through the unit a transfer waits on."""
    if ticket.pending_unit_id is None or person.unit_id is None:
        return False
    if person.role == Role.SUPERVISOR:
        units = jurisdiction(session, unit_id=person.unit_id)
        return ticket.unit_id not in units and ticket.pending_unit_id in units
    return ticket.unit_id != person.unit_id and ticket.pending_unit_id == person.unit_id


def view_ticket(session: Session, *, staff_id: int, ticket_no: str) -> tuple[Staff, Ticket]:
    """The staff member and a ticket they may open; else PermissionDenied or TicketNotFound."""
    ticket = get_ticket(session, ticket_no=ticket_no)
    person = session.get(Staff, staff_id)
    pending = person is not None and _pending_view(session, person, ticket)
    return authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="view", pending=pending
    )


def identity_refusal(session: Session, person: Staff, ticket: Ticket) -> str | None:
    """Why `person` may not see the complainant's identity on this ticket, or None."""
    if ticket.complainant_id is None:
        return "no_complainant"
    complainant = session.get(Complainant, ticket.complainant_id)
    anonymity = {ticket.anonymity, complainant.anonymity if complainant else "anonymous"}
    if "anonymous" in anonymity:
        return "anonymous"
    if person.unit_id is not None and person.unit_id == ticket.accused_unit_id:
        return "accused_unit"
    if ticket.sealed:
        return None if person.role == Role.DISCIPLINE else "sealed"
    if person.role == Role.SUPERVISOR:
        return None  # view_ticket already checked the jurisdiction
    if person.role == Role.ADMIN and "confidential" not in anonymity:
        return None
    return "role"


def show_identity(
    session: Session, *, staff_id: int, ticket_no: str, reason: str, now: datetime
) -> Identity:
    """Read the complainant's identity for a stated reason; logged and written to the trail."""
    person, ticket = view_ticket(session, staff_id=staff_id, ticket_no=ticket_no)
    why = " ".join(reason.split())[:MAX_REASON_CHARS]
    refusal = identity_refusal(session, person, ticket)
    if refusal is not None:
        log.warning("identity of %s refused to staff %s: %s", ticket_no, person.id, refusal)
        raise IdentityRefused(refusal)
    if len(why) < MIN_REASON_CHARS:
        raise IdentityRefused("reason")
    assert ticket.complainant_id is not None and ticket.id is not None
    actor = f"staff:{person.id}"
    driver = read_identity(
        session,
        complainant_id=ticket.complainant_id,
        actor=actor,
        reason=why,
        now=now,
        ticket_id=ticket.id,
    )
    apply_action(
        session,
        ticket_no=ticket_no,
        action=Action.IDENTITY_READ,
        actor=actor,
        now=now,
        note=why,
        data={"via": "console"},
    )
    log.info("identity of %s shown to staff %s", ticket_no, person.id)
    return Identity(
        anonymity=driver.anonymity,
        name=driver.name,
        phone=driver.phone,
        own_plate=driver.own_plate,
        channel=driver.channel,
    )


def can_request_identity(session: Session, person: Staff, ticket: Ticket) -> bool:
    """Whether the page offers the 'show identity' action at all."""
    return identity_refusal(session, person, ticket) is None


__all__ = [
    "Identity",
    "IdentityRefused",
    "PermissionDenied",
    "active_staff",
    "can_request_identity",
    "identity_refusal",
    "show_identity",
    "view_ticket",
    "visibility",
]
