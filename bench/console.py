"""Console queue and search response times on a million tickets, beside the bare SQL.

Fills a temp SQLite file and a private PostgreSQL schema (dropped afterwards) with --n
synthetic tickets in bulk (a recursive CTE / generate_series over a pool of jieba-indexed
descriptions; indexes dropped during the load and rebuilt after), then times, per case:

- handler: `handlers.console_queries.queue_page` in its own transaction, as a request does
  (search cases also run the index catch-up first, as the web path does);
- http: GET through the aiohttp app (session check, query, template) on a test server;
- bare: the same query hand-written, on a bare DB-API connection.

    .venv/bin/python bench/console.py [--n 1000000] [--requests 100] [--backend both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import Engine, text
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.console_auth import new_session
from handlers.console_queries import Filters, queue_page
from handlers.console_search import catch_up, index_text
from handlers.staff_config import apply_config, load_config
from storage.console_search import SPARSE_MATCHES, ensure_fts
from storage.engine import make_engine, transaction
from storage.migrate import upgrade
from storage.models import Staff, Unit
from storage.staffing import jurisdiction

PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CITY = Path(__file__).resolve().parents[1] / "docs" / "city.sample.toml"
TZ = ZoneInfo("Asia/Shanghai")
SECRET = "bench-secret-0123456789abcdef0123456789"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
RECENT = timedelta(days=60)
TARGET_P95_MS = 100.0
RARE = "孔雀蓝"

PLACES = [("北岭治超站", "ZCZ"), ("北岭超限检测站", "ZCZ"), ("东湖收费站", "DD1"),
          ("东湖汽车站", "DD1"), ("西山服务区", "DD2"), ("西山收费站", "DD2"),
          ("G4京港澳高速北岭段", "DD3"), ("S12东湖段", "DD1")]  # fmt: skip
PROBLEMS = [("罚款两千元不开票", "profit_driven"), ("执法人员不亮证也不开记录仪", "irregular"),
            ("扣车三天不给手续", "irregular"), ("轻微超载也顶格罚款", "rigid"),
            ("态度恶劣还骂人", "abusive"), ("要红包才放车", "rent_seeking"),
            ("加油站多收费", "service"), ("平台抽成太高还封号", "service"),
            ("路面坑洼积水", "infrastructure"), ("出租车拒载绕路", "service")]  # fmt: skip
EXTRAS = ["", "，还说是加急费", "，我要求看执法证被拒绝", "，已经是第二次了", "，希望尽快处理",
          "，当时有好几个司机都看见了", "，执法记录仪一直没开"]  # fmt: skip
ENFORCEMENT = {"profit_driven", "irregular", "rigid", "abusive"}


@dataclass(frozen=True)
class Case:
    """One measured request."""

    name: str
    username: str
    queue: str
    filters: Filters
    deep: int = 0  # follow this many pages first and time the page there


CASES = (
    Case("handler  unit queue p1", "chen.dd2", "unit", Filters()),
    Case("handler  all p1", "chen.dd2", "all", Filters()),
    Case("handler  all p40", "chen.dd2", "all", Filters(), deep=40),
    Case("superv.  overdue p1", "wang.fzk", "overdue", Filters()),
    Case("superv.  closed+cat p1", "wang.fzk", "all", Filters(status="closed", category="rigid")),
    Case("admin    all p1", "admin", "all", Filters()),
    Case("handler  search 加油站", "chen.dd2", "all", Filters(q="加油站")),
    Case("superv.  search 治超站 罚款", "wang.fzk", "all", Filters(q="治超站 罚款")),
    Case(f"superv.  search {RARE}", "wang.fzk", "all", Filters(q=RARE)),
)


def pool(units: dict[str, int]) -> list[dict[str, Any]]:
    """Distinct synthetic descriptions with their routing and jieba tokens."""
    rows = []
    for i, ((place, unit), (problem, category), extra) in enumerate(
        (p, q, e) for p in PLACES for q in PROBLEMS for e in EXTRAS
    ):
        description = f"昨天在{place}{problem}{extra}"
        enforcement = category in ENFORCEMENT
        sealed = category == "rent_seeking"
        handling = "JJZ" if sealed else ("FZK" if enforcement else unit)
        accused = units[unit] if enforcement or sealed else None
        kind = "complaint" if i % 9 else "report"
        rows.append(
            dict(id=i, description=description, place=place, category=category, kind=kind,
                 unit_id=units[handling], accused=accused, sealed=sealed,
                 tokens=index_text(description, place))
        )  # fmt: skip
    return rows


def _ticket_select(backend: str, n: int, size: int, assignees: dict[int, int]) -> str:
    """INSERT … SELECT generating n tickets from the pool (x = 0 … n-1)."""
    step = max(1, int(SPAN.total_seconds()) // n)
    base = int((NOW - SPAN).timestamp())
    recent_from = n - int(RECENT.total_seconds()) // step
    if backend == "sqlite":
        series = (
            f"WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x < {n - 1})"
        )
        source = "seq"

        def ts(seconds: str) -> str:
            return f"datetime({base} + {seconds}, 'unixepoch') || '.000000'"

        false, true, empty_list, empty_obj = "0", "1", "'[]'", "'{}'"
        number = "printf('B%09d', x + 1)"
    else:
        series, source = "", f"generate_series(0, {n - 1}) AS x"

        def ts(seconds: str) -> str:
            return f"to_timestamp({base} + {seconds})"

        false, true, empty_list, empty_obj = "false", "true", "'[]'::jsonb", "'{}'::jsonb"
        number = "'B' || lpad((x + 1)::text, 9, '0')"
    created = f"x * {step}"
    recent = f"x >= {recent_from}"
    status = (
        f"CASE WHEN NOT ({recent}) THEN CASE WHEN x % 100 < 95 THEN 'closed' "
        "WHEN x % 100 < 98 THEN 'rejected' ELSE 'withdrawn' END "
        "ELSE CASE x % 10 WHEN 0 THEN 'closed' WHEN 1 THEN 'closed' WHEN 2 THEN 'closed' "
        "WHEN 4 THEN 'verifying' WHEN 5 THEN 'verifying' WHEN 6 THEN 'handling' "
        "WHEN 7 THEN 'handling' WHEN 8 THEN 'replied' ELSE 'received' END END"
    )
    closed = f"(NOT ({recent}) OR x % 10 < 3)"
    assignee = " ".join(f"WHEN {u} THEN {s}" for u, s in assignees.items())
    return f"""{series}
INSERT INTO tickets (id, ticket_no, kind, category, severity, status, channel, anonymity,
  unit_id, accused_unit_id, assignee_id, sealed, description, place_text, plates, badges,
  classification, supervision_level, reopen_count, extended, deadline_provisional,
  created_at, updated_at, due_at, yellow_at, closed_at, version)
SELECT x + 1, {number}, p.kind, p.category,
  CASE WHEN x % 50 = 0 THEN 'urgent' WHEN x % 10 = 1 THEN 'high' WHEN x % 5 = 2 THEN 'low'
       ELSE 'normal' END,
  {status},
  CASE x % 10 WHEN 0 THEN 'telegram' WHEN 1 THEN 'web' WHEN 2 THEN 'web' ELSE 'wechat' END,
  'real_name', p.unit_id, p.accused,
  CASE WHEN x % 2 = 0 THEN CASE p.unit_id {assignee} ELSE NULL END ELSE NULL END,
  CASE WHEN p.sealed THEN {true} ELSE {false} END, p.description, p.place,
  {empty_list}, {empty_list}, {empty_obj},
  CASE WHEN x % 97 = 0 THEN 'yellow' WHEN x % 389 = 0 THEN 'listed' ELSE 'none' END,
  0, {false}, {false},
  {ts(created)}, {ts(created)}, {ts(f"{created} + 21 * 86400")},
  {ts(f"{created} + 18 * 86400")},
  CASE WHEN {closed} THEN {ts(f"{created} + 10 * 86400")} ELSE NULL END, 1
FROM {source} JOIN bench_pool p ON p.id = (x * 31 + x / 97) % {size}"""


def _load(engine: Engine, n: int) -> None:
    """The sample city, the pool and n tickets with their search rows, indexes rebuilt."""
    with transaction(engine) as session:
        apply_config(session, config=load_config(CITY), now=NOW)
    with Session(engine) as session:
        units = {u.code: u.id for u in session.exec(select(Unit)).all() if u.id is not None}
        staff = session.exec(select(Staff).where(Staff.role == "handler")).all()
        assignees = {s.unit_id: s.id for s in staff if s.unit_id and s.id}
    rows = pool(units)
    backend = engine.dialect.name
    started = time.perf_counter()
    with engine.begin() as connection:
        bool_type = "INTEGER" if backend == "sqlite" else "BOOLEAN"
        connection.execute(text(
            "CREATE TABLE bench_pool (id INTEGER PRIMARY KEY, description TEXT, place TEXT, "
            f"category TEXT, kind TEXT, unit_id INTEGER, accused INTEGER, sealed {bool_type}, "
            "tokens TEXT)"
        ))  # fmt: skip
        connection.execute(
            text(
                "INSERT INTO bench_pool VALUES (:id, :description, :place, :category, :kind, "
                ":unit_id, :accused, :sealed, :tokens)"
            ),
            rows,
        )
        saved = _drop_indexes(connection, backend, ("tickets", "ticket_search"))
        connection.execute(text(_ticket_select(backend, n, len(rows), assignees)))
        connection.execute(text(
            "INSERT INTO ticket_search (ticket_id, version, tokens, source_updated_at) "
            "SELECT t.id, t.version, p.tokens, t.updated_at FROM tickets t "
            f"JOIN bench_pool p ON p.id = ((t.id - 1) * 31 + (t.id - 1) / 97) % {len(rows)}"
        ))  # fmt: skip
        rare = ", ".join(str(i) for i in range(n // 7, n, max(1, n // 5))[:5])
        connection.execute(text(
            f"UPDATE tickets SET description = description || '，车是{RARE}的' WHERE id IN ({rare})"
        ))  # fmt: skip
        connection.execute(text(
            f"UPDATE ticket_search SET tokens = tokens || ' {RARE}' WHERE ticket_id IN ({rare})"
        ))  # fmt: skip
        for statement in saved:
            connection.execute(text(statement))
        connection.execute(text("DROP TABLE bench_pool"))
        if backend == "postgresql":
            connection.execute(text(f"SELECT setval('tickets_id_seq', {n})"))
    with transaction(engine) as session:
        ensure_fts(session)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if backend == "postgresql":
            # What autovacuum would have done by now: statistics and the visibility map.
            for table in ("tickets", "ticket_search"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))
        else:
            connection.execute(text("ANALYZE"))
    print(f"  loaded {n} tickets in {time.perf_counter() - started:.0f} s", flush=True)


def _drop_indexes(connection: Any, backend: str, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of `tables`; the statements that rebuild them."""
    names = ", ".join(f"'{t}'" for t in tables)
    if backend == "sqlite":
        found = connection.execute(text(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({names}) "
            "AND sql IS NOT NULL"
        )).all()  # fmt: skip
    else:
        found = connection.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_index x "
            "ON x.indexrelid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))"
            "::regclass WHERE i.schemaname = current_schema() AND i.tablename IN "
            f"({names}) AND NOT x.indisprimary AND NOT x.indisunique"
        )).all()  # fmt: skip
    for name, _ in found:
        connection.execute(text(f'DROP INDEX "{name}"'))
    return [statement for _, statement in found]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _time(work: Callable[[], Any], reps: int) -> tuple[float, float]:
    work()  # warm-up: caches, prepared plans
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _handler_call(engine: Engine, case: Case, cursor: str | None) -> Callable[[], Any]:
    def run() -> Any:
        with transaction(engine) as session:
            person = session.exec(select(Staff).where(Staff.username == case.username)).one()
            if case.filters.q:
                catch_up(session)
            return queue_page(
                session,
                person=person,
                queue=case.queue,
                filters=case.filters,
                now=NOW,
                tz=TZ,
                cursor=cursor,
            )

    return run


def _deep_cursor(engine: Engine, case: Case) -> str | None:
    cursor = None
    for _ in range(case.deep):
        cursor = _handler_call(engine, case, cursor)().next_cursor
    return cursor


COLUMNS = (
    "tickets.id, ticket_no, kind, category, severity, status, channel, unit_id, "
    "pending_unit_id, assignee_id, sealed, place_text, supervision_level, created_at, due_at"
)
OPEN = "('received', 'verifying', 'handling', 'replied', 'transferring', 'reopened')"
SLA = "('received', 'verifying', 'handling', 'transferring', 'reopened')"


def bare_query(engine: Engine, case: Case, cursor: str | None) -> tuple[str, list[Any]]:
    """The case's query written by hand, for a bare DB-API cursor; (sql, parameters)."""
    from handlers.console_search import parse_query
    from storage.console_search import render_fts5, render_tsquery

    backend = engine.dialect.name
    p = "?" if backend == "sqlite" else "%s"
    false = "0" if backend == "sqlite" else "false"

    def stamp(moment: datetime) -> Any:
        if backend == "sqlite":
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    with Session(engine) as session:
        person = session.exec(select(Staff).where(Staff.username == case.username)).one()
        units = sorted(jurisdiction(session, unit_id=person.unit_id)) if person.unit_id else []
    where: list[str] = []
    params: list[Any] = []
    if person.role == "handler":
        u = person.unit_id
        where += [f"sealed = {false}", f"(accused_unit_id IS NULL OR accused_unit_id <> {p})",
                  f"unit_id = {p}"]  # fmt: skip
        params += [u, u]
    elif person.role == "supervisor":
        listed = ", ".join(str(i) for i in units)
        where += [f"sealed = {false}", f"(accused_unit_id IS NULL OR accused_unit_id <> {p})",
                  f"unit_id IN ({listed})"]  # fmt: skip
        params.append(person.unit_id)
    if case.queue == "unit":
        where.append(f"status IN {OPEN}")
    elif case.queue == "overdue":
        where += [f"status IN {SLA}", f"due_at < {p}"]
        params.append(stamp(NOW))
    if case.filters.status:
        where.append(f"status = {p}")
        params.append(case.filters.status)
    if case.filters.category:
        where.append(f"category = {p}")
        params.append(case.filters.category)
    joined = " AND ".join(where) or "1 = 1"
    if case.filters.q:
        query = parse_query(case.filters.q)
        if backend == "sqlite":
            return (
                f"SELECT {COLUMNS} FROM tickets JOIN ticket_search_fts "
                "ON ticket_search_fts.rowid = tickets.id WHERE ticket_search_fts MATCH ? AND "
                f"{joined} ORDER BY ticket_search_fts.rowid DESC LIMIT 51",
                [render_fts5(query), *params],
            )
        # The same two steps as the service: the ids when few words match, else a walk.
        tsq = render_tsquery(query)
        probe = "SELECT ticket_id FROM ticket_search WHERE tsv @@ to_tsquery('simple', %s) LIMIT %s"
        walk = (
            f"SELECT {COLUMNS} FROM tickets JOIN ticket_search s ON s.ticket_id = tickets.id "
            f"WHERE s.tsv @@ to_tsquery('simple', %s) AND {joined} "
            "ORDER BY tickets.id DESC LIMIT 51"
        )
        by_id = f"SELECT {COLUMNS} FROM tickets WHERE tickets.id = ANY(%s) AND {joined} "
        by_id += "ORDER BY tickets.id DESC LIMIT 51"
        return (f"{probe}\x00{walk}\x00{by_id}", [tsq, *params])
    if cursor:
        micros, after_id = cursor[1:].split("_")
        after = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(micros))
        joined += f" AND (created_at, tickets.id) < ({p}, {p})"
        params += [stamp(after), int(after_id)]
    return (
        f"SELECT {COLUMNS} FROM tickets WHERE {joined} "
        "ORDER BY created_at DESC, tickets.id DESC LIMIT 51",
        params,
    )


def _bare_runner(raw: Any, sql: str, params: list[Any]) -> Callable[[], list[Any]]:
    """Run a bare query (or PostgreSQL's probe-then-query pair) on the DB-API connection."""
    if "\x00" not in sql:
        return lambda: raw.execute(sql, params).fetchall()
    probe, walk, by_id = sql.split("\x00")
    tsq, rest = params[0], params[1:]

    def run() -> list[Any]:
        ids = [row[0] for row in raw.execute(probe, [tsq, SPARSE_MATCHES + 1]).fetchall()]
        if len(ids) > SPARSE_MATCHES:
            return raw.execute(walk, [tsq, *rest]).fetchall()
        return raw.execute(by_id, [ids, *rest]).fetchall()

    return run


async def _http_times(
    engine: Engine, cases: list[tuple[Case, str | None]], reps: int
) -> list[tuple[float, float]]:
    """p50/p95 of GET /console/q/… through the whole app, per case."""
    from urllib.parse import urlencode

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import create_app
    from bot.services import build_services
    from bot.settings import load_settings

    settings = load_settings(
        environment="test", database_url=str(engine.url), secret_key=SECRET, log_level="WARNING"
    )
    services = build_services(settings, engine=engine, clock=lambda: NOW)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(services)))
    await client.start_server()
    out = []
    try:
        for case, cursor in cases:
            with transaction(engine) as session:
                person = session.exec(select(Staff).where(Staff.username == case.username)).one()
                assert person.id is not None
                cookie = new_session(
                    session, staff_id=person.id, secret=SECRET, now=NOW, ip="bench", via="bench"
                )
            query = {k: v for k, v in case.filters.__dict__.items() if isinstance(v, str) and v}
            if cursor:
                query["after"] = cursor
            path = f"/console/q/{case.queue}?{urlencode(query)}"
            headers = {"Cookie": f"cb_console={cookie}"}
            samples = []
            for i in range(reps + 1):
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                await response.read()
                assert response.status == 200, (path, response.status)
                if i:  # the first one warms up
                    samples.append((time.perf_counter() - started) * 1000)
            out.append(_percentiles(samples))
    finally:
        await client.close()
    return out


@contextmanager
def sqlite_engine() -> Iterator[tuple[Engine, Callable[[], Any]]]:
    """A migrated SQLite file in a temp dir, removed afterwards; (engine, raw connect)."""
    with tempfile.TemporaryDirectory(prefix="complaintbot-bench-") as tmp:
        path = Path(tmp) / "console.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        try:
            yield engine, lambda: sqlite3.connect(path, isolation_level=None)
        finally:
            engine.dispose()


@contextmanager
def postgres_engine(url: str) -> Iterator[tuple[Engine, Callable[[], Any]]]:
    """A migrated private schema, dropped afterwards; (engine, raw connect)."""
    schema = f"cbbench_console_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    engine: Engine | None = None
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(f"{url}?options=-csearch_path%3D{schema}")
        upgrade(engine)
        yield (
            engine,
            lambda: psycopg.connect(url, options=f"-csearch_path={schema}", autocommit=True),
        )
    finally:
        if engine is not None:
            engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def run(name: str, engine: Engine, raw_connect: Callable[[], Any], n: int, reps: int) -> bool:
    """Load, measure every case three ways, print; True when every queue p95 meets the aim."""
    print(f"{name}: loading …", flush=True)
    _load(engine, n)
    prepared = [(case, _deep_cursor(engine, case) if case.deep else None) for case in CASES]
    raw = raw_connect()
    rows = []
    try:
        for case, cursor in prepared:
            bare_run = _bare_runner(raw, *bare_query(engine, case, cursor))
            handler = _time(_handler_call(engine, case, cursor), reps)
            bare = _time(bare_run, reps)
            check = _handler_call(engine, case, cursor)()
            got = bare_run()
            assert [r.id for r in check.rows] == [r[0] for r in got][:50], case.name
            rows.append((case, handler, bare, len(check.rows)))
    finally:
        raw.close()
    http = asyncio.run(_http_times(engine, prepared, reps))
    print(f"{name}: n = {n}, {reps} requests per case, milliseconds p50 / p95")
    print(f"  {'case':<28} {'rows':>4}  {'handler':>13}  {'http':>13}  {'bare SQL':>13}  ratio")
    ok = True
    for (case, handler, bare, count), web in zip(rows, http, strict=True):
        ratio = handler[0] / bare[0] if bare[0] else float("inf")
        print(
            f"  {case.name:<28} {count:>4}  {handler[0]:5.1f} / {handler[1]:5.1f}  "
            f"{web[0]:5.1f} / {web[1]:5.1f}  {bare[0]:5.1f} / {bare[1]:5.1f}  {ratio:5.1f}x",
            flush=True,
        )
        if not case.filters.q and web[1] > TARGET_P95_MS:
            ok = False
    return ok


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen backends, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="tickets to generate")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per case")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    if args.n < 1000 or args.requests < 5:
        parser.error("--n must be at least 1000 and --requests at least 5")
    import logging

    logging.disable(logging.INFO)  # per-request log lines would be timed too
    verdicts = []
    if args.backend in ("sqlite", "both"):
        with sqlite_engine() as (engine, connect):
            verdicts.append(run("sqlite", engine, connect, args.n, args.requests))
    if args.backend in ("postgresql", "both"):
        try:
            with psycopg.connect(args.pg_url, connect_timeout=3) as probe:
                probe.execute("SELECT 1")
        except psycopg.Error as exc:
            print(f"postgresql skipped: {args.pg_url} not reachable ({type(exc).__name__})")
        else:
            with postgres_engine(args.pg_url) as (engine, connect):
                verdicts.append(run("postgresql", engine, connect, args.n, args.requests))
    aim = "met" if all(verdicts) else "NOT met"
    print(f"aim: queue pages p95 under {TARGET_P95_MS:.0f} ms over HTTP: {aim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
