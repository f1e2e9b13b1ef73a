"""Transcript tests of the driver conversation through a fake channel (no platform)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from intake_support import answer_until_summary, keys
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.dispatcher import Dispatcher
from handlers.context import Rules
from handlers.messages import IncomingAttachment, Location
from handlers.slots import SLOTS_BY_CATEGORY
from storage.models import Attachment, Complainant, Conversation, Ticket, TicketEvent, Unit

TICKET_NO = re.compile(r"TS\d{8}-\d{4}")
FINE_WITHOUT_RECEIPT = "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票"


def ticket_count(engine: Engine) -> int:
    """How many tickets exist."""
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Ticket)).one())


def only_ticket(engine: Engine) -> Ticket:
    """The single ticket in the database."""
    with Session(engine) as session:
        tickets = session.exec(select(Ticket)).all()
        assert len(tickets) == 1
        return tickets[0]


def file_complaint(chat, text: str = FINE_WITHOUT_RECEIPT, privacy: str = "real_name") -> str:
    """Run a whole intake with default answers and return the ticket number."""
    replies = chat.send(text)
    assert replies[-1].key == "intake.ask_privacy"
    replies = chat.press(privacy)
    if replies[-1].key == "intake.ask_confirm_category":
        replies = chat.press("yes")
    elif replies[-1].key == "intake.uncertain":
        replies = chat.press(replies[-1].choices[0].value)
    _asked, replies = answer_until_summary(chat, replies)
    replies = chat.press("submit")
    assert replies[0].key in ("intake.created", "intake.merged"), replies[0].text
    match = TICKET_NO.search(replies[0].text)
    assert match
    return match.group(0)


def test_fine_without_receipt_files_ticket_asking_only_what_is_missing(chat, sqlite_engine):
    replies = chat.send(FINE_WITHOUT_RECEIPT)
    assert keys(replies) == ["intake.start", "intake.ask_privacy"]
    replies = chat.press("real_name")
    assert replies[0].key == "intake.understood"
    assert "逐利执法" in replies[0].text
    assert "2000" in replies[1].text  # the facts shown back include the amount
    replies = chat.press("yes")
    asked, replies = answer_until_summary(chat, replies)
    # Time, place, amount and receipt came with the description.
    assert not {"occurred", "place", "amount", "receipt"} & set(asked)
    assert asked == ["accused", "own_plate", "evidence", "contact"]
    summary = replies[-2].text
    assert "治超站" in summary and "13812345678" in summary
    replies = chat.press("submit")
    assert replies[0].key == "intake.created"
    # Filed Monday 2026-11-23: 15 working days end on Monday 2026-12-14.
    assert "15个工作日" in replies[0].text and "2026年12月14日" in replies[0].text
    ticket = only_ticket(sqlite_engine)
    assert ticket.category == "profit_driven"
    assert ticket.amount_yuan == Decimal("2000")
    assert ticket.receipt_given is False
    assert ticket.status == "received"
    with Session(sqlite_engine) as session:
        person = session.get(Complainant, ticket.complainant_id)
        assert person is not None
        assert person.phone == "13812345678" and person.own_plate == "湘A3K921"
    # Identity stays on the complainant: the ticket carries facts and place only.
    assert "13812345678" not in str(ticket.model_dump())
    assert "湘A3K921" not in str(ticket.model_dump())


@pytest.mark.parametrize("category", sorted(SLOTS_BY_CATEGORY))
def test_each_category_asks_its_own_questions(chat, sqlite_engine, category):
    replies = chat.send("我要反映一个情况，说来话长，请帮忙处理一下")
    replies = chat.press("anonymous")
    if replies[-1].key == "intake.ask_confirm_category":
        replies = chat.press("other")
    assert replies[-1].key in ("intake.ask_category", "intake.uncertain")
    replies = chat.press(category)
    asked, _ = answer_until_summary(chat, replies)
    # Anonymous filings never collect the driver's own plate.
    expected = [s for s in SLOTS_BY_CATEGORY[category] if s != "own_plate"]
    assert asked == [*expected, "evidence", "contact"]
    chat.press("submit")
    ticket = only_ticket(sqlite_engine)
    assert ticket.category == category
    assert ticket.anonymity == "anonymous"
    assert ticket.classification.get("driver_category") in (category, None)


def test_skip_optional_but_not_required_and_give_up_after_three_reasks(chat, sqlite_engine):
    replies = chat.send("执法人员态度很差，骂人，还不让我说话")
    replies = chat.press("real_name")
    replies = chat.press("yes")
    assert replies[-1].key == "intake.ask_occurred"
    replies = chat.press("skip")  # optional: moves on
    assert replies[-1].key == "intake.ask_place"
    replies = chat.send("跳过")  # required: asked again with a hint
    assert replies[-1].key == "intake.ask_place_again"
    replies = chat.send("G4京港澳高速长沙北收费站")
    assert replies[-1].key == "intake.ask_accused"
    replies = chat.press("skip")
    assert replies[-1].key == "intake.ask_own_plate"
    for _ in range(3):
        replies = chat.send("不记得了车牌")
        assert replies[-1].key == "intake.ask_own_plate_again"
    replies = chat.send("还是不记得")
    assert keys(replies)[0] == "intake.gave_up_slot"
    assert replies[-1].key == "intake.ask_evidence"


def test_cancel_in_the_middle_leaves_nothing(chat, sqlite_engine):
    chat.send(FINE_WITHOUT_RECEIPT)
    chat.press("real_name")
    replies = chat.send("取消")
    assert keys(replies) == ["common.cancelled"]
    assert ticket_count(sqlite_engine) == 0
    assert keys(chat.send("/cancel")) == ["common.nothing_to_cancel"]


def test_status_of_someone_elses_ticket_is_refused(chat, another_chat):
    ticket_no = file_complaint(chat)
    other = another_chat
    replies = other.send(f"/status {ticket_no}")
    assert keys(replies) == ["status.not_found"]
    # It looks exactly like an unknown number: nothing about the ticket leaks.
    assert replies[0].text == other.send("/status TS20991231-9999")[0].text.replace(
        "TS20991231-9999", ticket_no
    )
    mine = chat.send(f"查询{ticket_no}")
    assert mine[0].key == "status.detail" and "已受理" in mine[0].text
    assert ticket_no in chat.send("我的投诉")[0].text
    assert keys(other.send("/mine")) == ["status.none"]


def test_withdraw_own_ticket(chat, sqlite_engine):
    ticket_no = file_complaint(chat)
    replies = chat.send(f"/withdraw {ticket_no}")
    assert replies[-1].key == "withdraw.ask_confirm"
    replies = chat.press("confirm")
    assert keys(replies) == ["withdraw.done"]
    assert only_ticket(sqlite_engine).status == "withdrawn"
    replies = chat.send(f"撤回 {ticket_no}")
    replies = chat.press("confirm")
    assert keys(replies) == ["withdraw.not_allowed"]


def test_supplement_adds_text_and_evidence_as_events(chat, sqlite_engine):
    ticket_no = file_complaint(chat)
    replies = chat.send("补充")
    assert replies[-1].key == "supplement.ask_content"
    chat.send("对方执法证号是 HN54321，当时还有一辆黑色轿车")
    photo = IncomingAttachment(kind="image", mime="image/jpeg", size=2048, channel_file_id="f-1")
    chat.send(attachments=(photo,))
    replies = chat.send("完成")
    assert keys(replies) == ["supplement.saved"]
    ticket = only_ticket(sqlite_engine)
    with Session(sqlite_engine) as session:
        actions = session.exec(
            select(TicketEvent.action).where(TicketEvent.ticket_id == ticket.id)
        ).all()
        assert actions.count("supplement") == 2
        files = session.exec(select(Attachment).where(Attachment.ticket_id == ticket.id)).all()
        assert [f.channel_file_id for f in files] == ["f-1"]
    assert ticket.ticket_no == ticket_no


def test_repeat_complaint_is_merged_into_the_open_ticket(chat, sqlite_engine):
    first = file_complaint(chat)
    replies = chat.send(FINE_WITHOUT_RECEIPT + "，今天又去问还是不给")
    chat.press("real_name")
    replies = chat.press("yes")
    _asked, replies = answer_until_summary(chat, replies)
    replies = chat.press("submit")
    assert keys(replies) == ["intake.merged"]
    assert first in replies[0].text
    assert ticket_count(sqlite_engine) == 1
    with Session(sqlite_engine) as session:
        merged = session.exec(select(TicketEvent).where(TicketEvent.action == "merge")).one()
        assert "今天又去问" in merged.note


def test_deep_link_prefills_station(chat, sqlite_engine):
    with Session(sqlite_engine) as session:
        session.add(Unit(code="ZC01", name="长沙北治超站", kind="station"))
        session.commit()
    replies = chat.send("/start u-ZC01")
    assert "长沙北治超站" in replies[1].text
    assert replies[-1].key == "intake.ask_privacy"
    chat.press("anonymous")
    replies = chat.send("他们让我卸货还收了卸货费三百块")
    replies = chat.press("yes") if replies[-1].key == "intake.ask_confirm_category" else replies
    asked, _ = answer_until_summary(chat, replies)
    assert "place" not in asked
    chat.press("submit")
    ticket = only_ticket(sqlite_engine)
    assert ticket.source == "u-ZC01"
    assert ticket.place_text == "长沙北治超站"


def test_urgent_case_gets_emergency_instruction(chat, sqlite_engine):
    replies = chat.send("检查站的人动手打人，我头被打破了一直在流血")
    assert "emergency.notice" in keys(replies)
    assert "120" in replies[keys(replies).index("emergency.notice")].text
    chat.press("real_name")
    replies = chat.press("yes")
    _asked, replies = answer_until_summary(chat, replies)
    replies = chat.press("submit")
    assert "intake.created_urgent" in keys(replies)
    ticket = only_ticket(sqlite_engine)
    assert ticket.severity == "urgent"
    assert ticket.ack_due_at is not None
    assert (ticket.ack_due_at - ticket.created_at).total_seconds() == 2 * 3600


def test_rights_question_is_answered_at_once(chat, sqlite_engine):
    replies = chat.send("罚款不给开收据，我可以拒绝交吗？")
    assert keys(replies) == ["rights.answer"]
    assert "行政处罚法" in replies[0].text
    assert ticket_count(sqlite_engine) == 0


def test_traffic_police_matter_is_redirected(chat, sqlite_engine):
    replies = chat.send("交警在路口扣了我驾照6分，我觉得不对")
    assert keys(replies) == ["redirect.traffic_police"]
    assert "122" in replies[0].text
    assert ticket_count(sqlite_engine) == 0


def test_restart_in_the_middle_resumes(chat, sqlite_engine, clock, calendar):
    chat.send(FINE_WITHOUT_RECEIPT)
    chat.press("real_name")
    # A new process: new dispatcher, same database.
    chat.dispatcher = Dispatcher(engine=sqlite_engine, rules=Rules(calendar=calendar), clock=clock)
    replies = chat.press("yes")
    assert replies[-1].key == "intake.ask_accused"
    replies = chat.send("投诉")
    assert keys(replies)[0] == "common.resume"
    assert replies[-1].key == "intake.ask_accused"


def test_draft_expires_after_ttl(chat, clock):
    chat.send(FINE_WITHOUT_RECEIPT)
    clock.advance(hours=25)
    replies = chat.press("real_name")
    assert keys(replies)[0] == "common.draft_expired"


def test_numbers_and_labels_pick_choices(chat, sqlite_engine):
    chat.send(FINE_WITHOUT_RECEIPT)
    replies = chat.send("2")  # the second option: 匿名
    assert replies[-1].key == "intake.ask_confirm_category"
    replies = chat.send("正确")
    assert replies[-1].key.startswith("intake.ask_")


def test_location_answers_the_place_question(chat, sqlite_engine):
    chat.send("执法人员态度很差，骂人，还不让我说话")
    chat.press("anonymous")
    chat.press("yes")
    chat.press("skip")
    replies = chat.send(location=Location(28.2282, 112.9388, "长沙北收费站"))
    assert replies[-1].key == "intake.ask_accused"


def test_duplicate_delivery_is_answered_once(chat, sqlite_engine):
    first = chat.send(FINE_WITHOUT_RECEIPT, message_id="wx-1")
    again = chat.send(FINE_WITHOUT_RECEIPT, message_id="wx-1")
    assert [r.text for r in again] == [r.text for r in first]
    with Session(sqlite_engine) as session:
        conversation = session.exec(select(Conversation)).one()
        assert conversation.state == "intake.privacy"


def test_failure_before_commit_loses_nothing(chat, sqlite_engine, monkeypatch):
    chat.send(FINE_WITHOUT_RECEIPT)
    chat.press("real_name")
    replies = chat.press("yes")
    answer_until_summary(chat, replies)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("bot.dispatcher.store_inbound_replies", boom)
    with pytest.raises(RuntimeError):
        chat.send(choice="submit", message_id="submit-1")
    assert ticket_count(sqlite_engine) == 0  # no half ticket
    monkeypatch.undo()
    replies = chat.send(choice="submit", message_id="submit-1")  # the platform retries
    assert replies[0].key == "intake.created"
    assert ticket_count(sqlite_engine) == 1


@pytest.mark.parametrize("text", ["", "   ", "😡😡😡", "\u0000\u0007"])
def test_empty_and_emoji_only_messages_get_a_clear_answer(chat, sqlite_engine, text):
    replies = chat.send(text)
    assert replies and replies[0].key in ("common.empty", "common.greeting")
    assert ticket_count(sqlite_engine) == 0


def test_html_is_kept_verbatim_as_data(chat, sqlite_engine):
    ticket_no = file_complaint(chat, text=FINE_WITHOUT_RECEIPT + "<script>alert(1)</script>")
    assert ticket_no
    assert "<script>alert(1)</script>" in only_ticket(sqlite_engine).description


def test_long_description_is_cut_with_notice(chat, sqlite_engine):
    replies = chat.send(FINE_WITHOUT_RECEIPT + "还有" * 5000)
    assert "intake.description_cut" in keys(replies)


def test_english_speaking_driver_is_answered_in_english(chat, sqlite_engine):
    chat.language = "en-US"
    replies = chat.send(FINE_WITHOUT_RECEIPT)
    assert replies[-1].key == "intake.ask_privacy"
    assert "Anonymous" in [c.label for c in replies[-1].choices]
    chat.press("anonymous")
    replies = chat.press("yes")
    _asked, replies = answer_until_summary(chat, replies, answers={"accused": "HN12345"})
    replies = chat.press("submit")
    assert replies[0].key == "intake.created"
    assert TICKET_NO.search(replies[0].text) and "2026-12-14" in replies[0].text
    assert not re.search(r"[\u4e00-\u9fff]{4,}", replies[0].text.replace("工单", ""))
