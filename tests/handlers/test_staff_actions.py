"""Staff actions: who may do what, refusals that change nothing, and the chat commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ops_support import file_ticket, load_city, load_ticket, snapshot, staff_id, unit_id
from sqlalchemy import Engine
from sqlmodel import Session, select

from handlers import staff_actions as act
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.lifecycle import IllegalTransition
from storage.models import Complainant, IdentityRead, OutboxMessage, Staff, Unit
from storage.staffing import issue_binding_code

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """The sample city on both backends."""
    load_city(any_engine, NOW)
    return any_engine


def with_driver(engine: Engine) -> int:
    """A complainant on WeChat, for tickets that need an answer to go somewhere."""
    with transaction(engine) as session:
        person = Complainant(channel="wechat", channel_user_id="o-driver-77", name="刘师傅")
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id


def dd2_ticket(engine: Engine, calendar: WorkCalendar, **fields: Any) -> str:
    """A service complaint handled by 二大队 (rule: 西山服务区)."""
    return file_ticket(engine, now=NOW, calendar=calendar, **fields).ticket_no


def attempt(engine: Engine, call: Callable[..., Any], **kwargs: Any) -> Any:
    """Run one staff action in its own transaction."""
    with transaction(engine) as session:
        return call(session, now=LATER, **kwargs)


@pytest.mark.parametrize(
    ("who", "sealed", "allowed"),
    [
        ("chen.dd2", False, True),  # handler of the unit
        ("wu.dd2", False, True),  # its head
        ("li.dd1", False, False),  # another unit's handler
        ("he.zcz", False, False),  # another unit's head
        ("wang.fzk", False, True),  # supervisor: 二大队 is in 法制科's jurisdiction
        ("sun.jjz", False, False),  # discipline inspectors see sealed tickets only
        ("admin", False, True),
        ("sun.jjz", True, True),
        ("wang.fzk", True, False),  # nobody else sees a sealed clue, supervisors included
        ("chen.dd2", True, False),
        ("admin", True, True),
    ],
)
def test_who_may_sign(city: Engine, calendar, who: str, sealed: bool, allowed: bool) -> None:
    fields = {"category": "rent_seeking", "place_text": "西山服务区"} if sealed else {}
    ticket_no = dd2_ticket(city, calendar, **fields)
    person = staff_id(city, who)
    before = snapshot(city, ticket_no)
    if allowed:
        assert attempt(city, act.sign, staff_id=person, ticket_no=ticket_no).status == "verifying"
        return
    with pytest.raises(act.PermissionDenied) as denied:
        attempt(city, act.sign, staff_id=person, ticket_no=ticket_no)
    assert who in str(denied.value) and ticket_no in str(denied.value)
    assert snapshot(city, ticket_no) == before


def test_supervisor_outside_the_jurisdiction_is_refused(city: Engine, calendar) -> None:
    with transaction(city) as session:
        other = Unit(code="WS", name="外市支队法制科", kind="legal")
        session.add(other)
        session.flush()
        session.add(
            Staff(username="out.sup", display_name="外", role="supervisor", unit_id=other.id)
        )
    ticket_no = dd2_ticket(city, calendar)
    with pytest.raises(act.PermissionDenied, match="jurisdiction"):
        attempt(city, act.sign, staff_id=staff_id(city, "out.sup"), ticket_no=ticket_no)


def test_inactive_staff_is_refused(city: Engine, calendar) -> None:
    ticket_no = dd2_ticket(city, calendar)
    with transaction(city) as session:
        person = session.exec(select(Staff).where(Staff.username == "chen.dd2")).one()
        person.active = False
    with pytest.raises(act.PermissionDenied, match="inactive"):
        attempt(city, act.sign, staff_id=staff_id(city, "chen.dd2"), ticket_no=ticket_no)


def test_illegal_transition_is_refused_and_changes_nothing(city: Engine, calendar) -> None:
    ticket_no = dd2_ticket(city, calendar)
    before = snapshot(city, ticket_no)
    with pytest.raises(IllegalTransition, match="cannot close while received"):
        attempt(city, act.close, staff_id=staff_id(city, "chen.dd2"), ticket_no=ticket_no)
    assert snapshot(city, ticket_no) == before


def test_reply_goes_to_the_driver_under_the_units_name(city: Engine, calendar) -> None:
    driver = with_driver(city)
    ticket_no = dd2_ticket(city, calendar, complainant_id=driver)
    handler = staff_id(city, "chen.dd2")
    with pytest.raises(act.ActionRefused) as empty:
        attempt(city, act.reply_to_driver, staff_id=handler, ticket_no=ticket_no, message="  ")
    assert empty.value.key == "staff.reason_required"
    attempt(city, act.sign, staff_id=handler, ticket_no=ticket_no)
    ticket = attempt(
        city,
        act.reply_to_driver,
        staff_id=handler,
        ticket_no=ticket_no,
        message="经核查，已责令服务区退还多收费用。",
    )
    assert ticket.status == "replied" and ticket.assignee_id == handler
    with Session(city) as session:
        sent = session.exec(
            select(OutboxMessage).where(OutboxMessage.purpose == "staff_reply")
        ).one()
        reads = session.exec(
            select(IdentityRead).where(IdentityRead.reason == "deliver reply")
        ).all()
    assert (sent.channel, sent.recipient) == ("wechat", "o-driver-77")
    body = sent.payload["replies"][0]["text"]
    assert "示例市交通运输综合执法支队二大队" in body and "退还多收费用" in body
    assert [r.actor for r in reads] == [f"staff:{handler}"]
    assert attempt(city, act.close, staff_id=handler, ticket_no=ticket_no).status == "closed"


def test_transfer_never_to_the_accused_unit(city: Engine, calendar) -> None:
    # An enforcement complaint about 二大队 is handled by 法制科.
    ticket_no = dd2_ticket(city, calendar, category="abusive", place_text="西山收费站")
    supervisor = staff_id(city, "wang.fzk")
    before = snapshot(city, ticket_no)
    for target, key in (
        ("DD2", "staff.to_accused"),
        ("NOPE", "staff.unknown_unit"),
        ("FZK", "staff.same_unit"),
    ):
        with pytest.raises(act.ActionRefused) as refused:
            attempt(
                city,
                act.transfer,
                staff_id=supervisor,
                ticket_no=ticket_no,
                to_unit=target,
                reason="辖区调整",
                calendar=calendar,
            )
        assert refused.value.key == key
    assert snapshot(city, ticket_no) == before
    moved = attempt(
        city,
        act.transfer,
        staff_id=supervisor,
        ticket_no=ticket_no,
        to_unit="DD1",
        reason="由一大队协查",
        calendar=calendar,
    )
    assert moved.status == "transferring" and moved.pending_unit_id == unit_id(city, "DD1")
    with pytest.raises(act.PermissionDenied):  # only the receiving unit accepts
        attempt(city, act.accept_transfer, staff_id=staff_id(city, "chen.dd2"), ticket_no=ticket_no)
    accepted = attempt(
        city, act.accept_transfer, staff_id=staff_id(city, "li.dd1"), ticket_no=ticket_no
    )
    assert accepted.unit_id == unit_id(city, "DD1") and accepted.status == "received"


def test_extension_once_with_a_reason_approved_by_a_supervisor(city: Engine, calendar) -> None:
    ticket_no = dd2_ticket(city, calendar)
    handler, supervisor = staff_id(city, "chen.dd2"), staff_id(city, "wang.fzk")
    attempt(city, act.sign, staff_id=handler, ticket_no=ticket_no)
    with pytest.raises(act.ActionRefused):  # nothing asked yet
        attempt(
            city, act.approve_extension, staff_id=supervisor, ticket_no=ticket_no, calendar=calendar
        )
    with pytest.raises(act.ActionRefused):
        attempt(
            city,
            act.request_extension,
            staff_id=handler,
            ticket_no=ticket_no,
            reason="",
            calendar=calendar,
        )
    attempt(
        city,
        act.request_extension,
        staff_id=handler,
        ticket_no=ticket_no,
        reason="需调取外地执法记录",
        calendar=calendar,
    )
    before = snapshot(city, ticket_no)
    with pytest.raises(act.PermissionDenied, match="role"):  # a handler cannot approve
        attempt(
            city, act.approve_extension, staff_id=handler, ticket_no=ticket_no, calendar=calendar
        )
    assert snapshot(city, ticket_no) == before
    old_due = load_ticket(city, ticket_no).due_at
    ticket = attempt(
        city, act.approve_extension, staff_id=supervisor, ticket_no=ticket_no, calendar=calendar
    )
    assert ticket.extended and ticket.due_at is not None and old_due is not None
    assert calendar.workdays_between(old_due, ticket.due_at) == 7
    with pytest.raises(act.ActionRefused) as again:
        attempt(
            city,
            act.request_extension,
            staff_id=handler,
            ticket_no=ticket_no,
            reason="还要再查",
            calendar=calendar,
        )
    assert again.value.key == "staff.already_extended"


def test_reject_needs_a_listed_reason_and_tells_the_driver(city: Engine, calendar) -> None:
    driver = with_driver(city)
    ticket_no = dd2_ticket(city, calendar, complainant_id=driver)
    handler = staff_id(city, "chen.dd2")
    with pytest.raises(act.ActionRefused) as refused:
        attempt(city, act.reject, staff_id=handler, ticket_no=ticket_no, reason="不想办", note="")
    assert refused.value.key == "staff.bad_reject_reason"
    ticket = attempt(
        city,
        act.reject,
        staff_id=handler,
        ticket_no=ticket_no,
        reason="not_transport",
        note="属物业纠纷",
    )
    assert ticket.status == "rejected"
    with Session(city) as session:
        sent = session.exec(
            select(OutboxMessage).where(OutboxMessage.purpose == "staff_reply")
        ).one()
    assert "不属于交通运输部门职责" in sent.payload["replies"][0]["text"]


# ---------------------------------------------------------------- the chat side


@pytest.fixture
def staff_chat(chat, sqlite_engine, clock):
    """The sample city, and a chat on Telegram as chat id tg-555."""
    load_city(sqlite_engine, clock.now)
    chat.channel, chat.user = "telegram", "tg-555"
    return chat


def bind_code(engine: Engine, username: str, now: datetime, **kwargs: Any) -> str:
    """A fresh binding code."""
    with transaction(engine) as session:
        return issue_binding_code(
            session,
            staff_id=staff_id(engine, username),
            now=now,
            ttl=kwargs.pop("ttl", timedelta(minutes=30)),
            **kwargs,
        )


def test_bind_then_work_tickets_from_the_chat(staff_chat, sqlite_engine, clock, calendar) -> None:
    code = bind_code(sqlite_engine, "chen.dd2", clock.now)
    assert staff_chat.send(f"绑定 {code}")[0].key == "staff.bind_ok"
    assert staff_chat.send(f"绑定 {code}")[0].key == "staff.bind_used"
    with Session(sqlite_engine) as session:
        person = session.exec(select(Staff).where(Staff.username == "chen.dd2")).one()
    assert person.telegram_chat_id == "tg-555"

    driver = with_driver(sqlite_engine)
    mine = file_ticket(sqlite_engine, now=clock.now, calendar=calendar, complainant_id=driver)
    theirs = file_ticket(
        sqlite_engine,
        now=clock.now,
        calendar=calendar,
        domain="taxi",
        category="service",
        place_text="东湖汽车站",
    )
    assert staff_chat.send("待办")[0].text.count("TS") == 1
    assert staff_chat.press(f"签收 {mine.ticket_no}")[0].key == "staff.done_sign"
    assert staff_chat.send(f"办结 {mine.ticket_no}")[0].key == "staff.illegal"
    assert staff_chat.send(f"回复 {mine.ticket_no} 已核实，费用已退还")[0].key == "staff.done_reply"
    assert staff_chat.send(f"办结{mine.ticket_no}")[0].key == "staff.done_close"
    denied = staff_chat.send(f"签收 {theirs.ticket_no}")[0]
    assert denied.key == "staff.denied" and "不属于您所在单位" in denied.text
    assert load_ticket(sqlite_engine, theirs.ticket_no).status == "received"
    assert staff_chat.send("签收 TS20990101-0001")[0].key == "staff.not_found"
    assert staff_chat.send("签收")[0].key == "staff.usage_sign"
    assert load_ticket(sqlite_engine, mine.ticket_no).status == "closed"


def test_expired_and_wrong_channel_codes_are_refused(staff_chat, sqlite_engine, clock) -> None:
    expired = bind_code(
        sqlite_engine, "chen.dd2", clock.now - timedelta(hours=1), ttl=timedelta(minutes=30)
    )
    assert staff_chat.send(f"/bind {expired}")[0].key == "staff.bind_expired"
    wechat_only = bind_code(sqlite_engine, "chen.dd2", clock.now, channel="wechat")
    assert staff_chat.send(f"绑定 {wechat_only}")[0].key == "staff.bind_channel"
    assert staff_chat.send("绑定 00000000")[0].key == "staff.bind_unknown"
    assert staff_chat.send("绑定 一二三")[0].key == "staff.bind_usage"
    with Session(sqlite_engine) as session:
        person = session.exec(select(Staff).where(Staff.username == "chen.dd2")).one()
    assert person.telegram_chat_id is None


def test_staff_words_from_a_driver_are_ordinary_text(chat, sqlite_engine) -> None:
    replies = chat.send("回复 TS20261123-0001 我想问一下进度")
    assert not any(r.key.startswith("staff.") for r in replies)


def test_staff_of_the_accused_unit_never_act_on_the_case(city: Engine, calendar) -> None:
    # A complaint about 法制科 itself: unrouted, an administrator hands it to 一大队 …
    ticket_no = dd2_ticket(city, calendar, category="abusive", place_text="法制科办公室")
    assert load_ticket(city, ticket_no).unit_id is None
    admin = staff_id(city, "admin")
    attempt(
        city,
        act.transfer,
        staff_id=admin,
        ticket_no=ticket_no,
        to_unit="DD1",
        reason="指定一大队核查",
        calendar=calendar,
    )
    attempt(city, act.accept_transfer, staff_id=staff_id(city, "li.dd1"), ticket_no=ticket_no)
    # … and 法制科's supervisors, whose jurisdiction covers 一大队, still may not touch it.
    with pytest.raises(act.PermissionDenied):
        attempt(city, act.sign, staff_id=staff_id(city, "wang.fzk"), ticket_no=ticket_no)
    assert attempt(city, act.sign, staff_id=staff_id(city, "li.dd1"), ticket_no=ticket_no)
