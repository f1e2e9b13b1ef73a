"""The dispatcher on both backends: one answer per message id, state kept between messages."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.dispatcher import Dispatcher
from handlers.context import Rules
from handlers.messages import IncomingMessage
from handlers.workdays import WorkCalendar
from storage.models import Conversation, OutboxMessage, ProcessedMessage

COMPLAINT = "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票"


def message(clock, text: str = "", *, message_id: str, choice: str | None = None):  # type: ignore[no-untyped-def]
    """A test-channel message from one driver."""
    return IncomingMessage(
        channel="test",
        message_id=message_id,
        user_key="driver-pg",
        received_at=clock(),
        text=text,
        choice=choice,
    )


def test_duplicates_get_the_stored_answer_on_both_backends(
    any_engine: Engine, clock, calendar: WorkCalendar
) -> None:  # type: ignore[no-untyped-def]
    dispatcher = Dispatcher(engine=any_engine, rules=Rules(calendar=calendar), clock=clock)
    first = dispatcher.handle(message(clock, COMPLAINT, message_id="a1"))
    assert not first.duplicate and first.replies[-1].key == "intake.ask_privacy"
    again = dispatcher.handle(message(clock, COMPLAINT, message_id="a1"))
    assert again.duplicate
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    second = dispatcher.handle(message(clock, message_id="a2", choice="real_name"))
    assert second.replies[-1].key == "intake.ask_confirm_category"
    with Session(any_engine) as session:
        assert session.exec(select(func.count()).select_from(ProcessedMessage)).one() == 2
        assert session.exec(select(Conversation.state)).one() == "intake.confirm"


def test_concurrent_deliveries_of_one_message_are_handled_once(
    any_engine: Engine, clock, calendar: WorkCalendar
) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    dispatcher = Dispatcher(engine=any_engine, rules=Rules(calendar=calendar), clock=clock)
    barrier = threading.Barrier(4)
    outcomes = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(
            dispatcher.handle(
                message(clock, COMPLAINT, message_id="same"), outbox_hold=timedelta(seconds=5)
            )
        )

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.duplicate for o in outcomes) == [False, True, True, True]
    assert len({tuple(r.text for r in o.replies) for o in outcomes}) == 1
    with Session(any_engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
        assert [r.idempotency_key for r in rows] == ["reply:test:same"]
