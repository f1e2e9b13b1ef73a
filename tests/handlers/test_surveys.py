"""Callback surveys on a controlled clock: when they go out, and what the answers do.

Calendar facts used (2026, published schedule): Friday 09-25 is the Mid-Autumn holiday,
10-01..10-07 National Day, and Saturday 10-10 a make-up working day (调休).
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from ops_support import load_city, load_ticket, recipients, staff_outbox
from sqlalchemy import Engine
from survey_support import (
    actions,
    add_driver,
    closed_ticket,
    handle_and_close,
    local,
    run_job,
    survey_outbox,
    survey_steps,
    surveys,
)

from handlers.survey_policy import SurveyPolicy, parse_rating
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.models import Survey

THURSDAY = local(2026, 9, 24, 15, 0)  # before the Mid-Autumn Friday and a weekend
FILED = local(2026, 9, 22, 9, 0)


@pytest.fixture
def city(sqlite_engine: Engine) -> Engine:
    """The sample city with one driver on the test channel (the chat fixture's user)."""
    load_city(sqlite_engine, FILED)
    return sqlite_engine


def close_one(city: Engine, calendar: WorkCalendar, closed=THURSDAY, **driver) -> str:
    """File and close a ticket for a new driver; returns the ticket number."""
    driver_id = add_driver(city, **driver)
    return closed_ticket(
        city, filed=FILED, closed=closed, calendar=calendar, complainant_id=driver_id
    )


def test_due_on_the_next_working_day_after_a_holiday_and_a_weekend(city, calendar) -> None:
    ticket_no = close_one(city, calendar)
    (survey,) = surveys(city)
    assert survey.due_at == local(2026, 9, 28, 10, 0)  # Monday: Friday is Mid-Autumn
    assert (survey.status, survey.round, survey.channel) == ("scheduled", 1, "test")
    assert survey_steps(city, ticket_no) == ["scheduled"]
    # Nothing goes out on the holiday, the weekend, or on Monday before 10:00.
    for moment in (local(2026, 9, 25, 10), local(2026, 9, 27, 12), local(2026, 9, 28, 9, 59)):
        assert run_job(city, moment, calendar).asked == 0
    assert run_job(city, local(2026, 9, 28, 10, 0), calendar).asked == 1
    (row,) = survey_outbox(city)
    assert row.idempotency_key == f"survey:{survey.id}:ask" and row.recipient == "driver-1"
    labels = [c["label"] for c in row.payload["replies"][0]["choices"]]
    assert labels == ["满意", "基本满意", "不满意"]
    assert ticket_no in row.payload["replies"][0]["text"]


def test_a_make_up_saturday_is_a_working_day(city, calendar) -> None:
    close_one(city, calendar, closed=local(2026, 10, 9, 16, 0))  # Friday
    assert surveys(city)[0].due_at == local(2026, 10, 10, 10, 0)  # Saturday, worked


def test_quiet_hours_hold_surveys_until_daytime(city, calendar) -> None:
    close_one(city, calendar, closed=local(2026, 9, 28, 22, 30))  # Monday night
    assert surveys(city)[0].due_at == local(2026, 9, 29, 10, 0)
    # The service was down all Tuesday and comes back at night: nothing in quiet hours.
    assert run_job(city, local(2026, 9, 29, 22, 0), calendar).asked == 0
    assert run_job(city, local(2026, 9, 30, 7, 59), calendar).asked == 0
    assert run_job(city, local(2026, 9, 30, 8, 0), calendar).asked == 1
    with pytest.raises(ValueError, match="quiet hours"):
        SurveyPolicy(send_at=time(22, 0))


def test_later_send_time_and_delay_are_configurable(city, calendar) -> None:
    policy = SurveyPolicy(delay_workdays=2, send_at=time(15, 0))
    assert policy.first_due(THURSDAY, calendar) == local(2026, 9, 29, 15, 0)


def test_one_reminder_then_no_answer(city, calendar) -> None:
    ticket_no = close_one(city, calendar)
    run_job(city, local(2026, 9, 28, 10, 0), calendar)
    survey = surveys(city)[0]
    assert survey.status == "sent" and survey.due_at == local(2026, 9, 29, 10, 0)
    # Three working days after Monday: Tuesday, Wednesday, then Thursday after National Day.
    assert survey.expires_at == local(2026, 10, 8, 23, 59, 59)
    assert run_job(city, local(2026, 9, 29, 9, 0), calendar).reminded == 0
    assert run_job(city, local(2026, 9, 29, 10, 0), calendar).reminded == 1
    assert run_job(city, local(2026, 9, 29, 16, 0), calendar).total == 0  # only one reminder
    assert [r.idempotency_key.rsplit(":", 1)[1] for r in survey_outbox(city)] == ["ask", "remind"]
    assert "回访提醒" in survey_outbox(city)[1].payload["replies"][0]["text"]
    assert run_job(city, local(2026, 10, 8, 23, 0), calendar).expired == 0
    # Expiry needs no daytime: it is recorded at midnight.
    assert run_job(city, local(2026, 10, 9, 0, 0), calendar).expired == 1
    assert surveys(city)[0].status == "no_answer"
    assert survey_steps(city, ticket_no) == ["scheduled", "sent", "reminded", "no_answer"]
    assert run_job(city, local(2026, 10, 9, 10, 0), calendar).total == 0


def answer(chat, *steps: str) -> list[str]:
    """Send each step (a 'survey:' value or a choice value is pressed, else typed)."""
    keys: list[str] = []
    for step in steps:
        pressed = step.startswith("survey:") or step in ("yes", "no", "skip")
        replies = chat.press(step) if pressed else chat.send(step)
        keys.extend(r.key for r in replies)
    return keys


@pytest.mark.parametrize(
    ("rating", "expected"),
    [("satisfied", "survey.thanks"), ("basic", "survey.thanks"), ("unsatisfied", "reopened")],
)
def test_the_three_answers_and_their_effects(
    city, calendar, chat, clock, rating: str, expected: str
) -> None:
    ticket_no = close_one(city, calendar)
    clock.now = local(2026, 9, 28, 10, 0)
    run_job(city, clock.now, calendar)
    survey_id = surveys(city)[0].id
    clock.advance(minutes=20)
    keys = answer(chat, f"survey:{survey_id}:{rating}", "no", "服务区还是多收钱，电话13812345678")
    assert keys[:2] == ["survey.ask_solved", "survey.ask_comment"]
    survey = surveys(city)[0]
    assert (survey.status, survey.satisfaction, survey.solved) == ("answered", rating, False)
    assert "13812345678" in (survey.comment or "")
    ticket = load_ticket(city, ticket_no)
    if expected != "reopened":
        assert keys[-1] == expected and ticket.status == "closed"
        assert survey_steps(city, ticket_no)[-1] == "answered"
        return
    assert keys[-1] == "survey.thanks_reopened"
    assert (ticket.status, ticket.reopen_count) == ("reopened", 1)
    assert ticket.due_at is not None and ticket.due_at > clock.now + timedelta(days=14)
    assert actions(city, ticket_no)[-2:] == ["note", "reopen"]
    notices = [
        n
        for n in staff_outbox(city, ticket_no=ticket_no)
        if "重办" in n.payload["replies"][0]["text"]
    ]
    assert {"chen.dd2", "wu.dd2", "wang.fzk", "zhao.fzk"} <= recipients(city, notices)
    body = notices[0].payload["replies"][0]["text"]
    assert "服务区还是多收钱" in body and "13812345678" not in body and "138****5678" in body


@pytest.mark.parametrize(
    ("typed", "rating"),
    [
        ("满意", "satisfied"),
        ("还行吧", "basic"),
        ("2", "basic"),
        ("１", "satisfied"),
        ("不太满意", "unsatisfied"),
        ("3", "unsatisfied"),
    ],
)
def test_free_text_answers_on_wechat(
    sqlite_engine, calendar, dispatcher, chat, clock, typed, rating
) -> None:
    load_city(sqlite_engine, FILED)
    driver = add_driver(sqlite_engine, channel="wechat", user="o-wx-1")
    ticket_no = closed_ticket(
        sqlite_engine, filed=FILED, closed=THURSDAY, calendar=calendar, complainant_id=driver
    )
    wechat = type(chat)(dispatcher, user="o-wx-1", channel="wechat")
    clock.now = local(2026, 9, 28, 9, 0)
    wechat.send("查询")  # the driver wrote within 48 hours: a customer-service message
    run_job(sqlite_engine, local(2026, 9, 28, 10, 0), calendar)
    (row,) = survey_outbox(sqlite_engine)
    assert row.channel == "wechat" and "replies" in row.payload
    assert row.payload["replies"][1]["text"] == "请回复数字 1、2 或 3。"
    clock.now = local(2026, 9, 28, 11, 0)
    assert wechat.send(typed)[0].key == "survey.ask_solved"
    assert wechat.send("1")[0].key == "survey.ask_comment"  # 1 = 已解决, numbered on WeChat
    wechat.send("跳过")
    survey = surveys(sqlite_engine)[0]
    assert (survey.satisfaction, survey.solved, survey.comment) == (rating, True, None)
    assert load_ticket(sqlite_engine, ticket_no).status == (
        "reopened" if rating == "unsatisfied" else "closed"
    )


def test_wechat_outside_48_hours_gets_a_template_or_is_unreachable(city, calendar) -> None:
    close_one(city, calendar, channel="wechat", user="o-wx-2")
    close_one(city, calendar, channel="wechat", user="o-wx-3")
    policy = SurveyPolicy(wechat_template_id="TPL-SURVEY")
    with transaction(city) as session:  # only the second survey may use the template
        first = session.get(Survey, 1)
        assert first is not None
        first.due_at = local(2026, 9, 28, 11, 0)
    assert run_job(city, local(2026, 9, 28, 10, 0), calendar, policy).asked == 1
    (row,) = survey_outbox(city)
    template = row.payload["template"]
    assert template["template_id"] == "TPL-SURVEY" and row.recipient == "o-wx-3"
    assert "1 满意" in template["data"]["remark"]["value"]
    assert run_job(city, local(2026, 9, 28, 11, 0), calendar).unreachable == 1
    assert [s.status for s in surveys(city)] == ["unreachable", "sent"]


def test_unsatisfied_again_after_rework_is_a_supervision_order(city, calendar, chat, clock) -> None:
    from sqlmodel import Session, select

    from storage.models_ops import SupervisionOrder

    ticket_no = close_one(city, calendar)
    clock.now = local(2026, 9, 28, 10, 0)
    run_job(city, clock.now, calendar)
    answer(chat, "不满意", "no", "skip")
    assert load_ticket(city, ticket_no).status == "reopened"
    handle_and_close(city, ticket_no, at=local(2026, 9, 29, 15, 0), calendar=calendar)
    second = surveys(city)[1]
    assert (second.round, second.due_at) == (2, local(2026, 9, 30, 10, 0))
    clock.now = local(2026, 9, 30, 10, 0)
    run_job(city, clock.now, calendar)
    keys = answer(chat, "不满意，还是没人管", "no", "skip")
    assert keys[-1] == "survey.thanks_supervised"
    ticket = load_ticket(city, ticket_no)
    assert (ticket.status, ticket.reopen_count, ticket.supervision_level) == ("closed", 1, "red")
    with Session(city) as session:
        (order,) = session.exec(select(SupervisionOrder)).all()
    assert order.level == "red" and order.issued_by is None and ticket_no in order.note
    assert surveys(city)[1].comment == "不满意，还是没人管"
    notices = [
        n
        for n in staff_outbox(city, ticket_no=ticket_no)
        if "督办" in n.payload["replies"][0]["text"]
    ]
    assert {"wang.fzk", "zhao.fzk"} <= recipients(city, notices)


def test_rated_but_follow_up_left_unanswered_is_finished_by_the_job(
    city, calendar, chat, clock
) -> None:
    ticket_no = close_one(city, calendar)
    clock.now = local(2026, 9, 28, 10, 0)
    run_job(city, clock.now, calendar)
    assert chat.send("3")[0].key == "survey.ask_solved"
    assert run_job(city, clock.now + timedelta(minutes=10), calendar).finalised == 0
    assert run_job(city, clock.now + timedelta(minutes=31), calendar).finalised == 1
    assert load_ticket(city, ticket_no).status == "reopened"
    assert surveys(city)[0].solved is None
    # The driver's late "solved?" answer is thanked, and changes nothing more.
    assert chat.press("yes")[0].key == "survey.thanks"
    assert surveys(city)[0].solved is None


def test_parse_rating_keeps_complaints_out() -> None:
    assert parse_rating("治超站乱罚款不开票，太差了，我要投诉他们") is None
    assert parse_rating("你好") is None and parse_rating("不好意思") is None
    assert parse_rating("不满意，根本没人管") == "unsatisfied"
