"""The ticket search index: rows of jieba tokens, FTS5 on SQLite, a tsvector on PostgreSQL.

The index is derived data: `ticket_search` holds each ticket's tokens at the version they
were made from, and the search structures follow it (a GIN index on a generated tsvector
column on PostgreSQL; on SQLite an external-content FTS5 table kept in step by triggers).
The FTS5 table is created on first use rather than by the migration, because its shadow
tables are not part of the shared schema; it can be dropped and rebuilt at any time.

Queries arrive as a `Query`: AND over terms, each term an OR over alternatives, each
alternative an AND over tokens. Tokens are plain letters and digits (the handler drops
everything else), so the rendered FTS5 / tsquery text is passed as one bound parameter
and nothing a user types can change its structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, any_, bindparam, column, func, or_, table, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.console_models import TicketSearch
from storage.models import Ticket

FTS_TABLE = "ticket_search_fts"
FTS = table(FTS_TABLE, column("rowid", Integer))
_SQLITE_FTS_DDL = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "tokens, content='ticket_search', content_rowid='ticket_id')",
    "CREATE TRIGGER ticket_search_ai AFTER INSERT ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, tokens) VALUES (new.ticket_id, new.tokens); END",
    "CREATE TRIGGER ticket_search_ad AFTER DELETE ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, tokens) "
    "VALUES ('delete', old.ticket_id, old.tokens); END",
    "CREATE TRIGGER ticket_search_au AFTER UPDATE ON ticket_search BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, tokens) "
    "VALUES ('delete', old.ticket_id, old.tokens); "
    f"INSERT INTO {FTS_TABLE}(rowid, tokens) VALUES (new.ticket_id, new.tokens); END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
)

# Up to this many matches a search collects them all; beyond, it walks the newest tickets.
SPARSE_MATCHES = 5_000

Alternative = tuple[str, ...]
Term = tuple[Alternative, ...]


@dataclass(frozen=True)
class Query:
    """AND of terms; a term matches when any of its alternatives has all its tokens."""

    terms: tuple[Term, ...]

    def __bool__(self) -> bool:
        return any(any(alt for alt in term) for term in self.terms)


@dataclass(frozen=True)
class IndexRow:
    """One ticket's tokens, ready to store."""

    ticket_id: int
    version: int
    tokens: str
    source_updated_at: datetime


@dataclass(frozen=True)
class StaleTicket:
    """A ticket whose index row is missing or older than the ticket."""

    ticket_id: int
    version: int
    updated_at: datetime
    texts: tuple[str, ...]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def ensure_fts(session: Session) -> bool:
    """Create SQLite's FTS5 table and triggers if missing; True when it was just built."""
    if _dialect(session) != "sqlite":
        return False
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": FTS_TABLE},
    ).first()
    if found is not None:
        return False
    for statement in _SQLITE_FTS_DDL:
        session.execute(text(statement))
    return True


def upsert_rows(session: Session, rows: Sequence[IndexRow]) -> None:
    """Insert or replace index rows (the FTS5 triggers or the generated column follow)."""
    if not rows:
        return
    values = [row.__dict__ for row in rows]
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    statement = insert(TicketSearch).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["ticket_id"],
        set_={
            "version": statement.excluded.version,
            "tokens": statement.excluded.tokens,
            "source_updated_at": statement.excluded.source_updated_at,
        },
    )
    session.execute(statement)


def watermark(session: Session) -> datetime | None:
    """The newest ticket change already indexed."""
    value: datetime | None = session.exec(select(func.max(TicketSearch.source_updated_at))).one()
    return value


def stale_tickets(session: Session, *, since: datetime | None, limit: int) -> list[StaleTicket]:
    """Tickets changed since `since` (all when None) whose index row is missing or old."""
    query: Any = (
        sa_select(
            col(Ticket.id),
            col(Ticket.version),
            col(Ticket.updated_at),
            col(Ticket.description),
            col(Ticket.place_text),
            col(Ticket.occurred_text),
        )
        .outerjoin(TicketSearch, col(TicketSearch.ticket_id) == col(Ticket.id))
        .where(
            or_(
                col(TicketSearch.ticket_id).is_(None),
                col(TicketSearch.version) != col(Ticket.version),
            )
        )
        .order_by(col(Ticket.updated_at), col(Ticket.id))
        .limit(limit)
    )
    if since is not None:
        query = query.where(col(Ticket.updated_at) >= since)
    return [
        StaleTicket(row[0], row[1], row[2], (row[3] or "", row[4] or "", row[5] or ""))
        for row in session.execute(query).all()
    ]


def _clean(tokens: Iterable[str]) -> list[str]:
    return [t for t in tokens if t and all(ch.isalnum() for ch in t)]


def render_fts5(query: Query) -> str:
    """The FTS5 MATCH expression: quoted tokens joined by AND / OR."""
    terms = []
    for term in query.terms:
        alts = [" AND ".join(f'"{t}"' for t in _clean(alt)) for alt in term]
        alts = [f"({a})" for a in alts if a]
        if alts:
            terms.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    return " AND ".join(terms)


def render_tsquery(query: Query) -> str:
    """The to_tsquery('simple', …) text: tokens joined by & and |."""
    terms = []
    for term in query.terms:
        alts = [" & ".join(_clean(alt)) for alt in term]
        alts = [f"({a})" for a in alts if a]
        if alts:
            terms.append(alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")")
    return " & ".join(terms)


def search_join(session: Session, statement: Any, *, query: Query, after_id: int | None) -> Any:
    """Restrict a select over tickets to matches, newest id first, after the cursor."""
    if _dialect(session) == "postgresql":
        return _postgres_search(session, statement, query=query, after_id=after_id)
    # SQLite: FTS5 hands rows back in rowid order itself when asked to, and the ticket is
    # then one primary-key lookup per candidate.
    statement = statement.join(FTS, FTS.c.rowid == col(Ticket.id)).where(
        text(f"{FTS_TABLE} MATCH :cb_fts").bindparams(cb_fts=render_fts5(query))
    )
    if after_id is not None:
        statement = statement.where(FTS.c.rowid < after_id)
    return statement.order_by(FTS.c.rowid.desc())


def _postgres_search(
    session: Session, statement: Any, *, query: Query, after_id: int | None
) -> Any:
    """Pick the plan by how many tickets match, which PostgreSQL cannot estimate for new words.

    Few matches (≤ SPARSE_MATCHES): fetch their ids through the GIN index and look the tickets
    up by primary key. Many: walk tickets newest first and test each, which finds a page
    after a few rows. Left to itself the planner walks for a rare word too, through every
    row (seconds at a million tickets), because it guesses a new word is common.
    """
    tsq = render_tsquery(query)
    after = "AND ticket_id < :cb_after" if after_id is not None else ""
    matching = f"FROM ticket_search WHERE tsv @@ to_tsquery('simple', :cb_tsq) {after}"
    params: dict[str, Any] = {"cb_tsq": tsq, "cb_cap": SPARSE_MATCHES + 1}
    if after_id is not None:
        params["cb_after"] = after_id
    # Counting up to the cap reads no ids out; after a vacuum it barely touches the heap.
    probe = text(f"SELECT count(*) FROM (SELECT 1 {matching} LIMIT :cb_cap) AS probe")
    if int(session.execute(probe, params).scalar_one()) > SPARSE_MATCHES:
        match = text("ticket_search.tsv @@ to_tsquery('simple', :cb_tsq)").bindparams(cb_tsq=tsq)
        statement = statement.join(
            TicketSearch, col(TicketSearch.ticket_id) == col(Ticket.id)
        ).where(match)
    else:
        ids = [int(row[0]) for row in session.execute(text(f"SELECT ticket_id {matching}"), params)]
        # One array parameter, not thousands of bind parameters.
        statement = statement.where(
            col(Ticket.id) == any_(bindparam("cb_ids", ids, type_=ARRAY(Integer)))
        )
    if after_id is not None:
        statement = statement.where(col(Ticket.id) < after_id)
    return statement.order_by(col(Ticket.id).desc())
