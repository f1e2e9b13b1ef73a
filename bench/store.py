"""Ticket store throughput: create_ticket and apply_action(SIGN) beside raw SQL, same run.

One ticket per transaction on both sides, as the service does. SQLite runs on a temp file,
PostgreSQL in private schemas of the test database (skipped with a note if unreachable).

    .venv/bin/python bench/store.py [--n 2000] [--backend both] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, text

from storage.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, transaction
from storage.events import GENESIS_HASH, event_hash, verify_chain
from storage.lifecycle import Action
from storage.migrate import upgrade
from storage.tickets import LOCAL_TZ, TicketDraft, apply_action, create_ticket, get_ticket

PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 0.3
DRAFT = TicketDraft(
    kind="complaint",
    category="fine_no_receipt",
    severity="normal",
    channel="telegram",
    description="治超站罚款两千元不给票，执法人员态度恶劣",
    place_text="京港澳高速 G4 K123 治超站",
    plates=("冀A12345",),
)
CREATE_DATA = {"kind": DRAFT.kind, "category": DRAFT.category, "severity": DRAFT.severity}


@dataclass(frozen=True)
class Rates:
    """Operations per second of one implementation."""

    create: float
    sign: float


# -- the service's code path ------------------------------------------------------------------


def orm_create(engine: Engine, n: int) -> list[str]:
    """n × create_ticket, one transaction each; the ticket numbers."""
    numbers = []
    for _ in range(n):
        with transaction(engine) as session:
            ticket = create_ticket(session, draft=DRAFT, actor="driver", now=datetime.now(UTC))
            numbers.append(ticket.ticket_no)
    return numbers


def orm_sign(engine: Engine, numbers: list[str]) -> None:
    """apply_action(SIGN) on every ticket, one transaction each."""
    for ticket_no in numbers:
        with transaction(engine) as session:
            apply_action(
                session,
                ticket_no=ticket_no,
                action=Action.SIGN,
                actor="staff:1",
                now=datetime.now(UTC),
            )


# -- raw SQL baselines ------------------------------------------------------------------------

TICKET_COLUMNS = (
    "ticket_no", "kind", "category", "severity", "status", "channel", "anonymity", "sealed",
    "description", "place_text", "plates", "badges", "classification", "supervision_level",
    "reopen_count", "extended", "deadline_provisional", "created_at", "updated_at", "version",
)  # fmt: skip
EVENT_COLUMNS = (
    "ticket_id", "seq", "actor", "action", "from_status", "to_status", "note", "data",
    "created_at", "prev_hash", "hash",
)  # fmt: skip
UPSERT_COUNTER = (
    "INSERT INTO ticket_counters (day, last) VALUES ({p}, 1) ON CONFLICT (day) "
    "DO UPDATE SET last = ticket_counters.last + 1 RETURNING last"
)
SELECT_TICKET = "SELECT id, version, status FROM tickets WHERE ticket_no = {p}"
GUARDED_UPDATE = (
    "UPDATE tickets SET status = {p}, signed_at = {p}, updated_at = {p}, version = {p} "
    "WHERE id = {p} AND version = {p}"
)
LAST_EVENT = "SELECT seq, hash FROM ticket_events WHERE ticket_id = {p} ORDER BY seq DESC LIMIT 1"


def _insert(table: str, columns: tuple[str, ...], placeholder: str) -> str:
    """INSERT INTO table (columns) VALUES (placeholders)."""
    marks = ", ".join([placeholder] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _hash(
    ticket_id: int,
    seq: int,
    action: str,
    from_status: str | None,
    to_status: str,
    data: dict[str, Any],
    now: datetime,
    prev_hash: str,
) -> str:
    """The same event hash the service computes."""
    return event_hash(
        ticket_id=ticket_id,
        seq=seq,
        actor="staff:1" if seq > 1 else "driver",
        action=action,
        from_status=from_status,
        to_status=to_status,
        note="",
        data=data,
        created_at=now,
        prev_hash=prev_hash,
    )


class RawStore:
    """The same statements through a bare DB-API connection, one transaction per ticket."""

    placeholder = "?"

    def __init__(self) -> None:
        p = self.placeholder
        self.upsert_counter = UPSERT_COUNTER.format(p=p)
        self.insert_ticket = _insert("tickets", TICKET_COLUMNS, p) + " RETURNING id"
        self.insert_event = _insert("ticket_events", EVENT_COLUMNS, p)
        self.select_ticket = SELECT_TICKET.format(p=p)
        self.guarded_update = GUARDED_UPDATE.format(p=p)
        self.last_event = LAST_EVENT.format(p=p)

    def execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Run one statement; the driver's cursor."""
        raise NotImplementedError

    def begin(self) -> None:
        """Start a write transaction."""

    def commit(self) -> None:
        """Commit the transaction."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    def json(self, value: Any) -> Any:
        """A JSON value as the driver wants it."""
        return json.dumps(value)

    def ts(self, value: datetime) -> Any:
        """A UTC timestamp as the driver wants it."""
        return value

    def create(self, n: int) -> list[str]:
        """Counter upsert + INSERT ticket + INSERT event per ticket; the ticket numbers."""
        numbers = []
        for _ in range(n):
            now = datetime.now(UTC)
            day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
            self.begin()
            (last,) = self.execute(self.upsert_counter, (day,)).fetchone()
            ticket_no = f"TS{day}-{last:04d}"
            ticket = (
                ticket_no, DRAFT.kind, DRAFT.category, DRAFT.severity, "received",
                DRAFT.channel, DRAFT.anonymity, False, DRAFT.description, DRAFT.place_text,
                self.json(list(DRAFT.plates)), self.json([]), self.json({}), "none", 0, False,
                False, self.ts(now), self.ts(now), 1,
            )  # fmt: skip
            (ticket_id,) = self.execute(self.insert_ticket, ticket).fetchone()
            digest = _hash(ticket_id, 1, "create", None, "received", CREATE_DATA, now, GENESIS_HASH)
            event = (
                ticket_id, 1, "driver", "create", None, "received", "", self.json(CREATE_DATA),
                self.ts(now), GENESIS_HASH, digest,
            )  # fmt: skip
            self.execute(self.insert_event, event)
            self.commit()
            numbers.append(ticket_no)
        return numbers

    def sign(self, numbers: list[str]) -> None:
        """Load, guarded UPDATE, last event, INSERT event per ticket."""
        for ticket_no in numbers:
            now = datetime.now(UTC)
            self.begin()
            ticket_id, version, status = self.execute(self.select_ticket, (ticket_no,)).fetchone()
            status_after = "verifying"
            changed = (status_after, self.ts(now), self.ts(now), version + 1, ticket_id, version)
            updated = self.execute(self.guarded_update, changed).rowcount
            assert updated == 1
            seq, prev = self.execute(self.last_event, (ticket_id,)).fetchone()
            digest = _hash(ticket_id, seq + 1, "sign", status, status_after, {}, now, prev)
            event = (
                ticket_id, seq + 1, "staff:1", "sign", status, status_after, "", self.json({}),
                self.ts(now), prev, digest,
            )  # fmt: skip
            self.execute(self.insert_event, event)
            self.commit()


class RawSQLite(RawStore):
    """Plain sqlite3 with the engine's pragmas and BEGIN IMMEDIATE, one open connection."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.db = sqlite3.connect(path, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
            self.db.execute(f"PRAGMA {pragma}")

    def execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Run one statement on the connection."""
        return self.db.execute(sql, params)

    def begin(self) -> None:
        """Take the write lock up front, as the engine does."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit."""
        self.db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def ts(self, value: datetime) -> Any:
        """SQLAlchemy's SQLite datetime text, in UTC."""
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class RawPostgres(RawStore):
    """Plain psycopg on one connection; the transaction opens with the first statement."""

    placeholder = "%s"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.db = psycopg.connect(url, autocommit=False)

    def execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Run one statement on the connection."""
        return self.db.execute(sql, params)

    def commit(self) -> None:
        """Commit."""
        self.db.commit()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def json(self, value: Any) -> Any:
        """JSONB parameter."""
        return Jsonb(value)


# -- measuring --------------------------------------------------------------------------------


def _timed(work: Callable[[], Any], count: int, profiler: cProfile.Profile | None) -> float:
    """Operations per second of `work`, which performs `count` operations."""
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
    return count / elapsed


def run(
    name: str,
    orm_engine: Engine,
    raw: RawStore,
    raw_engine: Engine,
    n: int,
    profiler: cProfile.Profile | None,
) -> tuple[Rates, Rates]:
    """Measure the service path and the raw baseline on fresh, identically migrated stores."""
    numbers: list[str] = []
    raw_numbers: list[str] = []
    raw_create = _timed(lambda: raw_numbers.extend(raw.create(n)), n, None)
    orm_create_rate = _timed(lambda: numbers.extend(orm_create(orm_engine, n)), n, profiler)
    raw_sign = _timed(lambda: raw.sign(raw_numbers), n, None)
    orm_sign_rate = _timed(lambda: orm_sign(orm_engine, numbers), n, profiler)
    assert len(set(numbers)) == len(set(raw_numbers)) == n
    # Both sides did the same work: every sampled ticket is signed, with an intact chain.
    for engine, sample in ((orm_engine, numbers), (raw_engine, raw_numbers)):
        for ticket_no in {sample[0], sample[-1]}:
            with transaction(engine) as session:
                ticket = get_ticket(session, ticket_no=ticket_no)
                assert ticket.id is not None
                check = verify_chain(session, ticket_id=ticket.id)
            outcome = (ticket.status, ticket.version, check.ok, check.events)
            assert outcome == ("verifying", 2, True, 2), (name, ticket_no, check)
    service, baseline = Rates(orm_create_rate, orm_sign_rate), Rates(raw_create, raw_sign)
    _report(name, service, baseline)
    return service, baseline


def _report(name: str, service: Rates, baseline: Rates) -> None:
    """One line per operation: service, raw baseline, ratio."""
    for label, ours, theirs in (
        ("create_ticket", service.create, baseline.create),
        ("apply_action(SIGN)", service.sign, baseline.sign),
    ):
        ratio = ours / theirs
        verdict = "ok" if ratio >= TARGET_RATIO else f"below target {TARGET_RATIO}"
        print(
            f"{name:<10} {label:<19} {ours:9.0f}/s   raw SQL {theirs:9.0f}/s   "
            f"ratio {ratio:4.2f}  ({verdict})",
            flush=True,
        )


@contextmanager
def sqlite_stores() -> Iterator[tuple[Engine, RawSQLite, Engine]]:
    """Two migrated SQLite files in a temp dir (service, raw), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="complaintbot-bench-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/service.sqlite3")
        upgrade(engine)
        raw_engine = make_engine(f"sqlite:///{tmp}/raw.sqlite3")
        upgrade(raw_engine)
        raw = RawSQLite(Path(tmp) / "raw.sqlite3")
        try:
            yield engine, raw, raw_engine
        finally:
            raw.close()
            raw_engine.dispose()
            engine.dispose()


def _pg_unreachable(url: str) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


@contextmanager
def postgres_stores(url: str) -> Iterator[tuple[Engine, RawPostgres, Engine]]:
    """Two migrated private schemas (service, raw), dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    schemas = [f"cbbench_{tag}_service", f"cbbench_{tag}_raw"]
    admin = make_engine(url)
    engine: Engine | None = None
    raw_engine: Engine | None = None
    raw: RawPostgres | None = None
    try:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
        urls = [f"{url}?options=-csearch_path%3D{schema}" for schema in schemas]
        engine = make_engine(urls[0])
        upgrade(engine)
        raw_engine = make_engine(urls[1])
        upgrade(raw_engine)
        raw = RawPostgres(urls[1])
        yield engine, raw, raw_engine
    finally:
        if raw is not None:
            raw.close()
        if raw_engine is not None:
            raw_engine.dispose()
        if engine is not None:
            engine.dispose()
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def _print_profile(profiler: cProfile.Profile) -> None:
    """The service path's most expensive functions, by own and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen backends, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="tickets per measurement")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--profile", action="store_true", help="cProfile the service path")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    print(f"n = {args.n} tickets, one transaction each; ratio = service / raw SQL")
    below = False
    if args.backend in ("sqlite", "both"):
        profiler = cProfile.Profile() if args.profile else None
        with sqlite_stores() as stores:
            service, baseline = run("sqlite", *stores, args.n, profiler)
        below |= min(service.create / baseline.create, service.sign / baseline.sign) < TARGET_RATIO
        if profiler is not None:
            _print_profile(profiler)
    if args.backend in ("postgresql", "both"):
        reason = _pg_unreachable(args.pg_url)
        if reason:
            print(f"postgresql skipped: {args.pg_url} not reachable ({reason})")
        else:
            profiler = cProfile.Profile() if args.profile else None
            with postgres_stores(args.pg_url) as stores:
                service, baseline = run("postgresql", *stores, args.n, profiler)
            below |= (
                min(service.create / baseline.create, service.sign / baseline.sign) < TARGET_RATIO
            )
            if profiler is not None:
                _print_profile(profiler)
    if below:
        print(f"note: at least one ratio is below {TARGET_RATIO}; run with --profile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
