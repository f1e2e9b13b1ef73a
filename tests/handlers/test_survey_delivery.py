"""Never twice, never silently lost: two survey jobs and two deliverers at once, one killed.

Forty surveys fall due. Two survey jobs run concurrently (two replicas), then a delivery
worker in another process claims a few outbox rows and is killed with SIGKILL before
sending, then two delivery workers run concurrently, then a restarted worker runs again,
then the stale sweep. Every survey must end sent exactly once or flagged for review.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from ops_support import file_ticket, load_city
from sqlalchemy import Engine, func, update
from sqlmodel import Session, select
from survey_support import add_driver, handle_and_close, local, run_job, survey_outbox, surveys

from bot.outbox import OutboxDelivery
from storage.engine import make_engine, transaction
from storage.models import OutboxMessage, Survey, TicketEvent
from storage.outbox import flag_stale_sends

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("survey_worker.py")
SURVEYS = 40
KILLED_CLAIMS = 5
FILED = local(2026, 9, 22, 9, 0)
CLOSED = local(2026, 9, 24, 15, 0)
DUE = local(2026, 9, 28, 10, 0)
DELIVER = DUE + timedelta(minutes=1)


class RecordingSender:
    """A fake channel that records every send (thread-safe) and yields between sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """Record which survey this is, by its first button's value."""
        value = payload["replies"][0]["choices"][0]["value"]
        with self.lock:
            self.sent.append(value.rsplit(":", 1)[0])
        await asyncio.sleep(0.001)


def _due_surveys(engine: Engine, calendar) -> None:
    """SURVEYS closed tickets of as many drivers, all surveyed at DUE."""
    load_city(engine, FILED)
    for n in range(SURVEYS):
        driver = add_driver(engine, user=f"u-{n}")
        ticket = file_ticket(engine, now=FILED, calendar=calendar, complainant_id=driver)
        handle_and_close(engine, ticket.ticket_no, at=CLOSED, calendar=calendar)
    with transaction(engine) as session:  # replies and notices went out long ago
        session.execute(update(OutboxMessage).values(status="sent"))


def _concurrently(*jobs: Any) -> None:
    """Start the jobs together in threads and wait for all; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Any) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]


def _survey_job_until_done(url: str, calendar) -> None:
    engine = make_engine(url)
    try:
        while run_job(engine, DUE, calendar).total:
            pass
    finally:
        engine.dispose()


def _deliver_until_done(url: str, sender: RecordingSender, worker: str) -> None:
    engine = make_engine(url)
    delivery = OutboxDelivery(
        engine=engine, senders={"test": sender}, clock=lambda: DELIVER, worker_id=worker
    )

    async def loop() -> None:
        while (await delivery.deliver_due(limit=3)).sent:
            pass

    try:
        asyncio.run(loop())
    finally:
        engine.dispose()


def test_no_survey_sent_twice_or_lost(any_engine: Engine, calendar) -> None:
    engine = any_engine
    url = engine.url.render_as_string(hide_password=False)
    _due_surveys(engine, calendar)

    # Two replicas turn due surveys into outbox rows at the same moment.
    _concurrently(*(lambda: _survey_job_until_done(url, calendar) for _ in range(2)))
    assert [s.status for s in surveys(engine)] == ["sent"] * SURVEYS
    rows = survey_outbox(engine)
    assert len(rows) == SURVEYS == len({r.idempotency_key for r in rows})
    with Session(engine) as session:
        sent_events = session.exec(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.action == "note")
        ).one()
    assert sent_events == SURVEYS * 2  # one 'scheduled' and one 'sent' per survey, no more

    # A worker in another process claims some rows and is killed before sending.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    died = subprocess.run(
        [sys.executable, str(WORKER), url, DELIVER.isoformat(), str(KILLED_CLAIMS)],
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert died.returncode == -9

    # Two live workers deliver the rest at once; then a restarted worker finds nothing.
    sender = RecordingSender()
    _concurrently(*(lambda n=n: _deliver_until_done(url, sender, f"w{n}") for n in range(2)))
    _deliver_until_done(url, sender, "restarted")
    with transaction(engine) as session:
        flagged = flag_stale_sends(
            session, now=DELIVER + timedelta(minutes=10), older_than=timedelta(minutes=5)
        )

    assert flagged == KILLED_CLAIMS
    assert max(Counter(sender.sent).values()) == 1, "a survey was sent twice"
    with Session(engine) as session:
        outbox = session.exec(select(OutboxMessage).where(OutboxMessage.purpose == "survey")).all()
        ids = session.exec(select(Survey.id)).all()
    by_status = Counter(r.status for r in outbox)
    assert by_status == {"sent": SURVEYS - KILLED_CLAIMS, "review": KILLED_CLAIMS}
    assert {r.claimed_by for r in outbox if r.status == "review"} == {"doomed"}
    sent_keys = set(sender.sent)
    review_keys = {r.idempotency_key.rsplit(":", 1)[0] for r in outbox if r.status == "review"}
    assert sent_keys | review_keys == {f"survey:{i}" for i in ids}
    assert not sent_keys & review_keys
