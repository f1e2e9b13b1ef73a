"""Answering within five seconds exactly once: passive replies, retries, the outbox path."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from wechat_platform import TICKET_NO, count, new_openid
from wechat_platform_api import FakeWeChatAPI
from wechat_platform_chat import Driver, Rig, RigFactory, answer_until_summary, rig_factory

from bot.channels.wechat import OUTBOX_HOLD
from bot.channels.wechat_inbound import parse_push
from bot.dispatcher import reply_outbox_key
from handlers.catalog import text
from storage.models import OutboxMessage, ProcessedMessage, Ticket
from storage.outbox import outbox_status

COMPLAINT = "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatAPI]:
    """The platform's API on a loopback port."""
    async with FakeWeChatAPI() as api:
        yield api


@pytest.fixture
async def make_rig(make_chat: Any, fake_api: FakeWeChatAPI) -> AsyncIterator[RigFactory]:
    """Apps with WeChat on, each with a simulator."""
    async with rig_factory(make_chat, fake_api) as factory:
        yield factory


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    """Safe mode on the real clock."""
    return await make_rig()


async def to_summary(rig: Rig, openid: str) -> None:
    """Walk one driver through the intake up to the question whether to submit."""
    driver = Driver(rig.sim, openid)
    await answer_until_summary(driver, await driver.say(COMPLAINT))


def outbox_rows(rig: Rig) -> list[OutboxMessage]:
    """Every outbox row."""
    with Session(rig.engine) as session:
        return list(session.exec(select(OutboxMessage)).all())


async def test_same_push_three_times_gives_one_ticket_and_one_answer(rig: Rig) -> None:
    openid = new_openid()
    await to_summary(rig, openid)
    submit = rig.sim.text(openid, "1")
    answers = [await rig.sim.say(submit) for _ in range(3)]
    assert answers[1:] == [None, None]  # the retries get `success`
    assert answers[0] is not None and TICKET_NO.search(answers[0])
    assert count(rig.engine, Ticket) == 1
    assert rig.api.sent_texts() == []
    assert {r.status for r in outbox_rows(rig)} == {"cancelled"}


async def test_same_push_three_times_at_once_gives_one_answer(rig: Rig) -> None:
    openid = new_openid()
    await to_summary(rig, openid)
    submit = rig.sim.text(openid, "1")
    answers = await asyncio.gather(*(rig.sim.say(submit) for _ in range(3)))
    assert sum(a is not None for a in answers) == 1
    assert count(rig.engine, Ticket) == 1
    assert rig.api.sent_texts() == []


async def test_slow_step_answers_success_and_the_outbox_sends_once(
    make_rig: RigFactory, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(clock=clock)
    openid = new_openid()
    push = rig.sim.text(openid, "帮助")
    monkeypatch.setattr("bot.channels.wechat.PASSIVE_BUDGET_SECONDS", 0.0)
    delivery = await rig.sim.deliver(push)
    assert (delivery.final.status, delivery.final.body) == (200, "success")
    await rig.channel.drain()  # the step finishes after the answer
    delivery_job = rig.services.delivery
    assert (await delivery_job.deliver_due()).sent == 0  # held for 4.5 s
    clock.advance(seconds=5)
    assert (await delivery_job.deliver_due()).sent == 1
    assert rig.api.sent_texts(openid) == [text("common.help")]
    # WeChat's retry of the same push now gets `success`: the answer went out already.
    monkeypatch.setattr("bot.channels.wechat.PASSIVE_BUDGET_SECONDS", 4.0)
    assert await rig.sim.say(push) is None
    clock.advance(seconds=60)
    assert (await delivery_job.deliver_due()).sent == 0
    assert rig.api.sent_texts(openid) == [text("common.help")]
    assert count(rig.engine, ProcessedMessage) == 1


async def test_crash_after_commit_then_retry_answers_passively(rig: Rig) -> None:
    openid = new_openid()
    push = rig.sim.text(openid, "帮助")
    # What a process killed after its commit leaves behind: the step's work and a held row.
    message = parse_push(push.xml, received_at=rig.services.clock()).message
    outcome = await rig.services.dispatcher.handle_async(message, outbox_hold=OUTBOX_HOLD)
    assert outcome.outbox_key is not None
    # WeChat got no answer and pushes again: the retry takes the row back and answers.
    assert await rig.sim.say(push) == text("common.help")
    with Session(rig.engine) as session:
        assert outbox_status(session, idempotency_key=outcome.outbox_key) == "cancelled"
    assert rig.api.sent_texts() == []


async def test_crash_after_commit_without_retry_is_sent_by_the_job(
    make_rig: RigFactory, clock: Any
) -> None:
    rig = await make_rig(clock=clock)
    openid = new_openid()
    message = parse_push(rig.sim.text(openid, "帮助").xml, received_at=clock()).message
    await rig.services.dispatcher.handle_async(message, outbox_hold=OUTBOX_HOLD)
    clock.advance(seconds=5)
    assert (await rig.services.delivery.deliver_due()).sent == 1
    assert rig.api.sent_texts(openid) == [text("common.help")]


async def test_cancel_after_the_budget_leaves_the_reply_to_the_outbox(rig: Rig) -> None:
    openid = new_openid()
    message = parse_push(rig.sim.text(openid, "帮助").xml, received_at=rig.services.clock())
    await rig.services.dispatcher.handle_async(message.message, outbox_hold=OUTBOX_HOLD)
    key = reply_outbox_key(message.message)
    assert rig.channel._cancel_before(key, time.monotonic() - 0.001) is False
    with Session(rig.engine) as session:
        assert outbox_status(session, idempotency_key=key) == "pending"
    assert rig.channel._cancel_before(key, time.monotonic() + 5) is True


async def test_long_answer_goes_out_through_the_outbox(
    make_rig: RigFactory, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(clock=clock)
    monkeypatch.setattr("bot.channels.wechat.fits_one_message", lambda _text: False)
    openid = new_openid()
    assert await rig.sim.say(rig.sim.text(openid, "帮助")) is None
    clock.advance(seconds=5)
    assert (await rig.services.delivery.deliver_due()).sent == 1
    assert rig.api.sent_texts(openid) == [text("common.help")]


async def test_failed_step_is_503_stores_nothing_and_the_retry_works(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    openid = new_openid()
    push = rig.sim.text(openid, "帮助")
    real = rig.services.dispatcher.handle

    def broken(*_args: object, **_kwargs: object) -> object:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(rig.services.dispatcher, "handle", broken)
    attempt = await rig.sim.post(push)
    assert attempt.status == 503
    assert rig.stored_nothing()
    monkeypatch.setattr(rig.services.dispatcher, "handle", real)
    assert await rig.sim.say(push) == text("common.help")


async def test_logs_carry_message_ids_but_no_openid_or_text(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    openid = new_openid()
    driver = Driver(rig.sim, openid)
    await answer_until_summary(driver, await driver.send(rig.sim.subscribe(openid, "u-ZC01")))
    answer = await rig.sim.say(rig.sim.text(openid, "1"))
    assert answer is not None
    ticket_no = TICKET_NO.search(answer)
    assert ticket_no and ticket_no.group(0) in caplog.text
    for secret in (openid, "13812345678", "湘A3K921", "治超站"):
        assert secret not in caplog.text
