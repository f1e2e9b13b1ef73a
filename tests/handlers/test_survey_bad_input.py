"""Survey answers that must be refused clearly and change nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ops_support import file_ticket, load_city, load_ticket, snapshot
from sqlalchemy import Engine
from sqlmodel import Session, select
from survey_support import add_driver, closed_ticket, local, run_job, survey_outbox, surveys

from handlers.surveys import schedule_survey
from storage.engine import transaction
from storage.lifecycle import Action
from storage.models import Survey, Ticket
from storage.tickets import apply_action

FILED = local(2026, 9, 22, 9, 0)
CLOSED = local(2026, 9, 24, 15, 0)
SENT = local(2026, 9, 28, 10, 0)


@pytest.fixture
def sent(sqlite_engine: Engine, calendar, clock) -> tuple[Engine, str]:
    """A closed ticket of driver-1 whose survey was sent on Monday 10:00."""
    load_city(sqlite_engine, FILED)
    driver = add_driver(sqlite_engine)
    ticket_no = closed_ticket(
        sqlite_engine, filed=FILED, closed=CLOSED, calendar=calendar, complainant_id=driver
    )
    run_job(sqlite_engine, SENT, calendar)
    clock.now = SENT + timedelta(hours=1)
    return sqlite_engine, ticket_no


def state(engine: Engine, ticket_no: str) -> tuple[object, ...]:
    """The ticket, its events, the outbox and every survey, to compare before and after."""
    with Session(engine) as session:
        rows = [s.model_dump_json() for s in session.exec(select(Survey)).all()]
    return (*snapshot(engine, ticket_no), rows)


def test_answer_after_expiry_is_too_late(sent, chat, clock, calendar) -> None:
    engine, ticket_no = sent
    run_job(engine, local(2026, 10, 9, 0, 0), calendar)
    clock.now = local(2026, 10, 9, 9, 0)
    before = state(engine, ticket_no)
    assert chat.send("不满意")[0].key == "survey.expired"
    assert chat.press(f"survey:{surveys(engine)[0].id}:unsatisfied")[0].key == "survey.expired"
    assert state(engine, ticket_no) == before
    assert load_ticket(engine, ticket_no).status == "closed"


def test_expired_by_time_before_the_job_noticed(sent, chat, clock) -> None:
    engine, ticket_no = sent
    clock.now = local(2026, 10, 9, 0, 30)  # the window ended; the job has not run yet
    before = state(engine, ticket_no)
    assert chat.send("满意")[0].key == "survey.expired"
    assert state(engine, ticket_no) == before


def test_someone_elses_survey_looks_unknown(sent, dispatcher, chat) -> None:
    engine, ticket_no = sent
    other = type(chat)(dispatcher, user="driver-2")
    survey_id = surveys(engine)[0].id
    before = state(engine, ticket_no)
    for value in (f"survey:{survey_id}:unsatisfied", "survey:abc:x", f"survey:{survey_id}:9"):
        assert other.press(value)[0].key == "survey.not_found"
    assert other.send("不满意")[0].key != "survey.ask_solved"  # no survey of theirs
    assert state(engine, ticket_no)[:2] == before[:2]
    assert state(engine, ticket_no)[3] == before[3]


def test_repeated_answers_are_thanked_and_ignored(sent, chat) -> None:
    engine, ticket_no = sent
    survey_id = surveys(engine)[0].id
    assert chat.press(f"survey:{survey_id}:satisfied")[0].key == "survey.ask_solved"
    assert chat.press(f"survey:{survey_id}:unsatisfied")[0].key == "survey.already_answered"
    chat.press("yes")
    chat.press("skip")
    before = state(engine, ticket_no)
    assert chat.send("不满意")[0].key == "survey.already_answered"
    assert chat.press(f"survey:{survey_id}:unsatisfied")[0].key == "survey.already_answered"
    assert state(engine, ticket_no) == before
    assert surveys(engine)[0].satisfaction == "satisfied"
    assert load_ticket(engine, ticket_no).status == "closed"


def reopen_by_hand(engine: Engine, ticket_no: str, at) -> None:
    """Reopen a ticket outside the survey (as a console action would)."""
    with transaction(engine) as session:
        apply_action(session, ticket_no=ticket_no, action=Action.REOPEN, actor="staff:1", now=at)


def test_survey_of_a_ticket_reopened_before_sending_is_cancelled(
    sqlite_engine, calendar, chat, clock
) -> None:
    load_city(sqlite_engine, FILED)
    driver = add_driver(sqlite_engine)
    ticket_no = closed_ticket(
        sqlite_engine, filed=FILED, closed=CLOSED, calendar=calendar, complainant_id=driver
    )
    reopen_by_hand(sqlite_engine, ticket_no, CLOSED + timedelta(hours=1))
    assert run_job(sqlite_engine, SENT, calendar).cancelled == 1
    assert surveys(sqlite_engine)[0].status == "cancelled" and survey_outbox(sqlite_engine) == []


def test_answer_to_a_ticket_reopened_meanwhile_cancels_the_survey(sent, chat, clock) -> None:
    engine, ticket_no = sent
    reopen_by_hand(engine, ticket_no, clock.now)
    assert chat.send("不满意")[0].key == "survey.cancelled_reopened"
    ticket = load_ticket(engine, ticket_no)
    assert (ticket.status, ticket.reopen_count) == ("reopened", 1)  # no second reopen
    assert surveys(engine)[0].status == "cancelled"
    before = state(engine, ticket_no)
    assert chat.send("不满意")[0].key == "survey.cancelled_reopened"
    assert state(engine, ticket_no) == before


def test_intake_in_progress_is_not_taken_for_an_answer(sent, chat) -> None:
    engine, _ = sent
    first = chat.send("投诉")
    assert first[-1].key == "intake.ask_privacy"
    replies = chat.send("1")  # picks the first privacy choice, not 满意
    assert replies[0].key != "survey.ask_solved"
    assert surveys(engine)[0].status == "sent"
    chat.send("取消")
    assert chat.send("1")[0].key == "survey.ask_solved"  # idle again: now it is an answer


def test_a_rating_without_any_survey_is_ordinary_chat(sqlite_engine, chat) -> None:
    assert chat.send("满意")[0].key != "survey.ask_solved"


def test_who_gets_a_survey(sqlite_engine, calendar) -> None:
    load_city(sqlite_engine, FILED)
    anonymous = add_driver(sqlite_engine, user="anon-1", anonymity="anonymous")
    closed_ticket(
        sqlite_engine, filed=FILED, closed=CLOSED, calendar=calendar, complainant_id=anonymous
    )
    closed_ticket(sqlite_engine, filed=FILED, closed=CLOSED, calendar=calendar, complainant_id=None)
    praise = add_driver(sqlite_engine, user="praise-1")
    closed_ticket(
        sqlite_engine,
        filed=FILED,
        closed=CLOSED,
        calendar=calendar,
        complainant_id=praise,
        kind="praise",
    )
    # Only the anonymous driver's complaint: in the chat, like everyone's.
    (survey,) = surveys(sqlite_engine)
    run_job(sqlite_engine, SENT, calendar)
    (row,) = survey_outbox(sqlite_engine)
    assert row.recipient == "anon-1"
    with transaction(sqlite_engine) as session:  # scheduling again changes nothing
        ticket = session.get(Ticket, survey.ticket_id)
        assert ticket is not None
        assert schedule_survey(session, ticket=ticket, now=SENT).id == survey.id  # type: ignore[union-attr]
    assert len(surveys(sqlite_engine)) == 1


def test_open_ticket_gets_no_survey(sqlite_engine, calendar) -> None:
    load_city(sqlite_engine, FILED)
    driver = add_driver(sqlite_engine)
    ticket = file_ticket(sqlite_engine, now=FILED, calendar=calendar, complainant_id=driver)
    with transaction(sqlite_engine) as session:
        assert schedule_survey(session, ticket=ticket, now=SENT) is None
