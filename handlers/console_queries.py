"""The console's ticket queues: visibility, queue rules, filters, search and keyset pages.

Rows carry facts only: no complainant column (not even its id) is ever selected. Pages are
keyset pages: newest first by (created_at, id), or by id for search results, so page 500
costs what page 1 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, tuple_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from handlers.console_access import visibility
from handlers.console_search import parse_query
from handlers.escalation import SLA_STATES
from nlp.labels import CATEGORIES
from storage.console_search import search_join
from storage.lifecycle import OPEN_STATES, SupervisionLevel, TicketStatus
from storage.models import Staff, Ticket
from storage.staffing import Role, jurisdiction
from storage.types import UTCDateTime

PAGE_SIZE = 50
QUEUES = ("mine", "unit", "incoming", "overdue", "due_soon", "supervised", "urgent", "discipline")
ALL_QUEUES = (*QUEUES, "all")
CHANNEL_RE = re.compile(r"[a-z]{1,16}", re.ASCII)
CURSOR_RE = re.compile(r"(?:c(\d{1,19})_(\d{1,19})|i(\d{1,19}))", re.ASCII)
OPEN = tuple(s.value for s in OPEN_STATES)
STATUSES = tuple(s.value for s in TicketStatus)
# Only these columns ever leave the database for a queue; identity lives elsewhere.
QUEUE_COLUMNS = (
    Ticket.id,
    Ticket.ticket_no,
    Ticket.kind,
    Ticket.category,
    Ticket.severity,
    Ticket.status,
    Ticket.channel,
    Ticket.unit_id,
    Ticket.pending_unit_id,
    Ticket.assignee_id,
    Ticket.sealed,
    Ticket.place_text,
    Ticket.supervision_level,
    Ticket.created_at,
    Ticket.due_at,
)


class QueueRefused(Exception):
    """A queue this person has no business opening (the discipline queue, for most)."""


@dataclass(frozen=True)
class Filters:
    """Optional narrowing of a queue; invalid values are dropped before they get here."""

    status: str | None = None
    category: str | None = None
    unit_id: int | None = None
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""


@dataclass(frozen=True)
class QueueRow:
    """One line of a queue: facts, never identity."""

    id: int
    ticket_no: str
    kind: str
    category: str
    severity: str
    status: str
    channel: str
    unit_id: int | None
    pending_unit_id: int | None
    assignee_id: int | None
    sealed: bool
    place_text: str | None
    supervision_level: str
    created_at: datetime
    due_at: datetime | None


@dataclass(frozen=True)
class QueuePage:
    """One page of a queue and the cursor of the next page (None on the last)."""

    queue: str
    rows: tuple[QueueRow, ...]
    next_cursor: str | None
    searched: bool


def clean_filters(raw: dict[str, str]) -> Filters:
    """Filters from query-string values; anything malformed is ignored, never an error."""

    def pick(name: str, allowed: tuple[str, ...]) -> str | None:
        value = raw.get(name, "")
        return value if value in allowed else None

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(raw.get(name, ""))
        except ValueError:
            return None

    unit = raw.get("unit", "")
    channel = raw.get("channel", "")
    return Filters(
        status=pick("status", STATUSES),
        category=pick("category", CATEGORIES),
        unit_id=int(unit) if unit.isascii() and unit.isdigit() and len(unit) < 10 else None,
        channel=channel if CHANNEL_RE.fullmatch(channel) else None,
        date_from=day("from"),
        date_to=day("to"),
        q=" ".join(raw.get("q", "").split())[:100],
    )


def queues_for(person: Staff) -> tuple[str, ...]:
    """The queues offered to a role."""
    if person.role == Role.DISCIPLINE:
        return ("discipline", "mine", "overdue", "due_soon", "all")
    if person.role == Role.ADMIN:
        return ALL_QUEUES
    return tuple(q for q in ALL_QUEUES if q != "discipline")


def _home(session: Session, person: Staff) -> Any:
    """The units a person's queues are about (a plain equality keeps the index usable)."""
    if person.role in (Role.HANDLER, Role.UNIT_HEAD):
        return col(Ticket.unit_id) == person.unit_id
    if person.role == Role.SUPERVISOR and person.unit_id is not None:
        return col(Ticket.unit_id).in_(sorted(jurisdiction(session, unit_id=person.unit_id)))
    return None


def _incoming(session: Session, person: Staff) -> Any:
    if person.role == Role.SUPERVISOR and person.unit_id is not None:
        units = sorted(jurisdiction(session, unit_id=person.unit_id))
        return col(Ticket.pending_unit_id).in_(units)
    if person.unit_id is not None:
        return col(Ticket.pending_unit_id) == person.unit_id
    return col(Ticket.pending_unit_id).is_not(None)


def queue_condition(session: Session, person: Staff, queue: str, now: datetime) -> Any:
    """The WHERE condition of a queue for `person`, visibility included."""
    if queue not in queues_for(person):
        raise QueueRefused(queue)
    home = _home(session, person)
    open_ = col(Ticket.status).in_(OPEN)
    if queue == "incoming":
        parts: list[Any] = [
            visibility(session, person, within=_incoming(session, person)),
            col(Ticket.status) == TicketStatus.TRANSFERRING,
        ]
    elif home is not None and queue != "mine":
        parts = [visibility(session, person, within=home)]  # home units are visible ones
    else:
        parts = [visibility(session, person)]
    if queue == "mine":
        parts += [col(Ticket.assignee_id) == person.id, open_]
    elif queue == "unit":
        parts.append(open_)
    elif queue == "overdue":
        parts += [col(Ticket.status).in_(SLA_STATES), col(Ticket.due_at) < now]
    elif queue == "due_soon":
        parts += [
            col(Ticket.status).in_(SLA_STATES),
            col(Ticket.due_at) >= now,
            col(Ticket.yellow_at) <= now,
        ]
    elif queue == "supervised":
        parts += [col(Ticket.supervision_level) != SupervisionLevel.NONE.value, open_]
    elif queue == "urgent":
        parts += [col(Ticket.severity) == "urgent", open_]
    elif queue == "discipline":
        parts += [col(Ticket.sealed).is_(True), open_]
    return and_(*parts)


def _filter_conditions(filters: Filters, tz: ZoneInfo) -> list[Any]:
    out: list[Any] = []
    if filters.status:
        out.append(col(Ticket.status) == filters.status)
    if filters.category:
        out.append(col(Ticket.category) == filters.category)
    if filters.unit_id is not None:
        out.append(col(Ticket.unit_id) == filters.unit_id)
    if filters.channel:
        out.append(col(Ticket.channel) == filters.channel)
    if filters.date_from:
        out.append(col(Ticket.created_at) >= datetime.combine(filters.date_from, time(), tz))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), tz)
        out.append(col(Ticket.created_at) < end)
    return out


def encode_cursor(row: QueueRow, *, searched: bool) -> str:
    """The opaque cursor after `row`."""
    if searched:
        return f"i{row.id}"
    micros = int(row.created_at.timestamp() * 1_000_000)
    return f"c{micros}_{row.id}"


def _decode(cursor: str | None) -> tuple[datetime | None, int | None]:
    match = CURSOR_RE.fullmatch(cursor or "")
    if match is None:
        return None, None
    if match.group(3):
        return None, int(match.group(3))
    micros = int(match.group(1))
    if micros > 253_402_300_799_000_000:  # past the year 9999: not a cursor we made
        return None, None
    return datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros), int(match.group(2))


def queue_page(
    session: Session,
    *,
    person: Staff,
    queue: str,
    filters: Filters,
    now: datetime,
    tz: ZoneInfo,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """One page of a queue (a search when `filters.q` has words), newest first."""
    statement: Any = sa_select(*[col(c) for c in QUEUE_COLUMNS]).where(
        queue_condition(session, person, queue, now), *_filter_conditions(filters, tz)
    )
    query = parse_query(filters.q) if filters.q else None
    if query is not None and not query:
        # Nothing searchable was typed (only punctuation): no match, not the whole queue.
        return QueuePage(queue=queue, rows=(), next_cursor=None, searched=True)
    after_time, after_id = _decode(cursor)
    if query:
        statement = search_join(session, statement, query=query, after_id=after_id)
    else:
        if after_time is not None and after_id is not None:
            statement = statement.where(
                tuple_(col(Ticket.created_at), col(Ticket.id))
                < tuple_(
                    bindparam("cb_after_time", after_time, type_=UTCDateTime()),
                    bindparam("cb_after_id", after_id),
                )
            )
        statement = statement.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc())
    rows = [QueueRow(*row) for row in session.execute(statement.limit(page_size + 1)).all()]
    more = len(rows) > page_size
    rows = rows[:page_size]
    searched = bool(query)
    return QueuePage(
        queue=queue,
        rows=tuple(rows),
        next_cursor=encode_cursor(rows[-1], searched=searched) if more and rows else None,
        searched=searched,
    )


def without_search(filters: Filters) -> Filters:
    """The same filters with the search words removed."""
    return replace(filters, q="")
