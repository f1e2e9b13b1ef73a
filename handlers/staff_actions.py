"""What staff do to tickets, with the permission rules (used by the staff bot and console).

Who may act: a handler or unit head on tickets of their own unit; a supervisor on tickets of
their jurisdiction (their unit, the units under it and the units it supervises); a discipline
inspector on sealed tickets only, and nobody else on those; an administrator on anything.
A refusal raises `PermissionDenied` or `ActionRefused` before anything is written; a move
the lifecycle forbids raises `IllegalTransition`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.catalog import text
from handlers.deadlines import DeadlinePolicy, extend_deadline
from handlers.messages import Choice
from handlers.notify import Notice, send_notice, status_notice, tell_driver, ticket_notice
from handlers.surveys import schedule_survey
from handlers.workdays import WorkCalendar
from storage.events import list_events
from storage.lifecycle import Action, IllegalTransition, RejectReason
from storage.models import Staff, Ticket
from storage.staffing import (
    Role,
    handlers_of,
    jurisdiction,
    staff_by_username,
    supervisors_over,
    unit_by_code,
    unit_heads_of,
)
from storage.tickets import apply_action, get_ticket

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 2000
SUPERVISING_ROLES = (Role.SUPERVISOR, Role.ADMIN, Role.DISCIPLINE)


class StaffActionError(Exception):
    """A refused staff action; `key` is the catalog sentence for the staff bot."""

    key = "staff.refused"

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.values = values


class PermissionDenied(StaffActionError):
    """This staff member may not do this to this ticket."""

    key = "staff.denied"


class ActionRefused(StaffActionError):
    """The action is allowed for this person but not with these inputs (no reason, …)."""

    def __init__(self, key: str, message: str, **values: object) -> None:
        super().__init__(message, **values)
        self.key = key


def _deny(person: Staff | None, ticket_no: str, action: str, why: str) -> PermissionDenied:
    who = f"staff {person.username} ({person.role})" if person else "unknown staff"
    log.warning("refused %s on %s for staff %s: %s", action, ticket_no, person and person.id, why)
    return PermissionDenied(
        f"{who} may not {action} {ticket_no}: {why}",
        ticket_no=ticket_no,
        reason=text(f"staff.why_{why}"),
    )


def _refuse(key: str, person: Staff, ticket_no: str, action: str, why: str) -> ActionRefused:
    log.warning("refused %s on %s for staff %s: %s", action, ticket_no, person.id, why)
    return ActionRefused(key, f"{action} {ticket_no} refused: {why}", ticket_no=ticket_no)


def authorize(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    action: str,
    roles: Collection[Role] | None = None,
    pending: bool = False,
) -> tuple[Staff, Ticket]:
    """The acting staff member and the ticket, or `PermissionDenied` naming who and why."""
    # `pending` checks the unit a transfer is waiting on instead of the handling unit.
    person = session.get(Staff, staff_id)
    if person is None or not person.active:
        raise _deny(person, ticket_no, action, "inactive")
    ticket = get_ticket(session, ticket_no=ticket_no)
    role = person.role
    if roles is not None and role not in {r.value for r in roles}:
        raise _deny(person, ticket_no, action, "role")
    if role == Role.ADMIN:
        return person, ticket
    if person.unit_id is not None and person.unit_id == ticket.accused_unit_id:
        raise _deny(person, ticket_no, action, "other_unit")  # the accused never handle it
    if ticket.sealed != (role == Role.DISCIPLINE):
        raise _deny(person, ticket_no, action, "sealed" if ticket.sealed else "not_sealed")
    if role == Role.DISCIPLINE:
        return person, ticket
    target = ticket.pending_unit_id if pending else ticket.unit_id
    if person.unit_id is None or target is None:
        raise _deny(person, ticket_no, action, "other_unit")
    if role == Role.SUPERVISOR:
        if target not in jurisdiction(session, unit_id=person.unit_id):
            raise _deny(person, ticket_no, action, "jurisdiction")
    elif role in (Role.HANDLER, Role.UNIT_HEAD):
        if target != person.unit_id:
            raise _deny(person, ticket_no, action, "other_unit")
    else:
        raise _deny(person, ticket_no, action, "role")
    return person, ticket


def _act(
    session: Session,
    person: Staff,
    ticket: Ticket,
    action: Action,
    now: datetime,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    expected_version: int | None = None,
) -> Ticket:
    try:
        return apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=action,
            actor=f"staff:{person.id}",
            now=now,
            note=note,
            data=data,
            changes=changes,
            expected_version=expected_version,
        )
    except IllegalTransition as exc:
        log.warning("refused %s on %s for staff %s: %s", action, ticket.ticket_no, person.id, exc)
        raise


def _choice(key: str, value: str) -> Choice:
    return Choice(label=text(key), value=value)


def _required(value: str, person: Staff, ticket_no: str, action: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise _refuse("staff.reason_required", person, ticket_no, action, "no reason given")
    return cleaned[:MAX_REPLY_CHARS]


def sign(
    session: Session, *, staff_id: int, ticket_no: str, now: datetime, version: int | None = None
) -> Ticket:
    """签收: acknowledge; a handler signing an unassigned ticket becomes its assignee."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="sign")
    changes = (
        {"assignee_id": person.id}
        if ticket.assignee_id is None and person.role == Role.HANDLER
        else None
    )
    return _act(
        session, person, ticket, Action.SIGN, now, changes=changes, expected_version=version
    )


def start_handling(
    session: Session, *, staff_id: int, ticket_no: str, now: datetime, version: int | None = None
) -> Ticket:
    """Verification done: the ticket is being handled."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="handle")
    return _act(session, person, ticket, Action.START_HANDLING, now, expected_version=version)


def assign(
    session: Session, *, staff_id: int, ticket_no: str, assignee: str, now: datetime
) -> Ticket:
    """Give the ticket to a handler of its unit (unit heads, supervisors, admins)."""
    roles = (Role.UNIT_HEAD, Role.SUPERVISOR, Role.ADMIN, Role.DISCIPLINE)
    person, ticket = authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="assign", roles=roles
    )
    target = staff_by_username(session, username=assignee)
    if target is None or not target.active or target.unit_id != ticket.unit_id:
        raise _refuse("staff.bad_assignee", person, ticket_no, "assign", "not of the unit")
    return _act(session, person, ticket, Action.ASSIGN, now, changes={"assignee_id": target.id})


def reply_to_driver(
    session: Session, *, staff_id: int, ticket_no: str, message: str, now: datetime
) -> Ticket:
    """反馈: record the answer and send it to the driver under the unit's name."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="reply")
    body = _required(message, person, ticket_no, "reply")
    ticket = _act(session, person, ticket, Action.REPLY, now, note=body)
    tell_driver(
        session,
        actor=f"staff:{person.id}",
        ticket=ticket,
        key="staff.to_driver_reply",
        now=now,
        reply=body,
    )
    return ticket


def close(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    now: datetime,
    note: str = "",
    calendar: WorkCalendar | None = None,
) -> Ticket:
    """办结: close a replied ticket and schedule its callback survey (回访)."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="close")
    ticket = _act(session, person, ticket, Action.CLOSE, now, note=note.strip())
    schedule_survey(session, ticket=ticket, now=now, calendar=calendar)
    return ticket


def reject(
    session: Session, *, staff_id: int, ticket_no: str, reason: str, note: str, now: datetime
) -> Ticket:
    """不予受理 with a reason from the fixed list; the driver is told why."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="reject")
    try:
        ground = RejectReason(reason)
    except ValueError:
        raise _refuse("staff.bad_reject_reason", person, ticket_no, "reject", reason) from None
    ticket = _act(
        session,
        person,
        ticket,
        Action.REJECT,
        now,
        note=note.strip(),
        data={"reason": ground.value},
    )
    tell_driver(
        session,
        actor=f"staff:{person.id}",
        ticket=ticket,
        key="staff.to_driver_rejected",
        now=now,
        reason=text(f"staff.reject_{ground.value}", "zh"),
    )
    return ticket


def transfer(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    to_unit: str,
    reason: str,
    now: datetime,
    calendar: WorkCalendar,
) -> Ticket:
    """转办 to another unit (never the accused one); it accepts or returns it."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="transfer")
    why = _required(reason, person, ticket_no, "transfer")
    target = unit_by_code(session, code=to_unit)
    if target is None or not target.active or target.id is None:
        raise _refuse("staff.unknown_unit", person, ticket_no, "transfer", f"no unit {to_unit}")
    if target.id == ticket.unit_id:
        raise _refuse("staff.same_unit", person, ticket_no, "transfer", "already there")
    if target.id == ticket.accused_unit_id:
        raise _refuse("staff.to_accused", person, ticket_no, "transfer", "accused unit")
    if ticket.sealed and target.kind != "discipline":
        raise _refuse("staff.sealed_stays", person, ticket_no, "transfer", "sealed")
    ticket = _act(
        session,
        person,
        ticket,
        Action.TRANSFER,
        now,
        note=why,
        changes={"pending_unit_id": target.id},
    )
    notice = Notice(
        "transfer",
        ticket_notice(session, key="notice.transfer_in", ticket=ticket, now=now, calendar=calendar),
        (_choice("staff.choice_accept", f"接收 {ticket_no}"),),
    )
    send_notice(
        session,
        notice=notice,
        recipients=handlers_of(session, unit_id=target.id)
        or unit_heads_of(session, unit_id=target.id),
        occasion=f"{ticket_no}:transfer:v{ticket.version}",
        ticket_id=ticket.id,
        now=now,
    )
    return ticket


def accept_transfer(session: Session, *, staff_id: int, ticket_no: str, now: datetime) -> Ticket:
    """The receiving unit takes a transferred ticket."""
    person, ticket = authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="accept", pending=True
    )
    return _act(session, person, ticket, Action.ACCEPT_TRANSFER, now)


def return_transfer(
    session: Session, *, staff_id: int, ticket_no: str, reason: str, now: datetime
) -> Ticket:
    """The receiving unit hands a transferred ticket back, saying why."""
    person, ticket = authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="return", pending=True
    )
    why = _required(reason, person, ticket_no, "return")
    return _act(session, person, ticket, Action.RETURN_TRANSFER, now, note=why)


def request_extension(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    reason: str,
    now: datetime,
    calendar: WorkCalendar,
) -> Ticket:
    """Ask a supervisor for the one extension a ticket may get, with a reason."""
    person, ticket = authorize(session, staff_id=staff_id, ticket_no=ticket_no, action="extend")
    why = _required(reason, person, ticket_no, "extend")
    if ticket.extended:
        raise _refuse("staff.already_extended", person, ticket_no, "extend", "extended once")
    ticket = _act(session, person, ticket, Action.REQUEST_EXTENSION, now, note=why)
    if ticket.unit_id is not None and not ticket.sealed:
        body = status_notice(
            session, key="notice.extension_requested", ticket=ticket, calendar=calendar
        )
        send_notice(
            session,
            notice=Notice(
                "extension", body, (_choice("staff.choice_approve", f"批准延期 {ticket_no}"),)
            ),
            recipients=supervisors_over(session, unit_id=ticket.unit_id),
            occasion=f"{ticket_no}:extension:v{ticket.version}",
            ticket_id=ticket.id,
            now=now,
        )
    return ticket


def approve_extension(
    session: Session,
    *,
    staff_id: int,
    ticket_no: str,
    now: datetime,
    calendar: WorkCalendar,
    policy: DeadlinePolicy | None = None,
) -> Ticket:
    """A supervisor grants the requested extension: new deadlines and warning times."""
    person, ticket = authorize(
        session, staff_id=staff_id, ticket_no=ticket_no, action="approve", roles=SUPERVISING_ROLES
    )
    if ticket.extended:
        raise _refuse("staff.already_extended", person, ticket_no, "approve", "extended once")
    assert ticket.id is not None
    asked = any(
        e.action == Action.REQUEST_EXTENSION for e in list_events(session, ticket_id=ticket.id)
    )
    if not asked or ticket.due_at is None:
        raise _refuse("staff.no_extension_request", person, ticket_no, "approve", "not asked")
    new = extend_deadline(
        due_at=ticket.due_at, calendar=calendar, policy=policy or DeadlinePolicy()
    )
    changes = {
        "due_at": new.due_at,
        "yellow_at": new.yellow_at,
        "escalate_at": new.escalate_at,
        "extended": True,
    }
    return _act(session, person, ticket, Action.APPROVE_EXTENSION, now, changes=changes)
