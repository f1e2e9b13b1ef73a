"""The monthly manual callback sample: who is eligible, a reproducible draw, recorded results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ops_support import load_city, snapshot, staff_id, unit_id
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from survey_support import add_driver

from handlers.callbacks import (
    callback_contact,
    callback_tasks,
    record_callback_result,
    sample_callbacks,
)
from handlers.kpis import Ratio, Scope, callback_rate
from handlers.months import Month, MonthError
from handlers.staff_actions import ActionRefused, PermissionDenied
from handlers.workdays import SHANGHAI
from storage.engine import transaction
from storage.models import IdentityRead, Ticket, TicketEvent
from storage.models_reports import CallbackTask

OCTOBER = Month(2026, 10)
NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
ELIGIBLE = 25


def at(month: int, day: int) -> datetime:
    """Noon of a 2026 day in Beijing, as aware UTC."""
    return datetime(2026, month, day, 12, tzinfo=SHANGHAI).astimezone(UTC)


def add_ticket(session: Session, no: str, **fields: Any) -> None:
    """A closed enforcement complaint of October handled by 法制科, unless told otherwise."""
    values: dict[str, Any] = {
        "kind": "complaint",
        "category": "abusive",
        "severity": "normal",
        "channel": "wechat",
        "description": "x",
        "status": "closed",
        "closed_at": at(10, 15),
        "created_at": at(10, 1),
        "updated_at": at(10, 15),
        **fields,
    }
    session.add(Ticket(ticket_no=no, **values))


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """ELIGIBLE eligible tickets and one of each kind of ineligible one."""
    load_city(any_engine, at(9, 1))
    fzk, dd2 = unit_id(any_engine, "FZK"), unit_id(any_engine, "DD2")
    drivers = [add_driver(any_engine, user=f"d-{n}") for n in range(ELIGIBLE + 1)]
    with transaction(any_engine) as session:
        for n in range(ELIGIBLE):
            add_ticket(session, f"TS-E{n:02d}", complainant_id=drivers[n], unit_id=fzk)
        add_ticket(session, "TS-ANON", complainant_id=drivers[-1], anonymity="anonymous")
        add_ticket(session, "TS-SEALED", complainant_id=drivers[0], sealed=True)
        add_ticket(
            session, "TS-SERVICE", complainant_id=drivers[0], category="service", unit_id=dd2
        )
        add_ticket(session, "TS-INQUIRY", complainant_id=drivers[0], kind="inquiry")
        add_ticket(session, "TS-NOBODY", complainant_id=None)
        add_ticket(session, "TS-SEPT", complainant_id=drivers[0], closed_at=at(9, 30))
        add_ticket(session, "TS-OPEN", complainant_id=drivers[0], status="handling", closed_at=None)
    return any_engine


def draw(engine: Engine, **kwargs: Any) -> Any:
    """sample_callbacks in its own transaction."""
    with transaction(engine) as session:
        return sample_callbacks(session, month=OCTOBER, now=NOW, **{"ratio": 0.1, **kwargs})


def test_a_seeded_share_of_eligible_tickets(city: Engine) -> None:
    sample = draw(city, seed=7)
    assert (sample.eligible, sample.created, sample.seed) == (ELIGIBLE, True, 7)
    assert len(sample.ticket_nos) == 3  # ceil(0.1 × 25)
    assert all(no.startswith("TS-E") for no in sample.ticket_nos)
    with Session(city) as session:
        tasks = session.exec(select(CallbackTask)).all()
        notes = session.exec(select(TicketEvent).where(TicketEvent.action == "note")).all()
    assert {t.status for t in tasks} == {"open"} and len(tasks) == 3
    # 法制科 handles these and supervises itself: its supervisors make the calls.
    assert {t.unit_id for t in tasks} == {unit_id(city, "FZK")}
    assert [n.data["callback"] for n in notes] == ["sampled"] * 3
    again = draw(city, seed=99)  # a month is drawn once
    assert (again.created, again.ticket_nos, again.seed) == (False, sample.ticket_nos, 7)


def test_the_same_seed_draws_the_same_tickets(city: Engine) -> None:
    first = draw(city, seed=7).ticket_nos
    with transaction(city) as session:
        session.execute(CallbackTask.__table__.delete())  # type: ignore[attr-defined]
    assert draw(city, seed=7).ticket_nos == first
    with transaction(city) as session:
        session.execute(CallbackTask.__table__.delete())  # type: ignore[attr-defined]
    assert draw(city, seed=8).ticket_nos != first


def test_unfinished_and_future_months_are_refused(city: Engine) -> None:
    with transaction(city) as session:
        for month in (Month(2026, 11), Month(2027, 1)):
            with pytest.raises(MonthError):
                sample_callbacks(session, month=month, ratio=0.1, now=NOW)
        with pytest.raises(ValueError, match="between 0 and 1"):
            sample_callbacks(session, month=OCTOBER, ratio=1.5, now=NOW)
    assert draw(city, ratio=0.0).ticket_nos == ()


def test_results_are_recorded_once_by_supervisors(city: Engine) -> None:
    draw(city, seed=7)
    with Session(city) as session:
        task = session.exec(select(CallbackTask).order_by(col(CallbackTask.id))).first()
        assert task is not None and task.id is not None
        ticket = session.get(Ticket, task.ticket_id)
        assert ticket is not None
    supervisor, handler = staff_id(city, "wang.fzk"), staff_id(city, "chen.dd2")
    before = snapshot(city, ticket.ticket_no)
    for who, kwargs, error in (
        (handler, {}, PermissionDenied),
        (supervisor, {"method": "fax"}, ActionRefused),
        (supervisor, {"status": "maybe"}, ActionRefused),
        (supervisor, {"satisfaction": "great"}, ActionRefused),
    ):
        arguments = {"status": "done", "method": "phone", "satisfaction": "satisfied", **kwargs}
        with pytest.raises(error), transaction(city) as session:
            record_callback_result(session, staff_id=who, task_id=task.id, now=NOW, **arguments)
    assert snapshot(city, ticket.ticket_no) == before
    with transaction(city) as session:
        name, phone = callback_contact(session, staff_id=supervisor, task_id=task.id, now=NOW)
        done = record_callback_result(
            session,
            staff_id=supervisor,
            task_id=task.id,
            status="done",
            method="video",
            satisfaction="basic",
            solved=True,
            note="已视频回访，司机表示基本满意",
            now=NOW,
        )
    assert (name, phone) == ("刘师傅", "13812345678")
    assert (done.status, done.method, done.satisfaction, done.completed_by) == (
        "done",
        "video",
        "basic",
        supervisor,
    )
    with pytest.raises(ActionRefused) as twice, transaction(city) as session:
        record_callback_result(
            session,
            staff_id=supervisor,
            task_id=task.id,
            status="unreachable",
            method="phone",
            now=NOW,
        )
    assert twice.value.key == "callback.already_done"
    with Session(city) as session:
        reads = session.exec(select(IdentityRead)).all()
        scope = Scope.of(OCTOBER, now=NOW)
        assert callback_rate(session, scope) == Ratio(
            1, ELIGIBLE + 5
        )  # October's closed: + ANON SEALED SERVICE INQUIRY NOBODY
    assert [r.reason for r in reads] == [f"manual callback task {task.id}"]
    with transaction(city) as session:
        lines = callback_tasks(session, month=OCTOBER, status="done")
        with pytest.raises(ActionRefused, match="no callback task"):
            record_callback_result(
                session, staff_id=supervisor, task_id=999, status="done", method="phone", now=NOW
            )
    assert [line.task_id for line in lines] == [task.id]
