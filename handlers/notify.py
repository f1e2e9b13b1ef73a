"""Notices to staff: facts and place only, queued in the outbox (DOMAIN.md §9).

A unit never learns who complained: free text is masked (phones, plates, ID numbers) and
scrubbed of the complainant's own name, phone, plate and chat id before it is queued, and
nothing else about the complainant is ever put in a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from handlers.catalog import text
from handlers.messages import Choice
from handlers.workdays import WorkCalendar
from nlp.entities import mask_identifiers
from storage.complainants import read_identity
from storage.models import Staff, Ticket, Unit
from storage.outbox import enqueue
from storage.staffing import (
    Role,
    handlers_of,
    staff_with_role,
    supervisors_over,
    unit_heads_of,
)

log = logging.getLogger(__name__)

QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
MAX_FREE_TEXT = 500
SCRUBBED = "***"


@dataclass(frozen=True)
class Notice:
    """One message for staff: catalog text plus optional reply buttons."""

    kind: str  # new, yellow, red, superior, urgent, supervise, transfer, hot_spot, ...
    text: str
    choices: tuple[Choice, ...] = ()


def addresses(person: Staff) -> list[tuple[str, str]]:
    """The chat accounts a staff member is bound to, as (channel, recipient)."""
    found: list[tuple[str, str]] = []
    if person.telegram_chat_id:
        found.append(("telegram", person.telegram_chat_id))
    if person.wechat_openid:
        found.append(("wechat", person.wechat_openid))
    return found


def quiet_until(now: datetime, calendar: WorkCalendar) -> datetime | None:
    """08:00 local when `now` is in quiet hours (21:00-08:00), else None (send now)."""
    local = now.astimezone(calendar.tz)
    clock = local.time().replace(tzinfo=None)
    if QUIET_UNTIL <= clock < QUIET_FROM:
        return None
    day = local.date() + timedelta(days=1) if clock >= QUIET_FROM else local.date()
    return calendar.at_local(day, QUIET_UNTIL)


def send_notice(
    session: Session,
    *,
    notice: Notice,
    recipients: Sequence[Staff],
    occasion: str,
    ticket_id: int | None,
    now: datetime,
    not_before: datetime | None = None,
) -> int:
    """Queue `notice` for every bound account of every recipient; returns rows queued."""
    # `occasion` names it (e.g. 'TS…-0001:new'); the outbox key adds staff and channel, so
    # repeating a call queues nothing twice.
    queued = 0
    seen: set[int] = set()
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is not None and ticket.accused_unit_id is not None:
        # Whatever list a caller built, nobody of the accused unit hears of the case (§9).
        recipients = [p for p in recipients if p.unit_id != ticket.accused_unit_id]
        if not recipients:
            recipients = [
                p
                for p in staff_with_role(session, roles=[Role.ADMIN])
                if p.unit_id != ticket.accused_unit_id
            ]
    payload = {
        "replies": [
            {
                "text": notice.text,
                "choices": [{"label": c.label, "value": c.value} for c in notice.choices],
            }
        ],
        "language": "zh",
    }
    for person in recipients:
        if person.id is None or person.id in seen:
            continue
        seen.add(person.id)
        for channel, recipient in addresses(person):
            enqueue(
                session,
                channel=channel,
                recipient=recipient,
                payload=payload,
                idempotency_key=f"notice:{occasion}:{person.id}:{channel}",
                now=now,
                purpose="staff_notice",
                ticket_id=ticket_id,
                not_before=not_before,
            )
            queued += 1
    if not queued:
        log.warning("notice %s reached nobody: no bound staff among %d", occasion, len(recipients))
    return queued


def scrubbed_text(
    session: Session, *, ticket: Ticket, values: Iterable[str | None], now: datetime
) -> list[str]:
    """Free-text fields made safe for a unit: masked, and the complainant's identity removed."""
    hidden: list[str] = []
    if ticket.complainant_id is not None:
        person = read_identity(
            session,
            complainant_id=ticket.complainant_id,
            actor="system",
            reason="redact identity from a unit notice",
            now=now,
            ticket_id=ticket.id,
        )
        for value in (person.name, person.phone, person.own_plate, person.channel_user_id):
            if value and len(value.strip()) >= 2:
                hidden.append(value.strip())
                hidden.append(value.strip().replace("·", ""))
    out: list[str] = []
    for value in values:
        cleaned = mask_identifiers((value or "")[:MAX_FREE_TEXT])
        for secret in sorted(set(hidden), key=len, reverse=True):
            cleaned = _replace_folded(cleaned, secret)
        out.append(cleaned)
    return out


def _replace_folded(haystack: str, needle: str) -> str:
    """Replace every case-insensitive occurrence of `needle`."""
    lowered, target = haystack.lower(), needle.lower()
    pieces: list[str] = []
    start = 0
    while (at := lowered.find(target, start)) >= 0:
        pieces.append(haystack[start:at] + SCRUBBED)
        start = at + len(target)
    pieces.append(haystack[start:])
    return "".join(pieces)


def local_date(moment: datetime | None, calendar: WorkCalendar) -> str:
    """'2026年12月14日' for a deadline, or the catalog's dash when there is none."""
    if moment is None:
        return text("status.due_none")
    day = moment.astimezone(calendar.tz)
    return f"{day.year}年{day.month}月{day.day}日"


def category_label(ticket: Ticket) -> str:
    """The short category name."""
    try:
        return text(f"category_short.{ticket.category}")
    except KeyError:
        return ticket.category


def unit_name(session: Session, unit_id: int | None) -> str:
    """A unit's name, or the catalog's placeholder for an unrouted ticket."""
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.name if unit is not None else text("notice.no_unit")


def ticket_notice(
    session: Session, *, key: str, ticket: Ticket, now: datetime, calendar: WorkCalendar
) -> str:
    """A notice that carries the case's facts and place (new or transferred tickets)."""
    place, description, accused = scrubbed_text(
        session,
        ticket=ticket,
        values=(
            ticket.place_text,
            ticket.description,
            str(ticket.classification.get("accused") or ""),
        ),
        now=now,
    )
    return text(
        key,
        ticket_no=ticket.ticket_no,
        category=category_label(ticket),
        severity=text(f"notice.severity_{ticket.severity}"),
        place=place or text("fact.none"),
        accused=accused or text("fact.none"),
        occurred=ticket.occurred_text or text("fact.none"),
        due=local_date(ticket.due_at, calendar),
        description=description,
        unit=unit_name(session, ticket.unit_id),
    )


def status_notice(
    session: Session,
    *,
    key: str,
    ticket: Ticket,
    calendar: WorkCalendar,
    **values: object,
) -> str:
    """A notice about a ticket's deadline or supervision: number, category, unit, due date."""
    fields: dict[str, Any] = {
        "ticket_no": ticket.ticket_no,
        "category": category_label(ticket),
        "unit": unit_name(session, ticket.unit_id),
        "due": local_date(ticket.due_at, calendar),
        **values,
    }
    return text(key, **fields)


def tell_driver(
    session: Session, *, actor: str, ticket: Ticket, key: str, now: datetime, **values: object
) -> bool:
    """Queue a message to the complainant's chat under the unit's name; logs the identity read."""
    if ticket.complainant_id is None:
        return False
    driver = read_identity(
        session,
        complainant_id=ticket.complainant_id,
        actor=actor,
        reason="deliver reply",
        now=now,
        ticket_id=ticket.id,
    )
    if driver.erased_at is not None:
        return False
    fields: dict[str, Any] = {
        "unit": unit_name(session, ticket.unit_id),
        "ticket_no": ticket.ticket_no,
        **values,
    }
    body = text(key, driver.language, **fields)
    enqueue(
        session,
        channel=driver.channel,
        recipient=driver.channel_user_id,
        payload={"replies": [{"text": body, "choices": []}], "language": driver.language},
        # One message per change of the ticket: a retried call never queues it twice.
        idempotency_key=f"driver:{ticket.ticket_no}:v{ticket.version}",
        now=now,
        purpose="staff_reply",
        ticket_id=ticket.id,
    )
    return True


def assignee_or_handlers(session: Session, ticket: Ticket) -> list[Staff]:
    """The ticket's assignee, else the unit's handling staff."""
    assignee = session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    if assignee is not None and assignee.active:
        return [assignee]
    return unit_staff(session, ticket, handlers_first=True)


def unit_staff(session: Session, ticket: Ticket, *, handlers_first: bool) -> list[Staff]:
    """The unit's handlers (or heads first); its supervisors; every supervisor if unrouted."""
    if ticket.unit_id is None:
        return staff_with_role(session, roles=[Role.SUPERVISOR])
    handlers = handlers_of(session, unit_id=ticket.unit_id)
    heads = unit_heads_of(session, unit_id=ticket.unit_id)
    # A supervising body (法制科) handling a conflict case may have only supervisors.
    own = staff_with_role(session, roles=[Role.SUPERVISOR], unit_ids=[ticket.unit_id])
    return ((handlers or heads) if handlers_first else (heads or handlers)) or own


def superiors_of(session: Session, ticket: Ticket) -> list[Staff]:
    """Supervisors of the body over the ticket's unit."""
    if ticket.unit_id is None:
        return staff_with_role(session, roles=[Role.SUPERVISOR])
    return supervisors_over(session, unit_id=ticket.unit_id)


def sign_choice(ticket_no: str) -> tuple[Choice, ...]:
    """The 签收 button; its value is the same text command staff can type."""
    return (Choice(label=text("staff.choice_sign"), value=f"签收 {ticket_no}"),)
