"""SLA sweep and escalation on a controlled clock, across working days and a holiday.

The complaint is filed Tuesday 2026-09-22 10:00 in Beijing, before the Mid-Autumn (09-25) and
National Day (10-01..10-07) holidays, with Sunday 09-20 and Saturday 10-10 worked instead.
Fifteen working days end Tuesday 10-20 23:59:59; the yellow card falls one working day
earlier (Monday 10-19 23:59:59) and the report to the superior five working days after the
deadline (Tuesday 10-27 23:59:59, the weekend of 10-24/25 not counted).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ops_support import file_ticket, load_city, load_ticket, recipients, staff_id, staff_outbox
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from handlers.escalation import (
    issue_supervision_order,
    resolve_supervision_order,
    supervision_ledger,
    sweep,
)
from handlers.staff_actions import ActionRefused, PermissionDenied, approve_extension
from handlers.staff_actions import request_extension as ask_extension
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.models import Ticket, TicketEvent
from storage.models_ops import Escalation, SupervisionOrder

BEIJING = ZoneInfo("Asia/Shanghai")
FILED = datetime(2026, 9, 22, 10, 0, tzinfo=BEIJING)


def local(*args: int) -> datetime:
    """A Beijing wall-clock time, as aware UTC."""
    return datetime(*args, tzinfo=BEIJING).astimezone(UTC)  # type: ignore[misc]


def run_sweep(engine: Engine, now: datetime, calendar: WorkCalendar) -> dict[str, int]:
    """One sweep in its own transaction; the levels it raised."""
    with transaction(engine) as session:
        report = sweep(session, now=now, calendar=calendar)
    return {
        k: v
        for k, v in (("yellow", report.yellow), ("red", report.red), ("superior", report.superior))
        if v
    }


def cards(engine: Engine, ticket_id: int) -> list[tuple[str, datetime]]:
    """(level, created_at) of a ticket's escalations."""
    with Session(engine) as session:
        rows = session.exec(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(col(Escalation.id))
        ).all()
        return [(r.level, r.created_at) for r in rows]


def escalate_events(engine: Engine, ticket_id: int) -> list[str]:
    """The levels of a ticket's ESCALATE events, in order."""
    with Session(engine) as session:
        events = session.exec(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.action == "escalate")
            .order_by(col(TicketEvent.seq))
        ).all()
        return [e.data["level"] for e in events]


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """The sample city on both backends."""
    load_city(any_engine, FILED)
    return any_engine


def test_deadlines_span_the_holidays(calendar: WorkCalendar, city: Engine) -> None:
    ticket = file_ticket(city, now=FILED.astimezone(UTC), calendar=calendar)
    assert ticket.due_at == local(2026, 10, 20, 23, 59, 59)
    assert ticket.yellow_at == local(2026, 10, 19, 23, 59, 59)
    assert ticket.escalate_at == local(2026, 10, 27, 23, 59, 59)
    assert ticket.unit_id is not None and not ticket.sealed


def test_cards_come_at_the_right_times_each_once(city: Engine, calendar: WorkCalendar, clock):
    clock.now = FILED.astimezone(UTC)
    ticket = file_ticket(city, now=clock(), calendar=calendar)
    assert ticket.id is not None
    timeline = [
        (local(2026, 9, 30, 12, 0), {}),
        (local(2026, 10, 5, 12, 0), {}),  # National Day: nothing happens
        (local(2026, 10, 19, 23, 59, 0), {}),
        (local(2026, 10, 20, 0, 0, 30), {"yellow": 1}),
        (local(2026, 10, 20, 9, 0), {}),
        (local(2026, 10, 20, 23, 59, 58), {}),
        (local(2026, 10, 21, 0, 0, 30), {"red": 1}),
        (local(2026, 10, 24, 12, 0), {}),  # weekend: not a working day overdue
        (local(2026, 10, 27, 23, 0), {}),
        (local(2026, 10, 28, 0, 0, 30), {"superior": 1}),
        (local(2026, 10, 28, 0, 5, 30), {}),
        (local(2026, 11, 30, 10, 0), {}),
    ]
    for moment, expected in timeline:
        clock.now = moment
        assert run_sweep(city, clock(), calendar) == expected, moment.astimezone(BEIJING)
    assert [level for level, _ in cards(city, ticket.id)] == ["yellow", "red", "superior"]
    assert escalate_events(city, ticket.id) == ["yellow", "red", "superior"]
    stored = load_ticket(city, ticket.ticket_no)
    assert stored.supervision_level == "red" and stored.status == "received"

    notices = staff_outbox(city, ticket_no=ticket.ticket_no)
    by_kind: dict[str, list] = {}
    for row in notices:
        by_kind.setdefault(row.idempotency_key.split(":")[2], []).append(row)
    assert recipients(city, by_kind["new"]) == {"chen.dd2"}  # the unit's handler (WeChat)
    assert recipients(city, by_kind["yellow"]) == {"chen.dd2"}
    assert recipients(city, by_kind["red"]) == {"wu.dd2"}  # the unit head
    assert recipients(city, by_kind["superior"]) == {"wang.fzk", "zhao.fzk"}  # 法制科
    assert "超期 5 个工作日" in by_kind["superior"][0].payload["replies"][0]["text"]
    # Raised after midnight, delivered at 08:00: quiet hours for non-urgent notices.
    assert by_kind["yellow"][0].next_attempt_at == local(2026, 10, 20, 8, 0)


def test_assignee_gets_the_yellow_card(city: Engine, calendar: WorkCalendar) -> None:
    from handlers.staff_actions import sign

    ticket = file_ticket(
        city,
        now=FILED.astimezone(UTC),
        calendar=calendar,
        place_text="东湖汽车站",
        category="other",
    )
    with transaction(city) as session:
        sign(
            session,
            staff_id=staff_id(city, "li.dd1"),
            ticket_no=ticket.ticket_no,
            now=FILED.astimezone(UTC) + timedelta(hours=1),
        )
    run_sweep(city, local(2026, 10, 20, 0, 1), calendar)
    rows = [
        r for r in staff_outbox(city, ticket_no=ticket.ticket_no) if ":yellow:" in r.idempotency_key
    ]
    assert recipients(city, rows) == {"li.dd1"}


def test_short_inquiry_across_national_day(city: Engine, calendar: WorkCalendar) -> None:
    filed = local(2026, 9, 30, 10, 0)
    ticket = file_ticket(city, now=filed, calendar=calendar, kind="inquiry", severity="low")
    assert ticket.due_at == local(2026, 10, 9, 23, 59, 59)  # Oct 8 and 9 are the 2 days
    assert run_sweep(city, local(2026, 10, 7, 12, 0), calendar) == {}
    assert run_sweep(city, local(2026, 10, 9, 0, 0, 1), calendar) == {"yellow": 1}
    assert run_sweep(city, local(2026, 10, 10, 0, 0, 1), calendar) == {"red": 1}
    # Saturday 10-10 is a make-up working day: 10, 12, 13, 14, 15 make five.
    assert run_sweep(city, local(2026, 10, 15, 23, 0), calendar) == {}
    assert run_sweep(city, local(2026, 10, 16, 0, 0, 1), calendar) == {"superior": 1}


def test_replied_and_closed_tickets_are_not_warned(city: Engine, calendar: WorkCalendar) -> None:
    from storage.lifecycle import Action
    from storage.tickets import apply_action

    ticket = file_ticket(city, now=FILED.astimezone(UTC), calendar=calendar)
    with transaction(city) as session:
        for action in (Action.SIGN, Action.REPLY):
            apply_action(
                session,
                ticket_no=ticket.ticket_no,
                action=action,
                actor="staff:1",
                now=FILED.astimezone(UTC),
            )
    assert run_sweep(city, local(2026, 11, 30, 12, 0), calendar) == {}


def test_urgent_ticket_alerts_the_duty_supervisor_at_once(city: Engine, calendar: WorkCalendar):
    night = local(2026, 9, 22, 23, 30)  # quiet hours do not hold an urgent alert back
    ticket = file_ticket(
        city,
        now=night,
        calendar=calendar,
        severity="urgent",
        category="abusive",
        place_text="北岭治超站",
        description="执法人员动手打人",
    )
    alerts = [
        r
        for r in staff_outbox(city, ticket_no=ticket.ticket_no)
        if "urgent_alert" in r.idempotency_key
    ]
    assert recipients(city, alerts) == {"wang.fzk"}  # the one marked on duty
    assert alerts[0].next_attempt_at == night
    assert ticket.id is not None and [lv for lv, _ in cards(city, ticket.id)] == ["urgent_alert"]
    with transaction(city) as session:
        assert sweep(session, now=night + timedelta(minutes=5), calendar=calendar).urgent_alert == 0
    # The accused station never hears of it.
    assert "he.zcz" not in recipients(city, staff_outbox(city, ticket_no=ticket.ticket_no))


def test_sealed_ticket_escalates_to_discipline_inspectors_only(
    city: Engine, calendar: WorkCalendar
):
    ticket = file_ticket(
        city,
        now=FILED.astimezone(UTC),
        calendar=calendar,
        severity="urgent",
        category="rent_seeking",
        place_text="北岭治超站",
        description="收钱就放车",
    )
    assert ticket.sealed
    for moment in (local(2026, 10, 20, 0, 1), local(2026, 10, 21, 0, 1), local(2026, 10, 28, 0, 1)):
        run_sweep(city, moment, calendar)
    assert ticket.id is not None
    assert sorted(lv for lv, _ in cards(city, ticket.id)) == [
        "red",
        "superior",
        "urgent_alert",
        "yellow",
    ]
    assert recipients(city, staff_outbox(city, ticket_no=ticket.ticket_no)) == {"sun.jjz"}


def test_an_extended_deadline_gets_its_own_cards(city: Engine, calendar: WorkCalendar) -> None:
    ticket = file_ticket(city, now=FILED.astimezone(UTC), calendar=calendar)
    handler, supervisor = staff_id(city, "chen.dd2"), staff_id(city, "wang.fzk")
    assert run_sweep(city, local(2026, 10, 20, 0, 1), calendar) == {"yellow": 1}
    with transaction(city) as session:
        from storage.lifecycle import Action
        from storage.tickets import apply_action

        apply_action(
            session,
            ticket_no=ticket.ticket_no,
            action=Action.SIGN,
            actor="x",
            now=local(2026, 10, 20, 9, 0),
        )
        ask_extension(
            session,
            staff_id=handler,
            ticket_no=ticket.ticket_no,
            reason="需调取外地执法记录",
            now=local(2026, 10, 20, 9, 5),
            calendar=calendar,
        )
        extended = approve_extension(
            session,
            staff_id=supervisor,
            ticket_no=ticket.ticket_no,
            now=local(2026, 10, 20, 10, 0),
            calendar=calendar,
        )
    assert extended.due_at == local(2026, 10, 29, 23, 59, 59)  # 7 more working days
    assert run_sweep(city, local(2026, 10, 21, 0, 1), calendar) == {}  # not overdue any more
    assert run_sweep(city, local(2026, 10, 29, 0, 1), calendar) == {"yellow": 1}
    assert run_sweep(city, local(2026, 10, 30, 0, 1), calendar) == {"red": 1}
    with transaction(city) as session, pytest.raises(ActionRefused) as refused:
        ask_extension(
            session,
            staff_id=handler,
            ticket_no=ticket.ticket_no,
            reason="再延一次",
            now=local(2026, 10, 30, 9, 0),
            calendar=calendar,
        )
    assert refused.value.key == "staff.already_extended"


@pytest.mark.postgres
def test_two_schedulers_on_one_postgres_raise_each_card_once(pg_engine: Engine, calendar) -> None:
    load_city(pg_engine, FILED)
    tickets = [
        file_ticket(pg_engine, now=FILED.astimezone(UTC) + timedelta(minutes=i), calendar=calendar)
        for i in range(12)
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            for moment in (
                local(2026, 10, 20, 0, 1),
                local(2026, 10, 21, 0, 1),
                local(2026, 10, 28, 0, 1),
            ):
                barrier.wait(timeout=30)
                for _ in range(3):
                    with transaction(pg_engine) as session:
                        sweep(session, now=moment, calendar=calendar)
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for ticket in tickets:
        assert ticket.id is not None
        assert sorted(lv for lv, _ in cards(pg_engine, ticket.id)) == ["red", "superior", "yellow"]
        assert sorted(escalate_events(pg_engine, ticket.id)) == ["red", "superior", "yellow"]
        rows = staff_outbox(pg_engine, ticket_no=ticket.ticket_no)
        keys = [r.idempotency_key for r in rows]
        assert len(keys) == len(set(keys)) == 1 + 1 + 1 + 2  # new, yellow, red, 2 superiors


def test_supervision_orders_and_the_listed_ledger(city: Engine, calendar: WorkCalendar) -> None:
    now = FILED.astimezone(UTC)
    ticket = file_ticket(city, now=now, calendar=calendar)
    supervisor, handler = staff_id(city, "wang.fzk"), staff_id(city, "chen.dd2")
    deadline = local(2026, 9, 25, 18, 0)
    with transaction(city) as session:
        issue_supervision_order(
            session,
            staff_id=supervisor,
            ticket_no=ticket.ticket_no,
            level="listed",
            note="群众反映强烈，挂牌督办",
            deadline=deadline,
            now=now,
            calendar=calendar,
        )
    with transaction(city) as session:
        ledger = supervision_ledger(session, now=now)
    assert [(line.ticket_no, line.level, line.overdue) for line in ledger] == [
        (ticket.ticket_no, "listed", False)
    ]
    stored = load_ticket(city, ticket.ticket_no)
    assert stored.supervision_level == "listed"
    rows = [
        r for r in staff_outbox(city, ticket_no=ticket.ticket_no) if ":order:" in r.idempotency_key
    ]
    assert recipients(city, rows) == {"wu.dd2", "chen.dd2"}
    assert "挂牌督办" in rows[0].payload["replies"][0]["text"]
    # Refusals change nothing.
    for who, level, when, error in (
        (handler, "red", deadline, PermissionDenied),
        (staff_id(city, "sun.jjz"), "red", deadline, PermissionDenied),
        (supervisor, "purple", deadline, ActionRefused),
        (supervisor, "red", now - timedelta(days=1), ActionRefused),
    ):
        with transaction(city) as session, pytest.raises(error):
            issue_supervision_order(
                session,
                staff_id=who,
                ticket_no=ticket.ticket_no,
                level=level,
                note="督办",
                deadline=when,
                now=now,
                calendar=calendar,
            )
    with Session(city) as session:
        assert len(session.exec(select(SupervisionOrder)).all()) == 1
        order = session.exec(select(SupervisionOrder)).one()
    with transaction(city) as session:
        resolve_supervision_order(
            session,
            staff_id=supervisor,
            order_id=order.id or 0,
            note="已整改到位",
            now=now + timedelta(days=2),
        )
        assert supervision_ledger(session, now=now) == []
        assert session.get(Ticket, ticket.id).supervision_level == "listed"  # type: ignore[union-attr]
