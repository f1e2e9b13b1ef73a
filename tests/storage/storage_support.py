"""Helpers shared by the storage tests: drafts, tickets in a given state, store snapshots."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from storage.engine import transaction
from storage.events import list_events
from storage.lifecycle import TRANSITIONS, Action, TicketStatus
from storage.models import Complainant, Ticket, TicketEvent, Unit
from storage.tickets import TicketDraft, apply_action, create_ticket, get_ticket

# 10:00 in Beijing on 2026-11-23: comfortably inside one local day.
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def make_draft(**overrides: Any) -> TicketDraft:
    """A plausible complaint draft; keyword arguments replace single fields."""
    values: dict[str, Any] = {
        "kind": "complaint",
        "category": "fine_no_receipt",
        "severity": "normal",
        "channel": "telegram",
        "description": "治超站罚款两千元不给票",
    }
    values.update(overrides)
    return TicketDraft(**values)


def new_ticket(engine: Engine, *, now: datetime = NOW, **overrides: Any) -> Ticket:
    """Create one ticket in its own transaction and return it (detached, loaded)."""
    with transaction(engine) as session:
        return create_ticket(session, draft=make_draft(**overrides), actor="driver", now=now)


def path_to(target: TicketStatus, start: TicketStatus = TicketStatus.RECEIVED) -> list[Action]:
    """The shortest list of status-changing actions from `start` to `target` (BFS)."""
    previous: dict[TicketStatus, tuple[TicketStatus, Action] | None] = {start: None}
    queue = deque([start])
    while queue:
        status = queue.popleft()
        if status == target:
            break
        for action, moves in TRANSITIONS.items():
            after = moves.get(status)
            if after is not None and after not in previous:
                previous[after] = (status, action)
                queue.append(after)
    if target not in previous:
        raise AssertionError(f"{target} cannot be reached from {start} through TRANSITIONS")
    actions: list[Action] = []
    step = previous[target]
    while step is not None:
        status, action = step
        actions.append(action)
        step = previous[status]
    return actions[::-1]


def walk_to(
    engine: Engine,
    ticket_no: str,
    target: TicketStatus,
    *,
    start: datetime = NOW,
    origin: TicketStatus = TicketStatus.RECEIVED,
    changes: dict[Action, dict[str, Any]] | None = None,
) -> datetime:
    """Apply a legal path from `origin` to `target` in one transaction; returns its end time."""
    with transaction(engine) as session:
        return walk(session, ticket_no, target, start=start, origin=origin, changes=changes)


def walk(
    session: Session,
    ticket_no: str,
    target: TicketStatus,
    *,
    start: datetime = NOW,
    origin: TicketStatus = TicketStatus.RECEIVED,
    changes: dict[Action, dict[str, Any]] | None = None,
) -> datetime:
    """Apply a legal path from `origin` to `target` in the caller's session, a minute a step."""
    now = start
    for action in path_to(target, origin):
        now += timedelta(minutes=1)
        step_changes = (changes or {}).get(action)
        if action is Action.TRANSFER and step_changes is None:
            step_changes = {"pending_unit_id": receiving_unit_id(session)}
        apply_action(
            session,
            ticket_no=ticket_no,
            action=action,
            actor="staff:1",
            now=now,
            changes=step_changes,
        )
    return now


def receiving_unit_id(session: Session) -> int:
    """A unit to transfer tickets to (a transfer must name one)."""
    unit = session.exec(select(Unit).where(Unit.code == "RECEIVER")).first()
    if unit is None:
        unit = Unit(code="RECEIVER", name="接收单位")
        session.add(unit)
        session.flush()
    assert unit.id is not None
    return unit.id


def ticket_in(engine: Engine, status: TicketStatus, **overrides: Any) -> Ticket:
    """A fresh ticket already moved to `status` along a legal path (one transaction)."""
    with transaction(engine) as session:
        ticket = create_ticket(session, draft=make_draft(**overrides), actor="driver", now=NOW)
        walk(session, ticket.ticket_no, status)
        return ticket


def load(engine: Engine, ticket_no: str) -> Ticket:
    """The ticket as stored now, read in a fresh transaction."""
    with transaction(engine) as session:
        return get_ticket(session, ticket_no=ticket_no)


def events_of(engine: Engine, ticket_id: int) -> list[TicketEvent]:
    """A ticket's events as stored now, in order."""
    with transaction(engine) as session:
        return list_events(session, ticket_id=ticket_id)


@dataclass(frozen=True)
class Snapshot:
    """What must not move when an action is refused."""

    status: str
    version: int
    updated_at: datetime
    events: int
    tickets: int
    all_events: int


def snapshot(engine: Engine, ticket_no: str) -> Snapshot:
    """The ticket's status, version and event count, plus whole-table counts."""
    with transaction(engine) as session:
        ticket = get_ticket(session, ticket_no=ticket_no)
        return Snapshot(
            status=ticket.status,
            version=ticket.version,
            updated_at=ticket.updated_at,
            events=count_events(session, ticket_id=ticket.id),
            tickets=session.exec(select(func.count()).select_from(Ticket)).one(),
            all_events=count_events(session),
        )


def count_events(session: Session, *, ticket_id: int | None = None) -> int:
    """Events of one ticket, or of all tickets."""
    query = select(func.count()).select_from(TicketEvent)
    if ticket_id is not None:
        query = query.where(col(TicketEvent.ticket_id) == ticket_id)
    return session.exec(query).one()


def make_unit(engine: Engine, code: str) -> int:
    """Insert a unit and return its id."""
    with transaction(engine) as session:
        unit = Unit(code=code, name=f"{code} 执法大队")
        session.add(unit)
        session.flush()
        assert unit.id is not None
        return unit.id


def make_complainant(engine: Engine, channel_user_id: str) -> int:
    """Insert a complainant (identity row) and return its id."""
    with transaction(engine) as session:
        person = Complainant(channel="wechat", channel_user_id=channel_user_id, name="王师傅")
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id
