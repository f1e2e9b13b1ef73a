"""Plausible made-up tickets in bulk, for the report benchmark and the sample report.

Rows go in with the driver's own bulk path (sqlite3 executemany, PostgreSQL COPY), in
chunks, so a million tickets take about a minute and little memory. Events carry dummy
hashes: nothing here is meant to pass `verify_chain`, only to be counted.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from handlers.months import Month
from handlers.staff_config import apply_config, load_config
from handlers.workdays import SHANGHAI
from storage.engine import transaction

CHUNK = 20_000
DUMMY_HASH = "0" * 64
KINDS = [("complaint", 55), ("report", 15), ("inquiry", 20), ("suggestion", 5), ("praise", 5)]
CATEGORIES = [
    ("profit_driven", 26, ["fine_receipt", "overload_station", "e_monitoring", None]),
    ("irregular", 20, ["vehicle_detention", "body_cam", "illegal_op_ruling", "inaction", None]),
    ("rigid", 9, ["first_offense", None]),
    ("abusive", 9, ["entrapment", None]),
    ("rent_seeking", 4, ["auxiliary_staff", None]),
    ("service", 20, ["platform_dispute", "freight_payment", "toll_fee", "licensing_admin"]),
    ("infrastructure", 7, ["road_facility", "service_area_facility"]),
    ("other", 5, [None]),
]
CHANNELS = [("wechat", 62), ("web", 24), ("telegram", 14)]
DOMAINS = [("road_freight", 55), ("taxi", 15), ("ride_hailing", 15), ("highway", 10), (None, 5)]
# (unit code, place, road) — the sample city's patches.
PLACES = [
    ("ZCZ", "北岭治超站", "S12"),
    ("ZCZ", "北岭超限检测站过磅处", "S12"),
    ("DD2", "西山收费站", "G4"),
    ("DD2", "西山服务区", "G4"),
    ("DD1", "东湖收费站", "G60"),
    ("DD1", "东湖汽车站", None),
    ("DD3", "北岭收费站", "S12"),
    ("DD3", "北岭县城关镇路口", None),
]
STORIES = {
    "profit_driven": (
        "在{place}被罚款{amount}元，执法人员说月底有任务，不给开票，让扫个人码交钱。我电话{phone}。"
    ),
    "irregular": "{place}执法人员没出示证件也没开执法记录仪，直接把车扣了，扣车单也不给。",
    "rigid": "第一次超载一点点，{place}直接顶格罚款{amount}元，不给整改机会。",
    "abusive": "在{place}执法人员态度恶劣骂人，还推了我一下，说要拘留我。车牌湘A3K9{n2}。",
    "rent_seeking": "{place}有协管员拦车，说给{amount}元就不罚，收了钱不给收据。",
    "service": "{place}收费站ETC重复扣费{amount}元，找了几次都没人处理。",
    "infrastructure": "{place}附近路面坑洼积水，晚上看不清，已经有车出事。",
    "other": "想问一下{place}附近在哪里办从业资格证。",
}
BADGES = [f"HN1{i:04d}" for i in range(1, 40)]


def _pick(rng: random.Random, weighted: list[Any]) -> Any:
    values = [w[0] for w in weighted]
    return rng.choices(values, weights=[w[1] for w in weighted])[0]


@dataclass
class Generated:
    """What was written."""

    tickets: int = 0
    events: int = 0
    surveys: int = 0
    callbacks: int = 0
    instant_answers: int = 0


def load_city(engine: Engine, sample_toml: Any, now: datetime) -> dict[str, int]:
    """Import the sample city; unit code → id."""
    with transaction(engine) as session:
        apply_config(session, config=load_config(sample_toml), now=now)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT code, id FROM units")).all()
    return {code: int(unit_id) for code, unit_id in rows}


def _ticket(
    rng: random.Random, n: int, created: datetime, units: dict[str, int], now: datetime
) -> dict[str, Any]:
    kind = _pick(rng, KINDS)
    category, _, subs = rng.choices(CATEGORIES, weights=[c[1] for c in CATEGORIES])[0]
    code, place, road = rng.choice(PLACES)
    place = f"{road}{place}" if road and rng.random() < 0.5 else place
    sealed = category == "rent_seeking"
    enforcement = category in ("profit_driven", "irregular", "rigid", "abusive", "rent_seeking")
    handler = "JJZ" if sealed else ("FZK" if enforcement else code)
    due = created + timedelta(days=21 if kind in ("complaint", "report") else 3)
    age = now - created
    roll = rng.random()
    status, closed, replied = "received", None, None
    if age > timedelta(days=30) or roll < 0.6:
        late = rng.random() < 0.12
        closed = (
            due + timedelta(days=rng.randint(1, 9))
            if late
            else created + timedelta(days=rng.randint(2, 18))
        )
        if closed > now:
            closed = None
        elif roll < 0.04:
            status = "rejected"
        elif roll < 0.06:
            status = "withdrawn"
        else:
            status, replied = "closed", closed
    elif roll < 0.8:
        status = "handling"
    story = STORIES[category].format(
        place=place,
        amount=rng.choice([200, 500, 1000, 2000, 3000]),
        phone=f"138{n % 100000000:08d}",
        n2=f"{n % 100:02d}",
    )
    return {
        "id": n,
        "ticket_no": f"TS{created.astimezone(SHANGHAI):%Y%m%d}-{n:07d}",
        "kind": kind,
        "category": category,
        "subcategory": rng.choice(subs),
        "severity": "urgent"
        if sealed
        else rng.choice(["normal", "normal", "normal", "high", "low"]),
        "domain": _pick(rng, DOMAINS),
        "status": status,
        "channel": _pick(rng, CHANNELS),
        "complainant_id": None,
        "anonymity": "anonymous" if rng.random() < 0.1 else "real_name",
        "unit_id": units.get(handler),
        "accused_unit_id": units.get(code) if enforcement else None,
        "sealed": sealed,
        "description": story,
        "place_text": place,
        "plates": [],
        "badges": [rng.choice(BADGES)] if enforcement and rng.random() < 0.3 else [],
        "classification": {},
        "supervision_level": "none",
        "reopen_count": 0,
        "extended": False,
        "deadline_provisional": False,
        "created_at": created,
        "updated_at": closed or created,
        "due_at": due,
        "replied_at": replied,
        "closed_at": closed,
        "version": 1,
    }


def tickets(
    n: int, *, end: Month, months: int, seed: int, units: dict[str, int], now: datetime
) -> Iterator[dict[str, Any]]:
    """n tickets spread over the `months` months ending with `end` (more in recent months)."""
    rng = random.Random(seed)
    first = end.shift(-(months - 1)).start(SHANGHAI)
    span = (min(end.end(SHANGHAI), now) - first).total_seconds()
    # Rising volume (later moments likelier), in time order like real ids: inserting in
    # created_at order keeps the many time indexes appending instead of thrashing.
    moments = sorted(rng.random() ** 0.8 for _ in range(n))
    for i, share in enumerate(moments, start=1):
        yield _ticket(rng, i, first + timedelta(seconds=span * share), units, now)


class BulkWriter:
    """Appends rows to tables with the backend's fastest plain path."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows (all with the same keys) in one transaction."""
        if not rows:
            return
        columns = list(rows[0])
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.postgres:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row([_pg(row[c]) for c in columns])
            else:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_lite(row[c]) for c in columns) for row in rows],
                )
            raw.commit()
        finally:
            raw.close()

    def fix_sequences(self, *tables: str) -> None:
        """After explicit ids on PostgreSQL, move the id sequences past them."""
        if not self.postgres:
            return
        with self.engine.begin() as connection:
            for table in tables:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT max(id) FROM {table}), 1))"
                    )
                )


def _lite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _pg(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


@contextmanager
def deferred_indexes(engine: Engine, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' plain indexes for a bulk load and build them again afterwards."""
    names = ", ".join(f"'{t}'" for t in tables)
    if engine.dialect.name == "postgresql":
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename IN ({names}) AND indexdef NOT LIKE 'CREATE UNIQUE%'"
        )
    else:
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names}) AND sql NOT LIKE 'CREATE UNIQUE%'"
        )
    with engine.begin() as connection:
        indexes = [(str(a), str(b)) for a, b in connection.execute(text(query)).all()]
        for name, _ in indexes:
            connection.execute(text(f"DROP INDEX {name}"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for _, definition in indexes:
                connection.execute(text(definition))


def generate(
    engine: Engine,
    *,
    n: int,
    end: Month,
    months: int,
    now: datetime,
    units: dict[str, int],
    seed: int = 8,
    progress: Callable[[int], None] | None = None,
) -> Generated:
    """Write n tickets with their events, surveys, callback tasks and instant answers."""
    writer, out = BulkWriter(engine), Generated()
    rng = random.Random(seed + 1)
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        _flush(writer, chunk, rng, out, now)
        if progress is not None:
            progress(out.tickets)
        chunk.clear()

    with deferred_indexes(engine, ("tickets", "ticket_events", "surveys")):
        for row in tickets(n, end=end, months=months, seed=seed, units=units, now=now):
            chunk.append(row)
            if len(chunk) >= CHUNK:
                flush()
        flush()
    writer.fix_sequences(
        "tickets", "ticket_events", "surveys", "callback_tasks", "supervision_orders"
    )
    return out


def _flush(
    writer: BulkWriter,
    rows: list[dict[str, Any]],
    rng: random.Random,
    out: Generated,
    now: datetime,
) -> None:
    events, surveys, calls, answers, orders = [], [], [], [], []
    for t in rows:
        closed_late = t["closed_at"] is not None and t["closed_at"] > t["due_at"]
        if (closed_late or t["status"] == "handling") and t["due_at"] < now and rng.random() < 0.2:
            t["supervision_level"] = "red"
            orders.append(
                {
                    "ticket_id": t["id"],
                    "level": "red",
                    "note": "超期未办结，督促办理",
                    "deadline": t["due_at"] + timedelta(days=7),
                    "created_at": t["due_at"] + timedelta(days=1),
                    "resolution": "",
                }
            )
        events.append(_event(t, 1, "create", None, "received", t["created_at"]))
        if t["closed_at"] is not None:
            action = {"closed": "close", "rejected": "reject", "withdrawn": "withdraw"}[t["status"]]
            events.append(_event(t, 2, action, "replied", t["status"], t["closed_at"]))
        if t["status"] == "closed" and rng.random() < 0.03:
            # Reopened after an unsatisfied callback, then closed again.
            t["reopen_count"] = 1
            events.append(
                _event(t, 3, "reopen", "closed", "reopened", t["closed_at"] + timedelta(days=2))
            )
        if t["status"] == "closed" and t["closed_at"] + timedelta(days=2) < now:
            answered = rng.random() < 0.55
            rating = rng.choices(["satisfied", "basic", "unsatisfied"], weights=[85, 11, 4])[0]
            sent = t["closed_at"] + timedelta(days=1)
            surveys.append(
                {
                    "ticket_id": t["id"],
                    "round": 1,
                    "channel": t["channel"],
                    "status": "answered" if answered else "no_answer",
                    "due_at": sent,
                    "sent_at": sent,
                    "expires_at": sent + timedelta(days=3),
                    "answered_at": sent + timedelta(hours=2) if answered else None,
                    "satisfaction": rating if answered else None,
                    "solved": answered or None,
                    "created_at": t["closed_at"],
                }
            )
            if t["accused_unit_id"] and rng.random() < 0.1:
                calls.append(
                    {
                        "ticket_id": t["id"],
                        "month": Month.of(t["closed_at"]).__str__(),
                        "seed": 1,
                        "unit_id": t["unit_id"],
                        "status": "done",
                        "method": "phone",
                        "satisfaction": rating,
                        "note": "",
                        "completed_at": sent + timedelta(days=3),
                        "created_at": sent,
                    }
                )
        if t["kind"] == "inquiry":
            for k in range(rng.randint(1, 4)):
                answers.append(
                    {
                        "channel": t["channel"],
                        "message_id": f"m{t['id']}-{k}",
                        "received_at": t["created_at"] - timedelta(minutes=k + 1),
                        "replies": [{"text": "", "choices": [], "key": "rights.answer"}],
                    }
                )
    writer.write("tickets", rows)
    writer.write("ticket_events", events)
    writer.write("surveys", surveys)
    writer.write("callback_tasks", calls)
    writer.write("processed_messages", answers)
    writer.write("supervision_orders", orders)
    out.tickets += len(rows)
    out.events += len(events)
    out.surveys += len(surveys)
    out.callbacks += len(calls)
    out.instant_answers += len(answers)


def _event(
    t: dict[str, Any], seq: int, action: str, old: str | None, new: str, at: datetime
) -> dict[str, Any]:
    return {
        "ticket_id": t["id"],
        "seq": seq,
        "actor": "system",
        "action": action,
        "from_status": old,
        "to_status": new,
        "note": "",
        "data": {},
        "created_at": at,
        "prev_hash": DUMMY_HASH,
        "hash": DUMMY_HASH,
    }
