"""Ticket repository: numbering, creation, guarded transitions, repeat lookup."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from storage.errors import ConflictError, TicketNotFound
from storage.events import append_event
from storage.lifecycle import OPEN_STATES, Action, TicketStatus, next_status
from storage.models import Ticket, TicketEvent

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class TicketDraft:
    """The facts a new ticket starts with, gathered by intake or an integration."""

    kind: str
    category: str
    severity: str
    channel: str
    description: str
    subcategory: str | None = None
    domain: str | None = None
    complainant_id: int | None = None
    anonymity: str = "real_name"
    unit_id: int | None = None
    sealed: bool = False
    out_of_jurisdiction: str | None = None
    occurred_at: datetime | None = None
    occurred_text: str | None = None
    place_text: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    plates: tuple[str, ...] = ()
    badges: tuple[str, ...] = ()
    amount_yuan: Decimal | None = None
    receipt_given: bool | None = None
    source: str | None = None
    classification: dict[str, Any] = field(default_factory=dict)
    ack_due_at: datetime | None = None
    due_at: datetime | None = None
    yellow_at: datetime | None = None
    escalate_at: datetime | None = None
    deadline_provisional: bool = False


def next_ticket_no(session: Session, *, now: datetime, prefix: str = "TS") -> str:
    """Hand out the next public number of the local day, e.g. TS20261123-0001."""
    day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
    # One upsert statement: concurrent creators on either backend never share a number.
    last = session.execute(
        text(
            "INSERT INTO ticket_counters (day, last) VALUES (:day, 1) "
            "ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1 "
            "RETURNING last"
        ),
        {"day": day},
    ).scalar_one()
    return f"{prefix}{day}-{last:04d}"


def create_ticket(session: Session, *, draft: TicketDraft, actor: str, now: datetime) -> Ticket:
    """Insert a ticket and its `create` event in the caller's transaction."""
    values = {k: v for k, v in draft.__dict__.items() if k not in ("plates", "badges")}
    ticket = Ticket(
        **values,
        ticket_no=next_ticket_no(session, now=now),
        plates=list(draft.plates),
        badges=list(draft.badges),
        status=TicketStatus.RECEIVED.value,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    session.flush()
    assert ticket.id is not None
    append_event(
        session,
        ticket_id=ticket.id,
        actor=actor,
        action=Action.CREATE.value,
        from_status=None,
        to_status=ticket.status,
        now=now,
        data={"kind": draft.kind, "category": draft.category, "severity": draft.severity},
    )
    return ticket


def get_ticket(session: Session, *, ticket_no: str) -> Ticket:
    """The ticket with that number, or `TicketNotFound`."""
    ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).first()
    if ticket is None:
        raise TicketNotFound(ticket_no)
    return ticket


def find_ticket(session: Session, *, ticket_no: str) -> Ticket | None:
    """The ticket with that number, or None."""
    return session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).first()


def _intrinsic_changes(action: Action, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """Fields an action always sets, whoever performs it."""
    if action is Action.SIGN:
        return {"signed_at": now}
    if action is Action.REPLY:
        return {"replied_at": now}
    if action in (Action.CLOSE, Action.REJECT, Action.WITHDRAW):
        return {"closed_at": now}
    if action is Action.REOPEN:
        return {"reopen_count": ticket.reopen_count + 1, "closed_at": None, "signed_at": None}
    if action is Action.ACCEPT_TRANSFER:
        unit_id = ticket.pending_unit_id or ticket.unit_id
        return {"unit_id": unit_id, "pending_unit_id": None, "assignee_id": None}
    if action is Action.RETURN_TRANSFER:
        return {"pending_unit_id": None}
    return {}


# Fields a caller may change along with an action (e.g. the target unit of a transfer).
CHANGEABLE_FIELDS = frozenset(
    {
        "pending_unit_id",
        "unit_id",
        "assignee_id",
        "supervision_level",
        "due_at",
        "yellow_at",
        "escalate_at",
        "extended",
        "category",
        "subcategory",
        "kind",
        "severity",
        "sealed",
        "description",
    }
)


def apply_action(
    session: Session,
    *,
    ticket_no: str,
    action: Action,
    actor: str,
    now: datetime,
    note: str = "",
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    expected_version: int | None = None,
) -> Ticket:
    """Perform one lifecycle action with its event, guarded by the ticket's version."""
    ticket = get_ticket(session, ticket_no=ticket_no)
    assert ticket.id is not None
    version = ticket.version if expected_version is None else expected_version
    if ticket.version != version:
        raise ConflictError(ticket_no, version)
    old_status = TicketStatus(ticket.status)
    new_status = next_status(ticket_no=ticket_no, action=action, status=old_status)
    extra = dict(changes or {})
    unknown = set(extra) - CHANGEABLE_FIELDS
    if unknown:
        raise ValueError(f"fields not changeable through an action: {sorted(unknown)}")
    if action is Action.TRANSFER and not extra.get("pending_unit_id"):
        raise ValueError("a transfer needs the receiving unit (pending_unit_id)")
    values: dict[str, Any] = {
        **extra,
        **_intrinsic_changes(action, ticket, now),
        "status": new_status.value,
        "updated_at": now,
        "version": version + 1,
    }
    # The guard: only the writer who saw `version` may move it on; PostgreSQL re-checks the
    # WHERE after a concurrent writer commits, SQLite serialises writers with BEGIN IMMEDIATE.
    result = session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket.id, col(Ticket.version) == version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(ticket_no, version)
    event_data = dict(data or {})
    if extra:
        # The recorded changes are the real ones, whatever the caller put in `data`.
        event_data["changes"] = {k: _jsonable(v) for k, v in extra.items()}
    append_event(
        session,
        ticket_id=ticket.id,
        actor=actor,
        action=action.value,
        from_status=old_status.value,
        to_status=new_status.value,
        now=now,
        note=note,
        data=event_data,
    )
    # The row now holds exactly `values`: set them as loaded state instead of re-reading it.
    for name, value in values.items():
        set_committed_value(ticket, name, value)
    return ticket


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def find_repeat_ticket(
    session: Session,
    *,
    complainant_id: int,
    category: str,
    now: datetime,
    window: timedelta,
    place_text: str | None = None,
    plates: tuple[str, ...] = (),
) -> Ticket | None:
    """An open ticket of the same complainant, category and place or plate within the window."""
    candidates = session.exec(
        select(Ticket)
        .where(
            Ticket.complainant_id == complainant_id,
            Ticket.category == category,
            col(Ticket.status).in_([s.value for s in OPEN_STATES]),
            col(Ticket.created_at) >= now - window,
        )
        .order_by(col(Ticket.created_at).desc())
    ).all()
    wanted_plates = set(plates)
    wanted_place = _place_key(place_text)
    for ticket in candidates:
        if wanted_plates & set(ticket.plates):
            return ticket
        if wanted_place and wanted_place == _place_key(ticket.place_text):
            return ticket
    return None


def _place_key(place_text: str | None) -> str:
    """Places compare without spaces and punctuation, so '京港澳 G4' equals '京港澳G4'."""
    if not place_text:
        return ""
    return "".join(ch for ch in place_text.lower() if ch.isalnum())


def list_tickets(
    session: Session,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Ticket]:
    """Newest tickets first, optionally of one status (for the CLI; no identity)."""
    query = select(Ticket).order_by(col(Ticket.id).desc()).limit(limit).offset(offset)
    if status:
        query = query.where(Ticket.status == status)
    return list(session.exec(query).all())


def tickets_of_complainant(
    session: Session, *, complainant_id: int, limit: int = 10, open_only: bool = False
) -> list[Ticket]:
    """A complainant's own tickets, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.complainant_id == complainant_id)
        .order_by(col(Ticket.id).desc())
        .limit(limit)
    )
    if open_only:
        query = query.where(col(Ticket.status).in_([s.value for s in OPEN_STATES]))
    return list(session.exec(query).all())


def last_reply_note(session: Session, *, ticket_id: int) -> str | None:
    """The text of the newest reply event, which the complainant may read."""
    note = session.exec(
        select(TicketEvent.note)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.action == Action.REPLY.value)
        .order_by(col(TicketEvent.seq).desc())
        .limit(1)
    ).first()
    return note or None
