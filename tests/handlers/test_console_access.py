"""Console visibility, identity rules, queues, keyset pages, category correction, dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ops_support import file_ticket, load_city, load_ticket, staff_id, unit_id
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers import staff_actions as act
from handlers.console_access import (
    IdentityRefused,
    identity_refusal,
    show_identity,
    view_ticket,
    visibility,
)
from handlers.console_actions import perform, recategorize
from handlers.console_dashboard import dashboard
from handlers.console_queries import (
    Filters,
    QueueRefused,
    clean_filters,
    queue_page,
    queues_for,
)
from handlers.context import Rules
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.errors import TicketNotFound
from storage.lifecycle import Action
from storage.models import Complainant, IdentityRead, OutboxMessage, Staff, Ticket, TicketEvent

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
TZ = ZoneInfo("Asia/Shanghai")
STAFF = (
    "admin",
    "wang.fzk",
    "qian.fzk",
    "sun.jjz",
    "li.dd1",
    "zhou.dd1",
    "chen.dd2",
    "wu.dd2",
    "zheng.dd3",
    "feng.dd3",
    "he.zcz",
)
ACCUSED = {"category": "irregular", "data": {"facts": {"accused": "北岭治超站"}}}


def driver(engine: Engine, anonymity: str = "real_name", user: str = "d1") -> int:
    """A complainant on the fake channel."""
    with transaction(engine) as session:
        person = Complainant(
            channel="test",
            channel_user_id=user,
            anonymity=anonymity,
            name=None if anonymity == "anonymous" else "刘师傅",
            phone=None if anonymity == "anonymous" else "13812345678",
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id


def build_world(engine: Engine, calendar: WorkCalendar) -> tuple[Engine, dict[str, str]]:
    """The sample city with one ticket of every kind that matters for visibility."""
    load_city(engine, NOW)
    me = driver(engine)

    def new(**fields: Any) -> str:
        return file_ticket(
            engine, now=NOW, calendar=calendar, complainant_id=me, **fields
        ).ticket_no

    tickets = {
        "dd2": new(classification={"category": "service", "explanation": "加油站 多收费"}),
        "dd1": new(domain="taxi", place_text="东湖汽车站"),
        "accused": new(**ACCUSED),
        "sealed": new(category="rent_seeking", data={"facts": {"accused": "北岭治超站"}}),
        "to_dd1": new(),
        "unrouted": new(out_of_jurisdiction="traffic_police"),
    }
    chen = staff_id(engine, "chen.dd2")
    with transaction(engine) as session:
        act.transfer(
            session,
            staff_id=chen,
            ticket_no=tickets["to_dd1"],
            to_unit="DD1",
            reason="属一大队辖区",
            now=NOW,
            calendar=calendar,
        )
    return engine, tickets


@pytest.fixture
def world(any_engine: Engine, calendar: WorkCalendar) -> tuple[Engine, dict[str, str]]:
    """The visibility world on both backends."""
    return build_world(any_engine, calendar)


@pytest.fixture
def sqlite_world(sqlite_engine: Engine, calendar: WorkCalendar) -> tuple[Engine, dict[str, str]]:
    """The visibility world on SQLite (the rule itself is checked on both backends above)."""
    return build_world(sqlite_engine, calendar)


def test_the_queue_rule_is_the_authorize_rule(world: tuple[Engine, dict[str, str]]) -> None:
    engine, tickets = world
    ids = {who: staff_id(engine, who) for who in STAFF}
    mismatches = []
    with transaction(engine) as session:
        for who, person_id in ids.items():
            person = session.get(Staff, person_id)
            assert person is not None
            listed = set(
                session.exec(select(Ticket.ticket_no).where(visibility(session, person))).all()
            )
            for number in tickets.values():
                try:
                    view_ticket(session, staff_id=person_id, ticket_no=number)
                    opens = True
                except act.PermissionDenied:
                    opens = False
                if opens != (number in listed):
                    mismatches.append((who, number, opens))
            for queue in queues_for(person):
                for late in (NOW, NOW + timedelta(days=40)):
                    page = queue_page(
                        session, person=person, queue=queue, filters=Filters(), now=late, tz=TZ
                    )
                    extra = {row.ticket_no for row in page.rows} - listed
                    if extra:
                        mismatches.append((who, queue, extra))
    assert mismatches == []


@pytest.mark.parametrize(
    ("who", "kind", "opens"),
    [
        ("chen.dd2", "dd2", True),
        ("chen.dd2", "dd1", False),
        ("li.dd1", "to_dd1", True),  # the unit a transfer waits on may open it to accept
        ("he.zcz", "accused", False),  # the accused unit never sees the complaint about it
        ("feng.dd3", "accused", False),
        ("qian.fzk", "accused", True),  # its supervising body handles it
        ("wang.fzk", "sealed", False),  # supervisors never see sealed clues
        ("sun.jjz", "sealed", True),
        ("sun.jjz", "dd2", False),
        ("admin", "sealed", True),
        ("admin", "unrouted", True),
        ("wang.fzk", "unrouted", False),
    ],
)
def test_who_opens_what(
    sqlite_world: tuple[Engine, dict[str, str]], who: str, kind: str, opens: bool
) -> None:
    engine, tickets = sqlite_world
    person = staff_id(engine, who)
    with transaction(engine) as session:
        if opens:
            view_ticket(session, staff_id=person, ticket_no=tickets[kind])
        else:
            with pytest.raises(act.PermissionDenied):
                view_ticket(session, staff_id=person, ticket_no=tickets[kind])


def test_an_unknown_ticket_is_not_found(world: tuple[Engine, dict[str, str]]) -> None:
    engine, _ = world
    admin = staff_id(engine, "admin")
    with transaction(engine) as session, pytest.raises(TicketNotFound):
        view_ticket(session, staff_id=admin, ticket_no="TS20991231-9999")


@pytest.mark.parametrize(
    ("who", "kind", "anonymity", "refusal"),
    [
        ("wang.fzk", "dd2", "real_name", None),
        ("admin", "dd2", "real_name", None),
        ("chen.dd2", "dd2", "real_name", "role"),  # handlers answer through the reply action
        ("wu.dd2", "dd2", "real_name", "role"),
        ("wang.fzk", "dd2", "confidential", None),
        ("admin", "dd2", "confidential", "role"),
        ("wang.fzk", "dd2", "anonymous", "anonymous"),
        ("admin", "dd2", "anonymous", "anonymous"),
        ("sun.jjz", "sealed", "real_name", None),
        ("sun.jjz", "sealed", "confidential", None),
        ("admin", "sealed", "real_name", "sealed"),
        ("qian.fzk", "accused", "real_name", "role"),
        ("wang.fzk", "accused", "real_name", None),
    ],
)
def test_who_may_read_identity(
    sqlite_world: tuple[Engine, dict[str, str]],
    who: str,
    kind: str,
    anonymity: str,
    refusal: str | None,
) -> None:
    engine, tickets = sqlite_world
    viewer_id = staff_id(engine, who)
    with transaction(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == tickets[kind])).one()
        ticket.anonymity = anonymity
        person = session.get(Complainant, ticket.complainant_id)
        assert person is not None
        person.anonymity = anonymity
        viewer = session.get(Staff, viewer_id)
        assert viewer is not None
        assert identity_refusal(session, viewer, ticket) == refusal


def test_the_accused_unit_is_refused_identity_even_when_it_could_open(
    world: tuple[Engine, dict[str, str]],
) -> None:
    engine, tickets = world
    fzk, viewer_id = unit_id(engine, "FZK"), staff_id(engine, "wang.fzk")
    with transaction(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == tickets["dd2"])).one()
        ticket.accused_unit_id = fzk  # pretend 法制科 itself is accused
        viewer = session.get(Staff, viewer_id)
        assert viewer is not None
        assert identity_refusal(session, viewer, ticket) == "accused_unit"


def test_showing_identity_is_logged_with_the_reason(world: tuple[Engine, dict[str, str]]) -> None:
    engine, tickets = world
    boss, handler = staff_id(engine, "wang.fzk"), staff_id(engine, "chen.dd2")
    with transaction(engine) as session:
        with pytest.raises(IdentityRefused) as no_reason:
            show_identity(session, staff_id=boss, ticket_no=tickets["dd2"], reason=" ", now=NOW)
        assert no_reason.value.reason == "reason"
    with transaction(engine) as session:
        shown = show_identity(
            session, staff_id=boss, ticket_no=tickets["dd2"], reason="电话回访核实情况", now=NOW
        )
    assert shown.name == "刘师傅" and shown.phone == "13812345678"
    ticket = load_ticket(engine, tickets["dd2"])
    with Session(engine) as session:
        reads = session.exec(select(IdentityRead).where(IdentityRead.actor == f"staff:{boss}"))
        assert [r.reason for r in reads] == ["电话回访核实情况"]
        event = session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(col(TicketEvent.seq).desc())
        ).first()
        assert event is not None
        assert (event.action, event.actor, event.note) == (
            Action.IDENTITY_READ.value,
            f"staff:{boss}",
            "电话回访核实情况",
        )
    with transaction(engine) as session, pytest.raises(IdentityRefused):
        show_identity(
            session,
            staff_id=handler,
            ticket_no=tickets["dd2"],
            reason="想知道是谁",
            now=NOW,
        )


def page_of(engine: Engine, who: str, queue: str, **kwargs: Any) -> list[str]:
    """Ticket numbers of the first page of a queue."""
    person_id = staff_id(engine, who)
    with transaction(engine) as session:
        person = session.get(Staff, person_id)
        assert person is not None
        page = queue_page(
            session,
            person=person,
            queue=queue,
            filters=kwargs.pop("filters", Filters()),
            now=kwargs.pop("now", NOW),
            tz=TZ,
            **kwargs,
        )
        return [row.ticket_no for row in page.rows]


def test_queues(world: tuple[Engine, dict[str, str]]) -> None:
    engine, t = world
    # Still 二大队's while 一大队 has not accepted it; 一大队 sees it as incoming.
    assert page_of(engine, "chen.dd2", "unit") == [t["to_dd1"], t["dd2"]]
    assert page_of(engine, "li.dd1", "incoming") == [t["to_dd1"]]
    assert page_of(engine, "chen.dd2", "mine") == []
    assert page_of(engine, "sun.jjz", "discipline") == [t["sealed"]]
    assert page_of(engine, "chen.dd2", "overdue") == []
    late = NOW + timedelta(days=40)
    assert page_of(engine, "chen.dd2", "overdue", now=late) == [t["to_dd1"], t["dd2"]]
    assert set(page_of(engine, "wang.fzk", "overdue", now=late)) == {
        t["dd2"],
        t["dd1"],
        t["accused"],
        t["to_dd1"],
    }
    ticket = load_ticket(engine, t["dd2"])
    assert ticket.yellow_at is not None and ticket.due_at is not None
    assert page_of(engine, "wu.dd2", "due_soon", now=ticket.yellow_at) == [t["to_dd1"], t["dd2"]]
    with pytest.raises(QueueRefused):
        page_of(engine, "chen.dd2", "discipline")
    filtered = Filters(category="irregular")
    assert page_of(engine, "wang.fzk", "all", filters=filtered) == [t["accused"]]


def test_malformed_filters_and_cursors_are_ignored(world: tuple[Engine, dict[str, str]]) -> None:
    engine, t = world
    filters = clean_filters(
        {"status": "x' OR 1=1", "category": "<b>", "unit": "1 OR 1", "from": "yesterday"}
    )
    assert filters == Filters()
    for cursor in ("c99999999999999999999_1", "garbage", "c1_1; DROP TABLE tickets", "i-1"):
        assert page_of(engine, "chen.dd2", "all", cursor=cursor) in ([t["to_dd1"], t["dd2"]], [])


def test_keyset_pages_walk_every_ticket_once(any_engine: Engine, calendar: WorkCalendar) -> None:
    load_city(any_engine, NOW)
    made = [
        file_ticket(any_engine, now=NOW + timedelta(minutes=i // 3), calendar=calendar).ticket_no
        for i in range(11)  # three tickets per minute: equal created_at, ordered by id
    ]
    seen: list[str] = []
    cursor = None
    person_id = staff_id(any_engine, "chen.dd2")
    with transaction(any_engine) as session:
        person = session.get(Staff, person_id)
        assert person is not None
        while True:
            page = queue_page(
                session,
                person=person,
                queue="unit",
                filters=Filters(),
                now=NOW,
                tz=TZ,
                cursor=cursor,
                page_size=4,
            )
            seen += [r.ticket_no for r in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == list(reversed(made))


def test_correcting_the_category_is_classifier_feedback_and_can_seal(
    world: tuple[Engine, dict[str, str]], calendar: WorkCalendar
) -> None:
    engine, t = world
    handler = staff_id(engine, "chen.dd2")
    with transaction(engine) as session:
        recategorize(
            session,
            staff_id=handler,
            ticket_no=t["dd2"],
            category="infrastructure",
            note="是设施问题",
            now=NOW,
            rules=Rules(calendar=calendar),
        )
    with transaction(engine) as session, pytest.raises(act.ActionRefused):
        perform(
            session,
            staff_id=handler,
            ticket_no=t["dd2"],
            action="recategorize",
            form={"category": "nonsense"},
            now=NOW,
            rules=Rules(calendar=calendar),
        )
    with transaction(engine) as session:
        perform(
            session,
            staff_id=handler,
            ticket_no=t["dd2"],
            action="recategorize",
            form={"category": "rent_seeking", "note": "司机说交钱就放车"},
            now=NOW,
            rules=Rules(calendar=calendar),
        )
    ticket = load_ticket(engine, t["dd2"])
    assert ticket.sealed and ticket.unit_id == unit_id(engine, "JJZ")
    with Session(engine) as session:
        events = session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "recategorize")
            .order_by(col(TicketEvent.seq))
        ).all()
        assert [(e.data["from"], e.data["to"], e.data["classifier_feedback"]) for e in events] == [
            ("service", "infrastructure", True),
            ("infrastructure", "rent_seeking", True),
        ]
        notices = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.idempotency_key.like(f"notice:{t['dd2']}:sealed%")
            )  # type: ignore[attr-defined]
        ).all()
        assert notices  # the discipline inspectors hear of the new clue
    with transaction(engine) as session, pytest.raises(act.PermissionDenied):
        view_ticket(session, staff_id=handler, ticket_no=t["dd2"])


def test_the_dashboard_is_for_supervisors_and_counts_their_jurisdiction(
    world: tuple[Engine, dict[str, str]],
) -> None:
    engine, _ = world
    boss, admin, handler = (staff_id(engine, w) for w in ("wang.fzk", "admin", "chen.dd2"))
    with transaction(engine) as session:
        board = dashboard(session, staff_id=boss, now=NOW + timedelta(minutes=1), tz=TZ)
        assert board.today_total == 4  # dd2, dd1, accused, to_dd1: not sealed, not unrouted
        assert board.overdue == 0
        assert board.kpis.received == 4
        everything = dashboard(session, staff_id=admin, now=NOW + timedelta(minutes=1), tz=TZ)
        assert everything.today_total == 6
        with pytest.raises(act.PermissionDenied):
            dashboard(session, staff_id=handler, now=NOW, tz=TZ)
