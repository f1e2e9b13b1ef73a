"""Tables of the staff web console (issue 7): sessions, login throttling, login links, search.

Also the ticket indexes the console's queues need; declared here so the metadata matches
what migration 0003 creates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from storage.models import Ticket
from storage.types import UTCDateTime, utcnow


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ConsoleSession(SQLModel, table=True):
    """One signed-in browser; the cookie's nonce is stored hashed so logout can revoke it."""

    __tablename__ = "console_sessions"

    id: int | None = Field(default=None, primary_key=True)
    nonce_hash: str = Field(sa_type=String(64), unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = _created()
    revoked_at: datetime | None = _ts()
    ip: str | None = Field(default=None, sa_type=String(64))
    via: str = Field(default="password", sa_type=String(16))  # password, link


class LoginAttempt(SQLModel, table=True):
    """A password login attempt; failures in a window throttle the name and the address."""

    __tablename__ = "console_login_attempts"
    __table_args__ = (
        Index("ix_console_login_attempts_user_time", "username_key", "created_at"),
        Index("ix_console_login_attempts_ip_time", "ip", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username_key: str = Field(sa_type=String(100))
    ip: str = Field(sa_type=String(64))
    ok: bool = False
    created_at: datetime = _created()


class LoginToken(SQLModel, table=True):
    """A single-use login link; only a keyed hash of its token is stored."""

    __tablename__ = "console_login_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=String(64), unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _ts()
    created_at: datetime = _created()


class TicketSearch(SQLModel, table=True):
    """A ticket's searchable text as space-joined jieba tokens, at the version indexed.

    PostgreSQL adds a generated tsvector column with a GIN index (migration 0003); SQLite
    gets an FTS5 table over `tokens`, built by `storage.console_search.ensure_fts`.
    """

    __tablename__ = "ticket_search"

    ticket_id: int = Field(
        foreign_key="tickets.id", primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    version: int = 0
    tokens: str = Field(default="", sa_type=Text)
    # The ticket's updated_at when indexed: the catch-up indexer's watermark.
    source_updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


# Queue indexes: keyset pages walk (created_at, id) per unit, per assignee or overall, and
# the indexer finds changed tickets by updated_at.
_t = Ticket.__table__.c  # type: ignore[attr-defined]
CONSOLE_TICKET_INDEXES = (
    Index("ix_tickets_created_id", _t.created_at, _t.id),
    Index("ix_tickets_unit_created_id", _t.unit_id, _t.created_at, _t.id),
    Index("ix_tickets_assignee_created_id", _t.assignee_id, _t.created_at, _t.id),
    Index("ix_tickets_severity_status_created", _t.severity, _t.status, _t.created_at),
    Index("ix_tickets_supervision_created", _t.supervision_level, _t.created_at),
    Index("ix_tickets_sealed_created", _t.sealed, _t.created_at),
    Index("ix_tickets_updated_at", _t.updated_at),
)
