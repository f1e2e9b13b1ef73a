"""The append-only audit trail, hash-chained per ticket so edits are detectable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from storage.models import Ticket, TicketEvent

GENESIS_HASH = "0" * 64


def event_hash(
    *,
    ticket_id: int,
    seq: int,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str,
    data: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON form of the event and its predecessor's hash."""
    body = [
        ticket_id,
        seq,
        actor,
        action,
        from_status,
        to_status,
        note,
        data,
        # Microseconds survive both backends; the zone is normalised to UTC because that is
        # how the time reads back, whatever zone the caller passed.
        created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        prev_hash,
    ]
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_LAST_EVENT = (
    select(TicketEvent.seq, TicketEvent.hash)
    .where(col(TicketEvent.ticket_id) == bindparam("ticket_id"))
    .order_by(col(TicketEvent.seq).desc())
    .limit(1)
)
_INSERT_EVENT = insert(TicketEvent)


def append_event(
    session: Session,
    *,
    ticket_id: int,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    now: datetime,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> int:
    """Add the next event of a ticket and return its seq; callers hold the version guard."""
    # Core statements on the session's connection: this runs for every action, and the
    # ORM's per-object bookkeeping would cost more than the insert itself.
    last = session.connection().execute(_LAST_EVENT, {"ticket_id": ticket_id}).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    payload = dict(data or {})
    session.connection().execute(
        _INSERT_EVENT,
        {
            "ticket_id": ticket_id,
            "seq": seq,
            "actor": actor,
            "action": action,
            "from_status": from_status,
            "to_status": to_status,
            "note": note,
            "data": payload,
            "created_at": now,
            "prev_hash": prev_hash,
            "hash": event_hash(
                ticket_id=ticket_id,
                seq=seq,
                actor=actor,
                action=action,
                from_status=from_status,
                to_status=to_status,
                note=note,
                data=payload,
                created_at=now,
                prev_hash=prev_hash,
            ),
        },
    )
    return seq


def list_events(session: Session, *, ticket_id: int) -> list[TicketEvent]:
    """A ticket's events in order."""
    return list(
        session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(col(TicketEvent.seq))
        ).all()
    )


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of re-hashing a ticket's events."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(session: Session, *, ticket_id: int) -> ChainCheck:
    """Recompute every hash of a ticket's trail and report the first event that breaks it."""
    events = list_events(session, ticket_id=ticket_id)
    version = session.exec(select(Ticket.version).where(Ticket.id == ticket_id)).first()
    prev_hash = GENESIS_HASH
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return ChainCheck(False, len(events), expected_seq, "event missing")
        if event.prev_hash != prev_hash:
            return ChainCheck(False, len(events), event.seq, "link to previous event broken")
        recomputed = event_hash(
            ticket_id=event.ticket_id,
            seq=event.seq,
            actor=event.actor,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            note=event.note,
            data=event.data,
            created_at=event.created_at,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return ChainCheck(False, len(events), event.seq, "event content changed")
        prev_hash = event.hash
    # Every action writes one event and bumps the version once: a deleted last event shows.
    if version is not None and version != len(events):
        return ChainCheck(False, len(events), len(events) + 1, "event missing")
    return ChainCheck(True, len(events))
