"""Routing: every rule, the conflict rule, sealed discipline clues, and no identity to units."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from intake_support import answer_until_summary
from ops_support import load_city, recipients, staff_outbox, unit_id
from sqlalchemy import Engine
from sqlmodel import Session, select

from handlers.routing import RoutingDecision, route, route_draft
from storage.engine import transaction
from storage.models import Complainant, IdentityRead, Ticket, Unit
from storage.tickets import TicketDraft

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """The sample city on both backends."""
    load_city(any_engine, NOW)
    return any_engine


def decide(engine: Engine, **given: object) -> RoutingDecision:
    """Route with defaults for whatever the test does not set."""
    values: dict[str, object] = {
        "category": "other",
        "subcategory": None,
        "domain": None,
        "place_text": None,
        "accused_text": None,
        "source_unit_code": None,
        "region": None,
    }
    values.update(given)
    with transaction(engine) as session:
        return route(session, **values)  # type: ignore[arg-type]


def test_traffic_police_stays_out_of_jurisdiction(city: Engine) -> None:
    decision = decide(city, category="abusive", out_of_jurisdiction="traffic_police")
    assert decision == RoutingDecision(None, False, None, "out_of_jurisdiction")


def test_rent_seeking_goes_sealed_to_discipline_only(city: Engine) -> None:
    decision = decide(city, category="rent_seeking", accused_text="二大队的人要红包")
    assert decision.unit_id == unit_id(city, "JJZ")
    assert decision.sealed and decision.reason == "discipline"
    assert decision.accused_unit_id == unit_id(city, "DD2")


def test_classifier_bribery_clue_stays_sealed_when_driver_picks_another_category(
    city: Engine,
) -> None:
    decision = decide(city, category="abusive", classifier_category="rent_seeking")
    assert decision.sealed and decision.unit_id == unit_id(city, "JJZ")


def test_sealed_clue_without_discipline_unit_is_left_unrouted(any_engine: Engine) -> None:
    with transaction(any_engine) as session:
        session.add(Unit(code="DD9", name="某大队"))
    decision = decide(any_engine, category="rent_seeking")
    assert decision == RoutingDecision(None, True, None, "discipline")


@pytest.mark.parametrize(
    ("given", "accused"),
    [
        ({"source_unit_code": "ZCZ"}, "ZCZ"),  # QR code at the station
        ({"accused_text": "北岭超限站的工作人员"}, "ZCZ"),  # an alias
        ({"accused_text": "市交通运输综合执法支队二大队，执法证号 HN12345"}, "DD2"),
        ({"accused_text": "示例市交通运输综合执法支队一大队"}, "DD1"),  # full name
        ({"place_text": "G4京港澳高速西山收费站"}, "DD2"),  # a station in the patch
        ({"place_text": "北岭治超站门口"}, "ZCZ"),  # the station unit itself
        ({"place_text": "三大队北岭治超站"}, "ZCZ"),  # the most specific unit
    ],
)
@pytest.mark.parametrize("category", ["profit_driven", "irregular", "rigid", "abusive"])
def test_complaint_about_a_unit_goes_to_its_supervising_body_never_to_it(
    city: Engine, given: dict[str, str], accused: str, category: str
) -> None:
    decision = decide(city, category=category, **given)
    assert decision.reason == "conflict"
    assert decision.accused_unit_id == unit_id(city, accused)
    assert decision.unit_id == unit_id(city, "FZK")
    assert decision.unit_id != decision.accused_unit_id and not decision.sealed


def test_non_enforcement_complaint_naming_a_unit_in_the_accused_slot_is_a_conflict(
    city: Engine,
) -> None:
    decision = decide(city, category="service", accused_text="一大队办证窗口")
    assert (decision.reason, decision.unit_id) == ("conflict", unit_id(city, "FZK"))


def test_complaint_about_the_supervising_body_is_never_routed_to_it(city: Engine) -> None:
    decision = decide(city, category="abusive", accused_text="法制科的人态度恶劣")
    assert decision.accused_unit_id == unit_id(city, "FZK")
    # FZK is also the default unit: the default is skipped, a person triages it.
    assert decision.unit_id is None and decision.reason == "unrouted"


def test_unit_without_own_supervising_body_uses_its_parents(city: Engine) -> None:
    with transaction(city) as session:
        session.add(Unit(code="ZD1", name="东湖中队", parent_id=unit_id(city, "DD1")))
    decision = decide(city, category="abusive", accused_text="东湖中队")
    assert decision.unit_id == unit_id(city, "FZK")
    assert decision.accused_unit_id == unit_id(city, "ZD1")


@pytest.mark.parametrize(
    ("given", "unit"),
    [
        ({"category": "profit_driven", "place_text": "某条乡道"}, "FZK"),  # category rule
        ({"category": "infrastructure", "region": "西山区"}, "DD2"),  # region rule
        (
            {"category": "infrastructure", "place_text": "西山收费站出口坑洼"},
            "DD2",
        ),  # region of place
        ({"category": "service", "place_text": "西山服务区"}, "DD2"),  # station rule
        ({"category": "service", "domain": "taxi"}, "DD1"),  # domain rule
        ({"category": "service", "subcategory": "illegal_operation"}, "DD1"),  # subcategory
    ],
)
def test_routing_rules_match_their_fields(city: Engine, given: dict[str, str], unit: str) -> None:
    decision = decide(city, **given)
    assert (decision.reason, decision.unit_id) == ("rule", unit_id(city, unit))


def test_rules_are_tried_by_priority(city: Engine) -> None:
    with transaction(city) as session:
        from storage.models_ops import RoutingRule

        session.add(RoutingRule(priority=5, domain="taxi", unit_id=unit_id(city, "DD3")))
    decision = decide(city, category="service", domain="taxi")
    assert decision.unit_id == unit_id(city, "DD3")


def test_place_decides_when_no_rule_matches(city: Engine) -> None:
    decision = decide(city, category="other", place_text="北岭收费站")
    assert (decision.reason, decision.unit_id) == ("place", unit_id(city, "DD3"))


def test_default_unit_catches_the_rest(city: Engine) -> None:
    decision = decide(city, category="other", place_text="不知道哪里")
    assert (decision.reason, decision.unit_id) == ("default", unit_id(city, "FZK"))


def test_nothing_configured_leaves_the_ticket_unrouted(any_engine: Engine) -> None:
    assert decide(any_engine, category="service") == RoutingDecision(None, False, None, "unrouted")


def test_route_draft_sets_unit_and_seal(city: Engine) -> None:
    draft = TicketDraft(
        kind="complaint", category="abusive", severity="normal", channel="web", description="x"
    )
    data = {"facts": {"accused": "二大队"}, "classification": {"category": "rent_seeking"}}
    with transaction(city) as session:
        routed, decision = route_draft(session, draft=draft, data=data)
    assert routed.unit_id == unit_id(city, "JJZ") and routed.sealed
    assert decision.accused_unit_id == unit_id(city, "DD2")


# ---------------------------------------------------------------- confidentiality end to end

NAME, PHONE, OTHER_PHONE, PLATE = "王大明", "13812345678", "13987654321", "湘A3K921"


def test_no_message_to_staff_carries_the_complainants_identity(chat, sqlite_engine, clock):
    load_city(sqlite_engine, clock.now)
    with transaction(sqlite_engine) as session:
        # The driver filed before under their name: the identity row already holds it.
        session.add(Complainant(channel="test", channel_user_id=chat.user, name=NAME))
    text = (
        f"昨天下午在西山收费站被二大队罚款两千元不给票，我是{NAME}，"
        f"有事打我电话{OTHER_PHONE}，我的车{PLATE}到现在还被扣着"
    )
    replies = chat.send(text)
    replies = chat.press("real_name")
    if replies[-1].key == "intake.ask_confirm_category":
        replies = chat.press("yes")
    elif replies[-1].key == "intake.uncertain":
        replies = chat.press("profit_driven")
    _asked, replies = answer_until_summary(chat, replies)
    replies = chat.press("submit")
    assert replies[0].key == "intake.created"
    with Session(sqlite_engine) as session:
        ticket = session.exec(select(Ticket)).one()
        person = session.exec(select(Complainant)).one()
        reads = session.exec(select(IdentityRead)).all()
    assert person.phone in (PHONE, OTHER_PHONE) and person.own_plate == PLATE
    assert ticket.unit_id == unit_id(sqlite_engine, "FZK")  # never 二大队 itself
    assert ticket.accused_unit_id == unit_id(sqlite_engine, "DD2")
    rows = staff_outbox(sqlite_engine)
    assert rows, "the handling unit was told"
    assert recipients(sqlite_engine, rows) <= {"qian.fzk", "wang.fzk", "zhao.fzk"}
    for row in rows:
        payload = json.dumps(row.payload, ensure_ascii=False)
        for secret in (NAME, PHONE, OTHER_PHONE, PLATE, chat.user):
            assert secret not in payload, f"{secret} leaked to {row.recipient}"
        assert "西山收费站" in payload and ticket.ticket_no in payload  # facts and place stay
    # Reading the identity to scrub it was itself logged.
    assert any(r.reason == "redact identity from a unit notice" for r in reads)
