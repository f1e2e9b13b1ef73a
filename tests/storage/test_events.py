"""The hash-chained, append-only audit trail on both backends."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from storage_support import NOW, events_of, make_draft, new_ticket, walk_to

from storage.engine import backend_of, transaction
from storage.events import GENESIS_HASH, event_hash, verify_chain
from storage.lifecycle import Action, TicketStatus
from storage.models import Ticket
from storage.tickets import apply_action, create_ticket


def _ticket_with_history(engine: Engine) -> Ticket:
    """A ticket taken round the whole loop and reopened: create + 5 actions + 2 notes."""
    ticket = new_ticket(engine)
    now = walk_to(engine, ticket.ticket_no, TicketStatus.CLOSED)
    with transaction(engine) as session:
        for minutes, action in enumerate((Action.NOTE, Action.REOPEN, Action.NOTE), start=1):
            apply_action(
                session,
                ticket_no=ticket.ticket_no,
                action=action,
                actor="staff:7",
                now=now + timedelta(minutes=minutes),
                note=f"第{minutes}条：司机称“未出具票据”",
                data={"score": 0.75, "tags": ["fine", "receipt"], "nested": {"k": "值"}},
            )
    assert ticket.id is not None
    assert len(events_of(engine, ticket.id)) == 7
    return ticket


def _verify(engine: Engine, ticket_id: int) -> tuple[bool, int, int | None, str]:
    """verify_chain's verdict as a plain tuple."""
    with transaction(engine) as session:
        check = verify_chain(session, ticket_id=ticket_id)
    return check.ok, check.events, check.first_bad_seq, check.problem


def _allow_tampering(engine: Engine) -> None:
    """Switch off the append-only triggers, as someone with DDL rights could."""
    with engine.begin() as connection:
        if backend_of(engine) == "postgresql":
            connection.execute(
                text("ALTER TABLE ticket_events DISABLE TRIGGER ticket_events_append_only")
            )
        else:
            connection.execute(text("DROP TRIGGER ticket_events_no_update"))
            connection.execute(text("DROP TRIGGER ticket_events_no_delete"))


def test_chain_is_intact_after_a_sequence_of_actions(any_engine: Engine) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None

    assert _verify(any_engine, ticket.id) == (True, 7, None, "")
    events = events_of(any_engine, ticket.id)
    assert [e.seq for e in events] == list(range(1, 8))
    assert events[0].prev_hash == GENESIS_HASH
    for earlier, later in pairwise(events):
        assert later.prev_hash == earlier.hash
    assert len({e.hash for e in events}) == 7


def test_chains_are_per_ticket(any_engine: Engine) -> None:
    first = _ticket_with_history(any_engine)
    second = new_ticket(any_engine)
    assert first.id is not None
    assert second.id is not None
    assert _verify(any_engine, second.id) == (True, 1, None, "")
    assert events_of(any_engine, second.id)[0].prev_hash == GENESIS_HASH


@pytest.mark.parametrize(
    "verb", ["UPDATE ticket_events SET note = 'x'", "DELETE FROM ticket_events"]
)
def test_database_refuses_to_edit_or_delete_events(any_engine: Engine, verb: str) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None

    with pytest.raises(DBAPIError, match="append-only"), any_engine.begin() as connection:
        connection.execute(text(f"{verb} WHERE ticket_id = :t AND seq = 3"), {"t": ticket.id})

    assert _verify(any_engine, ticket.id) == (True, 7, None, "")


def test_edited_note_is_detected_at_its_seq(any_engine: Engine) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None
    _allow_tampering(any_engine)

    with any_engine.begin() as connection:
        changed = connection.execute(
            text("UPDATE ticket_events SET note = :n WHERE ticket_id = :t AND seq = 4"),
            {"n": "已当场出具票据", "t": ticket.id},
        ).rowcount
    assert changed == 1

    assert _verify(any_engine, ticket.id) == (False, 7, 4, "event content changed")


def test_edit_with_recomputed_hash_breaks_the_next_link(any_engine: Engine) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None
    target = events_of(any_engine, ticket.id)[4]  # seq 5
    forged = event_hash(
        ticket_id=target.ticket_id,
        seq=target.seq,
        actor="staff:999",
        action=target.action,
        from_status=target.from_status,
        to_status=target.to_status,
        note=target.note,
        data=target.data,
        created_at=target.created_at,
        prev_hash=target.prev_hash,
    )
    _allow_tampering(any_engine)

    with any_engine.begin() as connection:
        connection.execute(
            text("UPDATE ticket_events SET actor = 'staff:999', hash = :h WHERE id = :id"),
            {"h": forged, "id": target.id},
        )

    assert _verify(any_engine, ticket.id) == (False, 7, 6, "link to previous event broken")


def test_deleted_event_is_detected_as_missing(any_engine: Engine) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None
    _allow_tampering(any_engine)

    with any_engine.begin() as connection:
        connection.execute(
            text("DELETE FROM ticket_events WHERE ticket_id = :t AND seq = 3"), {"t": ticket.id}
        )

    assert _verify(any_engine, ticket.id) == (False, 6, 3, "event missing")


def test_deleted_first_event_is_detected_as_missing(any_engine: Engine) -> None:
    ticket = _ticket_with_history(any_engine)
    assert ticket.id is not None
    _allow_tampering(any_engine)

    with any_engine.begin() as connection:
        connection.execute(
            text("DELETE FROM ticket_events WHERE ticket_id = :t AND seq = 1"), {"t": ticket.id}
        )

    assert _verify(any_engine, ticket.id) == (False, 6, 1, "event missing")


def test_chain_holds_when_the_caller_passes_beijing_time(any_engine: Engine) -> None:
    beijing = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    with transaction(any_engine) as session:
        ticket = create_ticket(session, draft=make_draft(), actor="driver", now=beijing)
    assert ticket.id is not None
    assert _verify(any_engine, ticket.id) == (True, 1, None, "")


def test_chain_holds_for_large_floats_in_event_data(pg_engine: Engine) -> None:
    ticket = new_ticket(pg_engine)
    with transaction(pg_engine) as session:
        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.NOTE,
            actor="system",
            now=NOW,
            data={"value": 1e20},
        )
    assert ticket.id is not None
    assert _verify(pg_engine, ticket.id) == (True, 2, None, "")
