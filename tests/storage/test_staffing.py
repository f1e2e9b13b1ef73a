"""The staffing repository: binding codes, staff lookups, routing rules, uniqueness guards."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from storage_support import new_ticket

from storage.engine import transaction
from storage.models import Staff, Unit
from storage.models_ops import BindingCode, Escalation, HotSpot
from storage.staffing import (
    BindingRefused,
    RuleSpec,
    duty_supervisors,
    issue_binding_code,
    jurisdiction,
    redeem_binding_code,
    replace_routing_rules,
    staff_by_channel,
    supervising_unit,
    supervisors_over,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)


def make_units(engine: Engine) -> dict[str, int]:
    """法制科 supervising a brigade with a station under it, and an unrelated unit."""
    with transaction(engine) as session:
        city = Unit(code="ZD", name="支队", kind="city")
        session.add(city)
        session.flush()
        legal = Unit(code="FZK", name="法制科", kind="legal", parent_id=city.id)
        session.add(legal)
        session.flush()
        brigade = Unit(code="DD1", name="一大队", parent_id=city.id, supervising_unit_id=legal.id)
        session.add(brigade)
        session.flush()
        station = Unit(code="ZCZ", name="治超站", kind="station", parent_id=brigade.id)
        other = Unit(code="WS", name="外市")
        session.add_all([station, other])
        session.flush()
        return {u.code: u.id or 0 for u in (city, legal, brigade, station, other)}


def make_staff(engine: Engine, username: str, role: str, unit: int | None, **extra: object) -> int:
    """Insert a staff member and return the id."""
    with transaction(engine) as session:
        person = Staff(username=username, display_name=username, role=role, unit_id=unit, **extra)
        session.add(person)
        session.flush()
        return person.id or 0


def redeem(
    engine: Engine, code: str, *, channel: str = "telegram", user: str = "555", now: datetime = NOW
) -> Staff:
    """Redeem in its own transaction."""
    with transaction(engine) as session:
        return redeem_binding_code(
            session, code=code, channel=channel, channel_user_id=user, now=now
        )


def issue(engine: Engine, staff_id: int, **kwargs: object) -> str:
    """Issue in its own transaction."""
    with transaction(engine) as session:
        return issue_binding_code(session, staff_id=staff_id, now=NOW, ttl=TTL, **kwargs)  # type: ignore[arg-type]


def test_only_the_hash_of_a_code_is_stored(any_engine: Engine) -> None:
    person = make_staff(any_engine, "li", "handler", None)
    code = issue(any_engine, person)
    assert len(code) == 8 and code.isdigit()
    with any_engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM binding_codes")).one()
    assert code not in " ".join(str(v) for v in stored)


def test_a_code_binds_once(any_engine: Engine) -> None:
    person = make_staff(any_engine, "li", "handler", None)
    code = issue(any_engine, person)
    assert redeem(any_engine, code).telegram_chat_id == "555"
    with pytest.raises(BindingRefused) as reused:
        redeem(any_engine, code, user="666")
    assert reused.value.reason == "used"
    with Session(any_engine) as session:
        assert session.get(Staff, person).telegram_chat_id == "555"  # type: ignore[union-attr]
        assert staff_by_channel(session, channel="telegram", channel_user_id="555") is not None


@pytest.mark.parametrize(
    ("setup", "kwargs", "reason"),
    [
        ({}, {"now": NOW + TTL}, "expired"),  # expiry is exclusive
        ({}, {"channel": "web"}, "channel"),  # no staff notices on the web chat
        ({"channel": "wechat"}, {"channel": "telegram"}, "channel"),
        ({}, {"code_override": "12345678"}, "unknown"),
    ],
)
def test_refused_codes_change_nothing(any_engine, setup, kwargs, reason) -> None:
    person = make_staff(any_engine, "li", "handler", None)
    code = issue(any_engine, person, **setup)
    kwargs = dict(kwargs)  # the parameter dict is shared between the two backends' runs
    code = kwargs.pop("code_override", code)
    with pytest.raises(BindingRefused) as refused:
        redeem(any_engine, code, **kwargs)
    assert refused.value.reason == reason
    with Session(any_engine) as session:
        assert session.exec(select(BindingCode)).one().used_at is None
        person_row = session.get(Staff, person)
        assert person_row is not None and person_row.telegram_chat_id is None


def test_inactive_staff_and_taken_accounts_are_refused(any_engine: Engine) -> None:
    gone = make_staff(any_engine, "gone", "handler", None, active=False)
    with pytest.raises(BindingRefused, match="inactive"):
        redeem(any_engine, issue(any_engine, gone))
    make_staff(any_engine, "holder", "handler", None, telegram_chat_id="555")
    other = make_staff(any_engine, "other", "handler", None)
    with pytest.raises(BindingRefused, match="taken"):
        redeem(any_engine, issue(any_engine, other))


def test_bad_issue_arguments(any_engine: Engine) -> None:
    person = make_staff(any_engine, "li", "handler", None)
    with transaction(any_engine) as session, pytest.raises(ValueError, match="channel"):
        issue_binding_code(session, staff_id=person, now=NOW, ttl=TTL, channel="sms")
    with transaction(any_engine) as session, pytest.raises(ValueError, match="lifetime"):
        issue_binding_code(session, staff_id=person, now=NOW, ttl=timedelta(0))


@pytest.mark.postgres
def test_two_redeemers_of_one_code_one_wins(pg_engine: Engine) -> None:
    code = issue(pg_engine, make_staff(pg_engine, "li", "handler", None))
    barrier, outcomes = threading.Barrier(2), []

    def attempt(user: str) -> None:
        barrier.wait(timeout=30)
        try:
            redeem(pg_engine, code, user=user)
            outcomes.append("bound")
        except BindingRefused as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt, args=(u,)) for u in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["bound", "used"]


def test_supervision_and_jurisdiction(any_engine: Engine) -> None:
    units = make_units(any_engine)
    make_staff(any_engine, "wang", "supervisor", units["FZK"])
    make_staff(any_engine, "zhao", "supervisor", units["FZK"], on_duty=True)
    make_staff(any_engine, "far", "supervisor", units["WS"])
    with Session(any_engine) as session:
        body = supervising_unit(session, unit_id=units["ZCZ"])  # through its parent
        assert body is not None and body.code == "FZK"
        assert supervising_unit(session, unit_id=units["FZK"]) is None
        assert jurisdiction(session, unit_id=units["FZK"]) == {
            units["FZK"],
            units["DD1"],
            units["ZCZ"],
        }
        assert jurisdiction(session, unit_id=units["ZD"]) == set(units.values()) - {units["WS"]}
        assert {s.username for s in supervisors_over(session, unit_id=units["ZCZ"])} == {
            "wang",
            "zhao",
        }
        # Nobody up the tree: every supervisor rather than nobody.
        assert len(supervisors_over(session, unit_id=units["WS"])) == 3
        assert [s.username for s in duty_supervisors(session)] == ["zhao"]


def test_duty_falls_back_to_every_supervisor(any_engine: Engine) -> None:
    units = make_units(any_engine)
    make_staff(any_engine, "wang", "supervisor", units["FZK"])
    with Session(any_engine) as session:
        assert [s.username for s in duty_supervisors(session)] == ["wang"]


def test_replacing_routing_rules_counts_changes(any_engine: Engine) -> None:
    units = make_units(any_engine)
    rules = [
        RuleSpec(priority=10, unit_id=units["FZK"], category="abusive"),
        RuleSpec(priority=20, unit_id=units["DD1"], domain="taxi"),
    ]
    with transaction(any_engine) as session:
        assert replace_routing_rules(session, rules=rules, now=NOW) == (2, 0, 0)
    with transaction(any_engine) as session:
        assert replace_routing_rules(session, rules=rules, now=NOW) == (0, 0, 2)
    with transaction(any_engine) as session:
        assert replace_routing_rules(session, rules=rules[:1], now=NOW) == (0, 1, 1)


def test_escalation_and_hot_spot_rows_are_unique(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    with transaction(any_engine) as session:
        session.add(Escalation(ticket_id=ticket.id or 0, level="red", deadline=NOW))
    with pytest.raises(IntegrityError), transaction(any_engine) as session:
        session.add(Escalation(ticket_id=ticket.id or 0, level="red", deadline=NOW))
    with transaction(any_engine) as session:  # a new deadline is a new card
        session.add(Escalation(ticket_id=ticket.id or 0, level="red", deadline=NOW + TTL))
    spot = {"kind": "road", "key": "G4", "window_start": NOW, "first_seen": NOW, "last_seen": NOW}
    with transaction(any_engine) as session:
        session.add(HotSpot(**spot))
    with pytest.raises(IntegrityError), transaction(any_engine) as session:
        session.add(HotSpot(**spot))
