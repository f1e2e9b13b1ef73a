"""Ticket creation, numbering, timestamps and the repeat-complaint lookup on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, func
from sqlalchemy.exc import StatementError
from sqlmodel import select
from storage_support import (
    NOW,
    events_of,
    load,
    make_complainant,
    make_draft,
    new_ticket,
    walk_to,
)

from storage.engine import transaction
from storage.lifecycle import TicketStatus
from storage.models import Ticket, TicketCounter
from storage.tickets import create_ticket, find_repeat_ticket, find_ticket, list_tickets
from storage.types import UTCDateTime

BEIJING = ZoneInfo("Asia/Shanghai")
NUMBER = re.compile(r"^TS\d{8}-\d{4}$")
WINDOW = timedelta(days=7)


# -- numbering --------------------------------------------------------------------------------


def test_numbers_follow_the_beijing_day_and_count_up(any_engine: Engine) -> None:
    before_midnight = datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
    after_midnight = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Beijing

    numbers = [
        new_ticket(any_engine, now=before_midnight).ticket_no,
        new_ticket(any_engine, now=after_midnight).ticket_no,
        new_ticket(any_engine, now=after_midnight + timedelta(hours=1)).ticket_no,
        new_ticket(any_engine, now=before_midnight - timedelta(hours=1)).ticket_no,
    ]

    assert all(NUMBER.match(n) for n in numbers), numbers
    assert numbers == [
        "TS20261123-0001",
        "TS20261124-0001",
        "TS20261124-0002",
        "TS20261123-0002",
    ]


def test_a_rolled_back_creation_leaves_no_gap(any_engine: Engine) -> None:
    first = new_ticket(any_engine)
    with pytest.raises(RuntimeError, match="intake crashed"), transaction(any_engine) as session:
        create_ticket(session, draft=make_draft(), actor="driver", now=NOW)
        raise RuntimeError("intake crashed")
    second = new_ticket(any_engine)

    assert (first.ticket_no, second.ticket_no) == ("TS20261123-0001", "TS20261123-0002")
    with transaction(any_engine) as session:
        counter = session.get(TicketCounter, "20261123")
        assert counter is not None
        assert counter.last == 2


def test_creation_writes_the_create_event(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine, severity="urgent")
    assert (ticket.status, ticket.version) == (TicketStatus.RECEIVED, 1)
    assert ticket.id is not None

    [event] = events_of(any_engine, ticket.id)
    assert (event.seq, event.action, event.actor) == (1, "create", "driver")
    assert (event.from_status, event.to_status) == (None, "received")
    assert event.data == {"kind": "complaint", "category": "fine_no_receipt", "severity": "urgent"}
    assert event.created_at == NOW


def test_draft_fields_are_stored(any_engine: Engine) -> None:
    ticket = new_ticket(
        any_engine,
        place_text="京港澳高速 G4 K123",
        plates=("冀A12345", "京B67890"),
        classification={"category": "fine_no_receipt", "score": 0.8},
        description="罚款不给票，态度恶劣",
    )

    stored = load(any_engine, ticket.ticket_no)
    assert stored.plates == ["冀A12345", "京B67890"]
    assert stored.classification == {"category": "fine_no_receipt", "score": 0.8}
    assert stored.place_text == "京港澳高速 G4 K123"
    assert stored.description == "罚款不给票，态度恶劣"


# -- timestamps -------------------------------------------------------------------------------


def test_datetimes_come_back_aware_in_utc(any_engine: Engine) -> None:
    occurred = datetime(2026, 11, 22, 21, 30, 15, 123456, tzinfo=BEIJING)
    created = datetime(2026, 11, 23, 2, 0, 0, 654321, tzinfo=UTC)
    ticket = new_ticket(any_engine, now=created, occurred_at=occurred)

    stored = load(any_engine, ticket.ticket_no)
    for value, expected in ((stored.created_at, created), (stored.occurred_at, occurred)):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == expected  # same instant, microseconds kept
    assert stored.occurred_at is not None
    assert stored.occurred_at.hour == 13  # 21:30 in Beijing is 13:30 UTC


def test_naive_datetime_is_refused_and_nothing_is_stored(any_engine: Engine) -> None:
    with (
        pytest.raises(StatementError, match="naive datetime") as refused,
        transaction(any_engine) as session,
    ):
        create_ticket(
            session,
            draft=make_draft(occurred_at=datetime(2026, 11, 22, 21, 30)),
            actor="driver",
            now=NOW,
        )
    assert isinstance(refused.value.orig, ValueError)

    with transaction(any_engine) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 0
        assert session.get(TicketCounter, "20261123") is None


def test_utc_column_type_refuses_naive_and_normalises_zones() -> None:
    column = UTCDateTime()
    # Engines are lazy: nothing connects, we only want their dialects.
    sqlite = create_engine("sqlite://").dialect
    postgres = create_engine("postgresql+psycopg://").dialect
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), sqlite)
    beijing_noon = datetime(2026, 1, 1, 12, tzinfo=BEIJING)
    assert column.process_bind_param(beijing_noon, sqlite) == datetime(2026, 1, 1, 4)
    assert column.process_bind_param(beijing_noon, postgres) == datetime(2026, 1, 1, 4, tzinfo=UTC)
    assert column.process_result_value(datetime(2026, 1, 1, 4), sqlite) == beijing_noon


# -- repeat complaints ------------------------------------------------------------------------


def _open_ticket_for(engine: Engine, complainant_id: int) -> Ticket:
    """The first complaint: a fine without receipt at a toll station, one plate."""
    return new_ticket(
        engine,
        complainant_id=complainant_id,
        place_text="京港澳高速 G4 K123 治超站",
        plates=("冀A12345",),
    )


@pytest.mark.parametrize(
    ("place_text", "plates"),
    [
        ("京港澳高速G4K123治超站", ()),
        ("京港澳高速，G4 - k123（治超站）", ()),
        ("别的地方", ("沪C00001", "冀A12345")),
        (None, ("冀A12345",)),
    ],
    ids=["place-without-spaces", "place-with-punctuation", "plate-overlap", "plate-only"],
)
def test_repeat_is_found_by_place_or_plate(
    any_engine: Engine, place_text: str | None, plates: tuple[str, ...]
) -> None:
    person = make_complainant(any_engine, "wx-openid-1")
    first = _open_ticket_for(any_engine, person)

    with transaction(any_engine) as session:
        repeat = find_repeat_ticket(
            session,
            complainant_id=person,
            category="fine_no_receipt",
            now=NOW + timedelta(days=2),
            window=WINDOW,
            place_text=place_text,
            plates=plates,
        )
    assert repeat is not None
    assert repeat.ticket_no == first.ticket_no


@pytest.mark.parametrize(
    "case",
    [
        "other-complainant",
        "other-category",
        "other-place-and-plate",
        "closed",
        "withdrawn",
        "outside-window",
    ],
)
def test_repeat_is_not_found(any_engine: Engine, case: str) -> None:
    person = make_complainant(any_engine, "wx-openid-1")
    other_person = make_complainant(any_engine, "wx-openid-2")
    first = _open_ticket_for(any_engine, person)
    if case in ("closed", "withdrawn"):
        walk_to(any_engine, first.ticket_no, TicketStatus(case))

    same_place, same_plates = "京港澳高速G4K123治超站", ("冀A12345",)
    if case == "other-place-and-plate":
        same_place, same_plates = "京昆高速 G5", ("沪C00001",)
    elapsed = WINDOW + timedelta(minutes=1) if case == "outside-window" else timedelta(days=1)
    with transaction(any_engine) as session:
        repeat = find_repeat_ticket(
            session,
            complainant_id=other_person if case == "other-complainant" else person,
            category="attitude" if case == "other-category" else "fine_no_receipt",
            now=NOW + elapsed,
            window=WINDOW,
            place_text=same_place,
            plates=same_plates,
        )
    assert repeat is None


def test_repeat_window_includes_its_last_minute(any_engine: Engine) -> None:
    person = make_complainant(any_engine, "wx-openid-1")
    first = _open_ticket_for(any_engine, person)

    with transaction(any_engine) as session:
        repeat = find_repeat_ticket(
            session,
            complainant_id=person,
            category="fine_no_receipt",
            now=NOW + WINDOW - timedelta(minutes=1),
            window=WINDOW,
            plates=("冀A12345",),
        )
    assert repeat is not None
    assert repeat.ticket_no == first.ticket_no


def test_repeat_prefers_the_newest_open_ticket(any_engine: Engine) -> None:
    person = make_complainant(any_engine, "wx-openid-1")
    older = _open_ticket_for(any_engine, person)
    newer = new_ticket(
        any_engine,
        now=NOW + timedelta(hours=1),
        complainant_id=person,
        place_text="京港澳高速G4K123治超站",
    )

    with transaction(any_engine) as session:
        repeat = find_repeat_ticket(
            session,
            complainant_id=person,
            category="fine_no_receipt",
            now=NOW + timedelta(hours=2),
            window=WINDOW,
            place_text="京港澳高速 G4 K123 治超站",
        )
    assert repeat is not None
    assert repeat.ticket_no == newer.ticket_no != older.ticket_no


# -- lookups ----------------------------------------------------------------------------------


def test_find_and_list_tickets(any_engine: Engine) -> None:
    made = [new_ticket(any_engine, now=NOW + timedelta(minutes=i)).ticket_no for i in range(5)]
    walk_to(any_engine, made[1], TicketStatus.VERIFYING)
    walk_to(any_engine, made[3], TicketStatus.VERIFYING)

    with transaction(any_engine) as session:
        assert find_ticket(session, ticket_no="TS20991231-0001") is None
        found = find_ticket(session, ticket_no=made[2])
        assert found is not None
        assert found.ticket_no == made[2]
        assert [t.ticket_no for t in list_tickets(session)] == made[::-1]
        assert [t.ticket_no for t in list_tickets(session, limit=2, offset=1)] == made[3:1:-1]
        verifying = list_tickets(session, status="verifying")
        assert [t.ticket_no for t in verifying] == [made[3], made[1]]
