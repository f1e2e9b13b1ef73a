"""Tables for routing, staff binding, escalation, hot spots and supervision orders (issue 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import PortableJSON, UTCDateTime, utcnow


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RoutingRule(SQLModel, table=True):
    """Send tickets matching every non-empty field to a unit; lower priority is tried first."""

    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    priority: int = 100
    category: str | None = Field(default=None, sa_type=String(32))
    subcategory: str | None = Field(default=None, sa_type=String(32))
    domain: str | None = Field(default=None, sa_type=String(32))
    region: str | None = Field(default=None, sa_type=String(100))
    station: str | None = Field(default=None, sa_type=String(200))  # text found in the place
    unit_id: int = Field(foreign_key="units.id")
    created_at: datetime = _created()


class BindingCode(SQLModel, table=True):
    """A one-time code linking a staff member's chat account; only its SHA-256 is stored."""

    __tablename__ = "binding_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(sa_type=String(64), unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    channel: str | None = Field(default=None, sa_type=String(16))  # None: any staff channel
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = _ts()
    created_at: datetime = _created()


class Escalation(SQLModel, table=True):
    """One warning raised on a ticket; the unique row is the exactly-once guard of replicas.

    `deadline` is the due time the card is about, so a ticket whose deadline was extended
    can be warned again about its new deadline, but never twice about the same one.
    """

    __tablename__ = "escalations"
    __table_args__ = (
        UniqueConstraint("ticket_id", "level", "deadline", name="uq_escalations_ticket_level"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id")
    level: str = Field(sa_type=String(16))  # yellow, red, superior, urgent_alert
    deadline: datetime = Field(sa_type=UTCDateTime, nullable=False)
    recipients: int = 0
    created_at: datetime = _created()


class HotSpot(SQLModel, table=True):
    """The same unit, station, road or officer in many complaints within a window."""

    __tablename__ = "hot_spots"
    __table_args__ = (
        UniqueConstraint("kind", "key", "window_start", name="uq_hot_spots_kind_key_window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(16))  # unit, station, road, badge
    key: str = Field(sa_type=String(200))
    label: str = Field(default="", sa_type=String(200))
    # The earliest linked ticket's creation: the same for every replica looking at the data.
    window_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    first_seen: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_seen: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    ticket_ids: list[int] = Field(default_factory=list, sa_type=PortableJSON, nullable=False)
    warned_at: datetime | None = _ts()
    created_at: datetime = _created()


class SupervisionOrder(SQLModel, table=True):
    """A supervision order (督办) on a ticket; level `listed` rows form the 挂牌督办 ledger."""

    __tablename__ = "supervision_orders"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    level: str = Field(sa_type=String(16))  # yellow, red, listed
    note: str = Field(default="", sa_type=Text)
    deadline: datetime | None = _ts()
    issued_by: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = _created()
    resolved_at: datetime | None = _ts()
    resolved_by: int | None = Field(default=None, foreign_key="staff.id")
    resolution: str = Field(default="", sa_type=Text)
