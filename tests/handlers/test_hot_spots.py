"""Hot spots: N complaints about one unit, station, road or officer within M days, warned once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from ops_support import file_ticket, load_city, recipients
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers.hot_spots import detect_hot_spots
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.models import OutboxMessage
from storage.models_ops import HotSpot

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """The sample city on both backends."""
    load_city(any_engine, START)
    return any_engine


def detect(engine: Engine, now: datetime, calendar: WorkCalendar) -> list[tuple[str, str, int]]:
    """Run detection in one transaction; (kind, label, tickets) of the new hot spots."""
    with transaction(engine) as session:
        found = detect_hot_spots(session, now=now, min_count=3, window_days=30, calendar=calendar)
        return [(s.kind, s.label, len(s.ticket_ids)) for s in found]


def warnings(engine: Engine) -> list[OutboxMessage]:
    """Hot-spot warnings queued so far."""
    with Session(engine) as session:
        query = select(OutboxMessage).where(
            col(OutboxMessage.idempotency_key).like("notice:hotspot:%")
        )
        return list(session.exec(query).all())


def complaints(engine: Engine, calendar: WorkCalendar, places: list[str], **fields) -> list[str]:
    """One complaint per place, a day apart from START."""
    return [
        file_ticket(
            engine, now=START + timedelta(days=i), calendar=calendar, place_text=place, **fields
        ).ticket_no
        for i, place in enumerate(places)
    ]


def test_unit_hot_spot_warns_its_supervisors_once(city: Engine, calendar: WorkCalendar) -> None:
    numbers = complaints(city, calendar, ["西山收费站"] * 3, category="abusive")
    now = START + timedelta(days=3)
    assert detect(city, now, calendar) == [("unit", "示例市交通运输综合执法支队二大队", 3)]
    rows = warnings(city)
    assert recipients(city, rows) == {"wang.fzk", "zhao.fzk"}
    text = rows[0].payload["replies"][0]["text"]
    assert all(n in text for n in numbers) and "近 30 天内被投诉 3 次" in text
    assert detect(city, now + timedelta(hours=1), calendar) == []
    # A fourth complaint joins the same hot spot without a second warning.
    file_ticket(
        city,
        now=now + timedelta(days=1),
        calendar=calendar,
        place_text="西山收费站",
        category="abusive",
    )
    assert detect(city, now + timedelta(days=2), calendar) == []
    assert len(warnings(city)) == len(rows)
    with Session(city) as session:
        spot = session.exec(select(HotSpot).where(HotSpot.kind == "unit")).one()
    assert len(spot.ticket_ids) == 4


def test_two_complaints_are_no_hot_spot(city: Engine, calendar: WorkCalendar) -> None:
    complaints(city, calendar, ["西山收费站"] * 2, category="abusive")
    assert detect(city, START + timedelta(days=3), calendar) == []


def test_station_known_by_several_names_is_one_hot_spot(city: Engine, calendar) -> None:
    places = ["北岭超限检测站", "北岭超限站门口", "北岭治超站"]
    complaints(city, calendar, places, category="infrastructure", description="路面坑洼")
    assert detect(city, START + timedelta(days=3), calendar) == [("station", "北岭治超站", 3)]


def test_road_and_officer_hot_spots(city: Engine, calendar: WorkCalendar) -> None:
    places = ["G4京港澳高速西山收费站", "g4 东湖收费站", "京港澳高速G4北岭收费站"]
    complaints(city, calendar, places, category="service", badges=("HN12345",))
    found = detect(city, START + timedelta(days=3), calendar)
    assert ("road", "G4", 3) in found and ("badge", "HN12345", 3) in found


def test_outside_the_window_and_sealed_clues_do_not_count(city: Engine, calendar) -> None:
    for days in (0, 20, 45):  # never three within 30 days
        file_ticket(
            city,
            now=START + timedelta(days=days),
            calendar=calendar,
            place_text="西山收费站",
            category="abusive",
        )
    complaints(city, calendar, ["东湖收费站"] * 3, category="rent_seeking")
    assert detect(city, START + timedelta(days=46), calendar) == []


def test_a_new_surge_after_a_quiet_window_is_warned_again(city: Engine, calendar) -> None:
    complaints(city, calendar, ["西山收费站"] * 3, category="abusive")
    assert len(detect(city, START + timedelta(days=3), calendar)) == 1
    later = START + timedelta(days=60)
    for i in range(3):
        file_ticket(
            city,
            now=later + timedelta(days=i),
            calendar=calendar,
            place_text="西山收费站",
            category="abusive",
        )
    assert len(detect(city, later + timedelta(days=3), calendar)) == 1
    with Session(city) as session:
        assert len(session.exec(select(HotSpot)).all()) == 2


@pytest.mark.postgres
def test_two_replicas_warn_once(pg_engine: Engine, calendar: WorkCalendar) -> None:
    load_city(pg_engine, START)
    complaints(pg_engine, calendar, ["西山收费站"] * 3, category="abusive")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            barrier.wait(timeout=30)
            detect(pg_engine, START + timedelta(days=3), calendar)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with Session(pg_engine) as session:
        assert len(session.exec(select(HotSpot)).all()) == 1
    assert len(warnings(pg_engine)) == 2  # wang.fzk and zhao.fzk, once each
