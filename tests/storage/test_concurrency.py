"""Real concurrent sessions in threads: the version guard, the event log, ticket numbers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select
from storage_support import NOW, events_of, load, make_draft, new_ticket

from storage.engine import transaction
from storage.errors import ConflictError
from storage.events import verify_chain
from storage.lifecycle import Action
from storage.models import Ticket
from storage.tickets import apply_action, create_ticket

T = TypeVar("T")
WAIT = 30  # seconds; generous, a hang fails instead of blocking the suite


def _together(n: int, work: Callable[[int], T]) -> list[T]:
    """Run `work(0..n-1)` in n threads released at once by a barrier; re-raise any error."""
    barrier = threading.Barrier(n, timeout=WAIT)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(start, i) for i in range(n)]
        return [future.result(timeout=WAIT) for future in futures]


def _note(engine: Engine, ticket_no: str, i: int, expected_version: int | None = None) -> int:
    """One NOTE by writer i in its own transaction; the version it produced."""
    with transaction(engine) as session:
        ticket = apply_action(
            session,
            ticket_no=ticket_no,
            action=Action.NOTE,
            actor=f"staff:{i}",
            now=NOW + timedelta(seconds=i + 1),
            note=f"writer {i}",
            expected_version=expected_version,
        )
        return ticket.version


def _assert_log_complete(engine: Engine, ticket_id: int, expected_events: int) -> None:
    """Events are seq 1..n without gaps and the hash chain verifies."""
    events = events_of(engine, ticket_id)
    assert [e.seq for e in events] == list(range(1, expected_events + 1))
    with transaction(engine) as session:
        check = verify_chain(session, ticket_id=ticket_id)
    assert (check.ok, check.events) == (True, expected_events), check


def test_same_expected_version_exactly_one_wins_and_loser_retries(any_engine: Engine) -> None:
    ticket = new_ticket(any_engine)
    assert ticket.id is not None

    def contend(i: int) -> str:
        """Both writers saw version 1 (loaded before the barrier released them)."""
        try:
            _note(any_engine, ticket.ticket_no, i, expected_version=seen[i])
        except ConflictError as conflict:
            assert conflict.expected_version == seen[i]
            return "conflict"
        return "ok"

    seen = [load(any_engine, ticket.ticket_no).version for _ in range(2)]
    assert seen == [1, 1]
    outcomes = _together(2, contend)
    assert sorted(outcomes) == ["conflict", "ok"]

    stored = load(any_engine, ticket.ticket_no)
    assert stored.version == 2
    assert len(events_of(any_engine, ticket.id)) == 2

    loser = outcomes.index("conflict")
    assert _note(any_engine, ticket.ticket_no, loser, expected_version=stored.version) == 3

    _assert_log_complete(any_engine, ticket.id, expected_events=1 + 2)
    notes = [e.note for e in events_of(any_engine, ticket.id)]
    assert notes == ["", f"writer {1 - loser}", f"writer {loser}"]


@pytest.mark.parametrize("guarded", [True, False], ids=["expected_version", "no_expected_version"])
def test_postgres_update_rechecks_the_version_after_the_other_commits(
    pg_engine: Engine, guarded: bool
) -> None:
    # Deterministic interleaving: B reads version 1 while A's update is uncommitted, then
    # blocks on A's row lock; when A commits, B's guarded UPDATE must match no row.
    ticket = new_ticket(pg_engine)
    assert ticket.id is not None
    a_updated = threading.Event()
    b_waiting = threading.Event()
    b_pid: list[int] = []

    def writer_a() -> int:
        """Apply, then hold the transaction open until B is stuck behind the row lock."""
        with transaction(pg_engine) as session:
            applied = apply_action(
                session, ticket_no=ticket.ticket_no, action=Action.SIGN, actor="a", now=NOW
            )
            a_updated.set()
            assert b_waiting.wait(WAIT)
            return applied.version

    def writer_b() -> str:
        """Act on what it read (version 1) while A is still open."""
        assert a_updated.wait(WAIT)
        try:
            with transaction(pg_engine) as session:
                b_pid.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                apply_action(
                    session,
                    ticket_no=ticket.ticket_no,
                    action=Action.NOTE,
                    actor="b",
                    now=NOW,
                    expected_version=1 if guarded else None,
                )
        except ConflictError:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(writer_a)
        b = pool.submit(writer_b)
        deadline = time.monotonic() + WAIT
        with pg_engine.connect() as watcher:
            while time.monotonic() < deadline:
                waiting = (
                    b_pid
                    and watcher.execute(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": b_pid[0]},
                    ).scalar_one_or_none()
                )
                watcher.rollback()
                if waiting == "Lock":
                    break
                time.sleep(0.01)
        b_waiting.set()
        assert waiting == "Lock", "B never blocked on A's row lock"
        assert a.result(timeout=WAIT) == 2
        assert b.result(timeout=WAIT) == "conflict"

    stored = load(pg_engine, ticket.ticket_no)
    assert (stored.version, stored.status) == (2, "verifying")
    _assert_log_complete(pg_engine, ticket.id, expected_events=2)


def test_eight_writers_without_expected_version_all_land_after_retries(
    any_engine: Engine,
) -> None:
    ticket = new_ticket(any_engine)
    assert ticket.id is not None
    writers = 8

    def note_with_retry(i: int) -> int:
        """Retry on ConflictError until the note lands; returns the number of conflicts."""
        conflicts = 0
        while True:
            try:
                _note(any_engine, ticket.ticket_no, i)
            except ConflictError:
                conflicts += 1
                assert conflicts < 50, "writer starved"
                continue
            return conflicts

    _together(writers, note_with_retry)

    assert load(any_engine, ticket.ticket_no).version == 1 + writers
    _assert_log_complete(any_engine, ticket.id, expected_events=1 + writers)
    events = events_of(any_engine, ticket.id)
    assert Counter(e.note for e in events[1:]) == Counter(f"writer {i}" for i in range(writers))


def test_concurrent_creators_get_distinct_consecutive_numbers(any_engine: Engine) -> None:
    threads, per_thread = 8, 25
    days = {0: "20261123", 1: "20261124"}  # even threads on one local day, odd on the next

    def create_many(i: int) -> list[str]:
        """Create `per_thread` tickets, one transaction each."""
        numbers = []
        for j in range(per_thread):
            now = NOW + timedelta(days=i % 2, seconds=j)
            with transaction(any_engine) as session:
                ticket = create_ticket(session, draft=make_draft(), actor=f"driver:{i}", now=now)
                numbers.append(ticket.ticket_no)
        return numbers

    numbers = [n for batch in _together(threads, create_many) for n in batch]

    assert len(numbers) == len(set(numbers)) == threads * per_thread
    per_day = threads // 2 * per_thread
    for parity, day in days.items():
        mine = [n for n in numbers if n.startswith(f"TS{day}-")]
        assert sorted(mine) == [f"TS{day}-{k:04d}" for k in range(1, per_day + 1)], parity
    with transaction(any_engine) as session:
        stored = session.exec(select(Ticket.ticket_no)).all()
    assert sorted(stored) == sorted(numbers)
