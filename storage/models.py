"""SQLModel tables. Identity (complainants) lives apart from tickets (DOMAIN.md §9)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, Numeric, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import PortableJSON, UTCDateTime, utcnow


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _json_dict() -> Any:
    return Field(default_factory=dict, sa_type=PortableJSON, nullable=False)


def _json_list() -> Any:
    return Field(default_factory=list, sa_type=PortableJSON, nullable=False)


class Unit(SQLModel, table=True):
    """An enforcement or service unit: city → county → station, with a supervising unit."""

    __tablename__ = "units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(64), unique=True)
    name: str = Field(sa_type=String(200))
    kind: str = Field(default="unit", sa_type=String(32))  # city, brigade, station, legal, ...
    parent_id: int | None = Field(default=None, foreign_key="units.id")
    supervising_unit_id: int | None = Field(default=None, foreign_key="units.id")
    region: str = Field(default="", sa_type=String(100))
    active: bool = True
    aliases: list[str] = _json_list()  # other names drivers use (望城超限站 for 望城治超站)
    stations: list[str] = _json_list()  # stations and road sections in the unit's patch


class Staff(SQLModel, table=True):
    """A member of staff who handles, supervises or inspects tickets."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=String(100), unique=True)
    display_name: str = Field(sa_type=String(200))
    role: str = Field(sa_type=String(32))  # handler, unit_head, supervisor, discipline, admin
    unit_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    telegram_chat_id: str | None = Field(default=None, sa_type=String(64))
    wechat_openid: str | None = Field(default=None, sa_type=String(64))
    password_hash: str | None = Field(default=None, sa_type=String(255))
    active: bool = True
    on_duty: bool = False  # duty supervisor: urgent alerts go here first
    created_at: datetime = _created()


class Complainant(SQLModel, table=True):
    """A driver's identity on one channel; only identity-aware code may read it."""

    __tablename__ = "complainants"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_type=String(16))
    channel_user_id: str = Field(sa_type=String(128))
    anonymity: str = Field(
        default="real_name", sa_type=String(16)
    )  # real_name/anonymous/confidential
    name: str | None = Field(default=None, sa_type=String(100))
    phone: str | None = Field(default=None, sa_type=String(32))
    own_plate: str | None = Field(default=None, sa_type=String(16))
    language: str = Field(default="zh", sa_type=String(8))
    created_at: datetime = _created()
    last_seen_at: datetime | None = _ts()
    erased_at: datetime | None = _ts()


class Ticket(SQLModel, table=True):
    """One complaint, report, inquiry, suggestion or praise, through its closed loop."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_unit_status_created", "unit_id", "status", "created_at"),
        Index("ix_tickets_status_due", "status", "due_at"),
        Index("ix_tickets_complainant_status", "complainant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_no: str = Field(sa_type=String(32), unique=True)
    kind: str = Field(sa_type=String(16))
    category: str = Field(sa_type=String(32), index=True)
    subcategory: str | None = Field(default=None, sa_type=String(32))
    severity: str = Field(sa_type=String(16))
    domain: str | None = Field(default=None, sa_type=String(32))
    status: str = Field(default="received", sa_type=String(16))
    channel: str = Field(sa_type=String(16))
    # The link to identity; unit-facing queries never join through it.
    complainant_id: int | None = Field(default=None, foreign_key="complainants.id")
    anonymity: str = Field(default="real_name", sa_type=String(16))
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    # The unit complained about: never the handling unit (DOMAIN.md §9), counted by hot spots.
    accused_unit_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    pending_unit_id: int | None = Field(default=None, foreign_key="units.id")
    assignee_id: int | None = Field(default=None, foreign_key="staff.id")
    sealed: bool = False  # discipline clue: visible to discipline inspectors only
    out_of_jurisdiction: str | None = Field(default=None, sa_type=String(32))
    description: str = Field(sa_type=Text)
    occurred_at: datetime | None = _ts()
    occurred_text: str | None = Field(default=None, sa_type=String(200))
    place_text: str | None = Field(default=None, sa_type=String(300))
    latitude: float | None = None
    longitude: float | None = None
    plates: list[str] = _json_list()
    badges: list[str] = _json_list()
    amount_yuan: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    receipt_given: bool | None = None
    source: str | None = Field(default=None, sa_type=String(128))  # deep-link payload
    classification: dict[str, Any] = _json_dict()  # classifier explanation and scores
    supervision_level: str = Field(default="none", sa_type=String(16))
    duplicate_of_id: int | None = Field(default=None, foreign_key="tickets.id")
    reopen_count: int = 0
    extended: bool = False
    deadline_provisional: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = _created()
    ack_due_at: datetime | None = _ts()
    due_at: datetime | None = _ts()
    yellow_at: datetime | None = _ts()
    escalate_at: datetime | None = _ts()
    signed_at: datetime | None = _ts()
    replied_at: datetime | None = _ts()
    closed_at: datetime | None = _ts(index=True)
    version: int = 1


class TicketEvent(SQLModel, table=True):
    """One append-only audit entry; `hash` chains it to the ticket's previous event."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    seq: int
    actor: str = Field(sa_type=String(100))  # "driver", "system", "staff:<id>"
    action: str = Field(sa_type=String(32))
    from_status: str | None = Field(default=None, sa_type=String(16))
    to_status: str | None = Field(default=None, sa_type=String(16))
    note: str = Field(default="", sa_type=Text)
    # Plain JSON, not JSONB: the hash covers the data, and JSONB would rewrite numbers.
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    created_at: datetime = _created()
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64))


class Attachment(SQLModel, table=True):
    """Evidence: a file from a channel, stored by content hash."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id")
    channel: str = Field(sa_type=String(16))
    channel_file_id: str | None = Field(default=None, sa_type=String(255))
    kind: str = Field(default="file", sa_type=String(16))  # image, video, voice, file
    mime: str = Field(default="application/octet-stream", sa_type=String(100))
    size: int = 0
    sha256: str | None = Field(default=None, sa_type=String(64))
    filename: str | None = Field(default=None, sa_type=String(255))
    storage_path: str | None = Field(default=None, sa_type=String(500))
    created_at: datetime = _created()


class TicketCounter(SQLModel, table=True):
    """The last number handed out per local day, for TSyyyymmdd-nnnn ticket numbers."""

    __tablename__ = "ticket_counters"

    day: str = Field(sa_type=String(8), primary_key=True)
    last: int = 0


class Conversation(SQLModel, table=True):
    """A driver's or staff member's dialogue state on one channel."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_type=String(16))
    user_key: str = Field(sa_type=String(128))
    state: str = Field(default="idle", sa_type=String(32))
    data: dict[str, Any] = _json_dict()
    language: str = Field(default="zh", sa_type=String(8))
    updated_at: datetime = _created()
    expires_at: datetime | None = _ts()
    version: int = 1


class ProcessedMessage(SQLModel, table=True):
    """An inbound message already handled; retries get the stored reply, not a second run."""

    __tablename__ = "processed_messages"

    channel: str = Field(sa_type=String(16), primary_key=True)
    message_id: str = Field(sa_type=String(128), primary_key=True)
    received_at: datetime = _created()
    replies: list[Any] = _json_list()


class OutboxMessage(SQLModel, table=True):
    """Something to send later; claimed atomically, sent at most once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_type=String(16))
    recipient: str = Field(sa_type=String(128))
    purpose: str = Field(default="reply", sa_type=String(32))  # reply, staff_notice, survey, ...
    payload: dict[str, Any] = _json_dict()
    idempotency_key: str = Field(sa_type=String(200), unique=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id")
    status: str = Field(default="pending", sa_type=String(16))  # pending/sending/sent/failed/review
    attempts: int = 0
    next_attempt_at: datetime = _created()
    claimed_at: datetime | None = _ts()
    claimed_by: str | None = Field(default=None, sa_type=String(100))
    sent_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created()


class Survey(SQLModel, table=True):
    """A callback survey (回访) on a closed ticket."""

    __tablename__ = "surveys"
    __table_args__ = (Index("ix_surveys_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    round: int = 1  # 2 after a reopened ticket is closed again
    channel: str = Field(sa_type=String(16))
    status: str = Field(default="scheduled", sa_type=String(16))
    due_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = _ts()
    reminded_at: datetime | None = _ts()
    expires_at: datetime | None = _ts()
    answered_at: datetime | None = _ts()
    satisfaction: str | None = Field(default=None, sa_type=String(16))
    solved: bool | None = None
    comment: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created()


class IdentityRead(SQLModel, table=True):
    """Who read whose identity, when and why (DOMAIN.md §9: every read is logged)."""

    __tablename__ = "identity_reads"

    id: int | None = Field(default=None, primary_key=True)
    complainant_id: int = Field(foreign_key="complainants.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id")
    actor: str = Field(sa_type=String(100))
    reason: str = Field(sa_type=Text)
    created_at: datetime = _created()


# The issue-6 tables live apart; importing them here keeps "import storage.models" complete.
import storage.models_ops  # noqa: E402
import storage.models_reports  # noqa: E402, F401
from storage import console_models  # noqa: E402, F401
