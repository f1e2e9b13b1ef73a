"""Console form posts turned into staff actions, with the few actions only the console has.

Every action goes through `staff_actions.authorize` (directly or inside the staff action it
calls), so the console can do exactly what the staff bot can, no more. Form values arrive
as plain strings and are checked here; the web layer only parses the request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlmodel import Session

from handlers import escalation
from handlers import staff_actions as act
from handlers.context import Rules
from handlers.notify import Notice, local_date, send_notice, ticket_notice
from handlers.routing import DISCIPLINE_CATEGORIES, UnitIndex
from nlp.labels import CATEGORIES
from storage.lifecycle import Action, TicketStatus
from storage.models import Attachment, Ticket
from storage.staffing import active_units, discipline_inspectors
from storage.tickets import apply_action

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 2000
LEVELS = ("yellow", "red", "listed")
# The console's actions; each maps to one use case below.
ACTIONS = (
    "sign",
    "handle",
    "note",
    "reply",
    "close",
    "reject",
    "transfer",
    "accept",
    "return",
    "extend",
    "approve",
    "assign",
    "supervise",
    "recategorize",
)


@dataclass(frozen=True)
class Done:
    """What happened: a text key ('staff.*' in the catalog, 'console.*' UI labels) and values."""

    key: str
    ticket_no: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFile:
    """A file already written under the attachments directory by the web layer."""

    kind: str
    mime: str
    size: int
    sha256: str
    filename: str | None
    storage_path: str


def _refuse(key: str, ticket_no: str, why: str) -> act.ActionRefused:
    log.warning("refused console action on %s: %s", ticket_no, why)
    return act.ActionRefused(key, f"{ticket_no}: {why}", ticket_no=ticket_no)


def _note(value: str) -> str:
    return value.strip()[:MAX_NOTE_CHARS]


def add_note(
    session: Session, *, staff_id: int, ticket_no: str, note: str, now: datetime
) -> Ticket:
    """核查记录: a staff note on the audit trail, changing nothing else."""
    person, _ = act.authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="note")
    body = _note(note)
    if not body:
        raise _refuse("staff.reason_required", ticket_no, "empty note")
    return apply_action(
        session,
        ticket_no=ticket_no,
        action=Action.NOTE,
        actor=f"staff:{person.id}",
        now=now,
        note=body,
        data={"kind": "verification"},
    )


def recategorize(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    category: str,
    note: str,
    now: datetime,
    rules: Rules,
) -> Ticket:
    """Correct the category; recorded as classifier feedback, and bribery clues get sealed."""
    person, ticket = act.authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="recategorize"
    )
    if category not in CATEGORIES:
        raise _refuse("console.bad_category", ticket_no, f"unknown category {category[:32]!r}")
    if category == ticket.category:
        raise _refuse("console.same_category", ticket_no, "same category")
    if ticket.sealed and category not in DISCIPLINE_CATEGORIES:
        raise _refuse("staff.sealed_stays", ticket_no, "a sealed clue stays sealed")
    changes: dict[str, object] = {"category": category, "subcategory": None}
    sealing = category in DISCIPLINE_CATEGORIES and not ticket.sealed
    if sealing:
        if ticket.status == TicketStatus.TRANSFERRING:
            raise _refuse("console.transferring", ticket_no, "transfer pending")
        unit = UnitIndex(active_units(session)).discipline_unit()
        changes |= {"sealed": True, "unit_id": unit.id if unit else None, "assignee_id": None}
    classifier = ticket.classification.get("category")
    ticket = apply_action(
        session,
        ticket_no=ticket_no,
        action=Action.RECATEGORIZE,
        actor=f"staff:{person.id}",
        now=now,
        note=_note(note),
        data={
            "from": ticket.category,
            "to": category,
            "classifier": classifier,
            # Counted by the monthly report as feedback on the keyword classifier.
            "classifier_feedback": classifier is not None and classifier != category,
        },
        changes=changes,
    )
    if sealing:
        body = ticket_notice(
            session, key="notice.new_sealed", ticket=ticket, now=now, calendar=rules.calendar
        )
        send_notice(
            session,
            notice=Notice("new", body),
            recipients=discipline_inspectors(session),
            occasion=f"{ticket_no}:sealed:v{ticket.version}",
            ticket_id=ticket.id,
            now=now,
        )
    return ticket


def attach_file(
    session: Session, *, staff_id: int, ticket_no: str, stored: StoredFile, now: datetime
) -> Attachment:
    """Add a staff document (a decision, a receipt scan) to the ticket, with its hash."""
    person, ticket = act.authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="attach")
    row = Attachment(
        ticket_id=ticket.id,
        channel="console",
        kind=stored.kind,
        mime=stored.mime,
        size=stored.size,
        sha256=stored.sha256,
        filename=stored.filename,
        storage_path=stored.storage_path,
        created_at=now,
    )
    session.add(row)
    session.flush()
    apply_action(
        session,
        ticket_no=ticket_no,
        action=Action.NOTE,
        actor=f"staff:{person.id}",
        now=now,
        note=stored.filename or "",
        data={"attachment_id": row.id, "sha256": stored.sha256, "size": stored.size},
    )
    return row


Form = Mapping[str, str]


def _deadline(value: str, rules: Rules) -> datetime:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise act.ActionRefused("staff.bad_deadline", "bad deadline") from None
    return rules.calendar.at_local(day, time(23, 59, 59))


def _unit_name(session: Session, unit_id: int | None) -> str:
    names = {u.id: u.name for u in active_units(session)}
    return names.get(unit_id, "") if unit_id is not None else ""


def perform(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    action: str,
    form: Form,
    now: datetime,
    rules: Rules,
) -> Done:
    """Run one console action from its form fields; refusals raise the staff_actions errors."""
    cal, s, who, no = rules.calendar, session, staff_id, ticket_no
    common: dict[str, Any] = {"staff_id": who, "ticket_no": no, "now": now}

    def field_(name: str) -> str:
        return form.get(name, "")

    if action == "sign":
        act.sign(s, **common)
    elif action == "handle":
        act.start_handling(s, **common)
    elif action == "note":
        add_note(s, **common, note=field_("note"))
    elif action == "reply":
        act.reply_to_driver(s, **common, message=field_("message"))
    elif action == "close":
        act.close(s, **common, note=_note(field_("note")), calendar=cal)
    elif action == "reject":
        act.reject(s, **common, reason=field_("reason"), note=_note(field_("note")))
    elif action == "transfer":
        ticket = act.transfer(
            s, **common, to_unit=field_("unit"), reason=field_("reason"), calendar=cal
        )
        return Done("staff.done_transfer", no, {"unit": _unit_name(s, ticket.pending_unit_id)})
    elif action == "accept":
        act.accept_transfer(s, **common)
    elif action == "return":
        act.return_transfer(s, **common, reason=field_("reason"))
    elif action == "extend":
        act.request_extension(s, **common, reason=field_("reason"), calendar=cal)
    elif action == "approve":
        ticket = act.approve_extension(s, **common, calendar=cal, policy=rules.policy)
        return Done("staff.done_approve", no, {"due": local_date(ticket.due_at, cal)})
    elif action == "assign":
        act.assign(s, **common, assignee=field_("assignee"))
        return Done("console.done_assign", no)
    elif action == "supervise":
        order = escalation.issue_supervision_order(
            s,
            **common,
            level=field_("level"),
            note=field_("note"),
            deadline=_deadline(field_("deadline"), rules),
            calendar=cal,
        )
        return Done("staff.done_supervise", no, {"due": local_date(order.deadline, cal)})
    elif action == "recategorize":
        recategorize(s, **common, category=field_("category"), note=field_("note"), rules=rules)
        return Done("console.done_recategorize", no)
    else:
        raise act.ActionRefused("staff.refused", f"unknown action {action!r}", ticket_no=no)
    if action == "note":
        return Done("console.done_note", no)
    return Done(f"staff.done_{action}", no)
