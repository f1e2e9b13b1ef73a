"""The append-only audit trail, hash-chained per ticket so edits are detectable."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.models import TicketEvent

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
        # Microseconds survive both backends; the zone is normalised to UTC.
        created_at.isoformat(timespec="microseconds"),
        prev_hash,
    ]
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
) -> TicketEvent:
    """Add the next event of a ticket; callers hold the ticket's version guard."""
    last = session.exec(
        select(TicketEvent.seq, TicketEvent.hash)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(col(TicketEvent.seq).desc())
        .limit(1)
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    payload = dict(data or {})
    event = TicketEvent(
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
        hash=event_hash(
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
    )
    session.add(event)
    session.flush()
    return event


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
    return ChainCheck(True, len(events))
