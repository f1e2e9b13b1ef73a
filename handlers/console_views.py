"""The ticket page's data: facts made safe for staff, attachments, classification, audit trail.

Free text a driver wrote (description, place, merged and supplemented text) is masked
(phones, plates, ID numbers) and scrubbed of the complainant's own name, phone, plate and
chat id before any page shows it; the identity read this takes is logged as a system read.
Which forms the page offers is a convenience: every post is authorised again when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from handlers.console_access import can_request_identity, view_ticket
from handlers.staff_actions import SUPERVISING_ROLES
from nlp.entities import mask_identifiers
from storage.complainants import read_identity
from storage.events import list_events, verify_chain
from storage.lifecycle import Action, TicketStatus, allowed_actions
from storage.models import Attachment, Staff, Ticket, Unit
from storage.models_ops import SupervisionOrder
from storage.staffing import Role, active_units

SCRUBBED = "***"
ASSIGNING_ROLES = {Role.UNIT_HEAD.value, Role.SUPERVISOR.value, Role.ADMIN.value, "discipline"}


@dataclass(frozen=True)
class EventLine:
    """One audit event as the page shows it."""

    seq: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str
    detail: str


@dataclass(frozen=True)
class AttachmentLine:
    """One file on the ticket."""

    id: int
    kind: str
    mime: str
    size: int
    sha256: str | None
    filename: str | None
    channel: str
    is_image: bool


@dataclass(frozen=True)
class TicketView:
    """Everything the ticket page renders; no identity in here."""

    ticket: Ticket
    description: str
    place: str
    plates: tuple[str, ...]
    unit: str
    pending_unit: str
    accused_unit: str
    assignee: str
    classification: dict[str, Any]
    events: tuple[EventLine, ...]
    chain_ok: bool
    chain_problem: str
    attachments: tuple[AttachmentLine, ...]
    orders: tuple[SupervisionOrder, ...]
    actions: frozenset[str]
    can_identity: bool
    transfer_units: tuple[tuple[str, str], ...]
    assignees: tuple[tuple[str, str], ...]


def _replace_folded(haystack: str, needle: str) -> str:
    lowered, target = haystack.lower(), needle.lower()
    pieces: list[str] = []
    start = 0
    while (at := lowered.find(target, start)) >= 0:
        pieces.append(haystack[start:at] + SCRUBBED)
        start = at + len(target)
    pieces.append(haystack[start:])
    return "".join(pieces)


def _secrets(session: Session, ticket: Ticket, viewer: int, now: datetime) -> list[str]:
    if ticket.complainant_id is None:
        return []
    person = read_identity(
        session,
        complainant_id=ticket.complainant_id,
        actor="system",
        reason=f"redact identity from the console view of staff:{viewer}",
        now=now,
        ticket_id=ticket.id,
    )
    found: set[str] = set()
    for value in (person.name, person.phone, person.own_plate, person.channel_user_id):
        if value and len(value.strip()) >= 2:
            found |= {value.strip(), value.strip().replace("·", "")}
    return sorted(found, key=len, reverse=True)


def scrub(value: str | None, secrets: list[str]) -> str:
    """Free text with identifiers masked and the complainant's identity replaced."""
    cleaned = mask_identifiers(value or "")
    for secret in secrets:
        cleaned = _replace_folded(cleaned, secret)
    return cleaned


def _detail(event_data: dict[str, Any], units: dict[int, str], names: dict[int, str]) -> str:
    parts: list[str] = []
    for key in ("reason", "level", "routing", "from", "to", "sha256", "via"):
        if event_data.get(key) not in (None, ""):
            parts.append(f"{key}={event_data[key]}")
    changes = event_data.get("changes") or {}
    for key, value in changes.items():
        if key.endswith("unit_id") and isinstance(value, int):
            value = units.get(value, value)
        elif key == "assignee_id" and isinstance(value, int):
            value = names.get(value, value)
        parts.append(f"{key}→{value}")
    return "; ".join(str(p) for p in parts)


def _actor(actor: str, names: dict[int, str]) -> str:
    if actor.startswith("staff:") and actor[6:].isdigit():
        return names.get(int(actor[6:]), actor)
    return {"driver": "投诉人", "system": "系统"}.get(actor, actor)


def _actions(person: Staff, ticket: Ticket) -> frozenset[str]:
    """The forms worth showing; the server re-checks each on submit."""
    status = TicketStatus(ticket.status)
    legal = set(allowed_actions(status))
    offer = {"note", "recategorize", "attach"}
    pairs = {
        Action.SIGN: "sign",
        Action.START_HANDLING: "handle",
        Action.REPLY: "reply",
        Action.CLOSE: "close",
        Action.REJECT: "reject",
        Action.TRANSFER: "transfer",
    }
    offer |= {name for action, name in pairs.items() if action in legal}
    if status == TicketStatus.TRANSFERRING:
        offer |= {"accept", "return"}
    if Action.REQUEST_EXTENSION in legal and not ticket.extended:
        offer.add("extend")
        if person.role in {r.value for r in SUPERVISING_ROLES}:
            offer.add("approve")
    if person.role in {r.value for r in SUPERVISING_ROLES} and Action.SUPERVISE in legal:
        offer.add("supervise")
    if person.role in ASSIGNING_ROLES and Action.ASSIGN in legal:
        offer.add("assign")
    return frozenset(offer)


def ticket_view(session: Session, *, staff_id: int, ticket_no: str, now: datetime) -> TicketView:
    """The page of one ticket for one staff member (PermissionDenied when not theirs)."""
    person, ticket = view_ticket(session, staff_id=staff_id, ticket_no=ticket_no)
    assert ticket.id is not None and person.id is not None
    units = {u.id: u.name for u in session.exec(select(Unit)).all() if u.id is not None}
    events = list_events(session, ticket_id=ticket.id)
    actor_ids = {int(e.actor[6:]) for e in events if e.actor[6:].isdigit()}
    actor_ids |= {
        e.data["changes"]["assignee_id"]
        for e in events
        if isinstance((e.data.get("changes") or {}).get("assignee_id"), int)
    }
    names = {
        s.id: f"{s.display_name}（{s.username}）"
        for s in session.exec(select(Staff).where(col(Staff.id).in_(actor_ids))).all()
        if s.id is not None
    }
    secrets = _secrets(session, ticket, person.id, now)
    lines = tuple(
        EventLine(
            seq=e.seq,
            at=e.created_at,
            actor=_actor(e.actor, names),
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            # Only the driver's own words can carry their identity; staff notes are shown as typed.
            note=scrub(e.note, secrets) if e.actor == "driver" else e.note,
            detail=_detail(e.data, units, names),
        )
        for e in events
    )
    check = verify_chain(session, ticket_id=ticket.id)
    files = session.exec(
        select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(col(Attachment.id))
    ).all()
    assignee = session.get(Staff, ticket.assignee_id) if ticket.assignee_id else None
    crew = session.exec(
        select(Staff).where(
            Staff.unit_id == ticket.unit_id, col(Staff.active), Staff.role == Role.HANDLER.value
        )
    ).all()
    return TicketView(
        ticket=ticket,
        description=scrub(ticket.description, secrets),
        place=scrub(ticket.place_text, secrets),
        plates=tuple(mask_identifiers(p) for p in ticket.plates),
        unit=units.get(ticket.unit_id or 0, ""),
        pending_unit=units.get(ticket.pending_unit_id or 0, ""),
        accused_unit=units.get(ticket.accused_unit_id or 0, ""),
        assignee=assignee.display_name if assignee else "",
        classification=_classification(ticket, secrets),
        events=lines,
        chain_ok=check.ok,
        chain_problem=check.problem,
        attachments=tuple(
            AttachmentLine(
                id=a.id or 0,
                kind=a.kind,
                mime=a.mime,
                size=a.size,
                sha256=a.sha256,
                filename=a.filename,
                channel=a.channel,
                is_image=a.kind == "image" and a.mime.startswith("image/"),
            )
            for a in files
        ),
        orders=tuple(
            session.exec(
                select(SupervisionOrder)
                .where(SupervisionOrder.ticket_id == ticket.id)
                .order_by(col(SupervisionOrder.id))
            ).all()
        ),
        actions=_actions(person, ticket),
        can_identity=can_request_identity(session, person, ticket),
        transfer_units=tuple((u.code, u.name) for u in active_units(session)),
        assignees=tuple((s.username, s.display_name) for s in crew),
    )


def _classification(ticket: Ticket, secrets: list[str]) -> dict[str, Any]:
    raw = dict(ticket.classification or {})
    return {
        "category": raw.get("category"),
        "kind": raw.get("kind"),
        "severity": raw.get("severity"),
        "confidence": raw.get("confidence"),
        "explanation": raw.get("explanation") or "",
        "matched": raw.get("matched") or {},
        "driver_category": raw.get("driver_category"),
        "accused": scrub(str(raw.get("accused") or ""), secrets),
    }


def money(value: Decimal | None) -> str:
    """An amount in yuan for display."""
    return "" if value is None else f"{value:,.2f}"


def attachment_for(session: Session, *, staff_id: int, attachment_id: int) -> Attachment:
    """An attachment of a ticket the staff member may open; LookupError/PermissionDenied."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.ticket_id is None or not row.storage_path:
        raise LookupError(attachment_id)
    ticket = session.get(Ticket, row.ticket_id)
    if ticket is None:
        raise LookupError(attachment_id)
    view_ticket(session, staff_id=staff_id, ticket_no=ticket.ticket_no)
    return row
