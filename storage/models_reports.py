"""Tables for callbacks and monthly work (issue 8): manual callback tasks, monthly run guards.

Also the one-survey-per-ticket-and-round rule: the `surveys` table predates this module, and
two replicas closing or dispatching at once must never create a second survey for a round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col

from storage.models import Survey, TicketEvent
from storage.types import UTCDateTime, utcnow


def _ts(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# Declared here so the model metadata and the migration agree on them.
SURVEY_ROUND_UNIQUE = Index(
    "uq_surveys_ticket_round", col(Survey.ticket_id), col(Survey.round), unique=True
)
# The monthly report counts events of one action in a month (重办: reopen) at scale.
EVENTS_BY_ACTION = Index(
    "ix_ticket_events_action_created",
    col(TicketEvent.action),
    col(TicketEvent.created_at),
)


class CallbackTask(SQLModel, table=True):
    """A manual phone or video callback (人工回访) of a sampled closed enforcement ticket."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "month", name="uq_callback_tasks_ticket_month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    month: str = Field(sa_type=String(7), index=True)  # the closing month sampled, "YYYY-MM"
    seed: int
    # The body whose supervisors make the call: the supervising unit of the handling unit.
    unit_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    status: str = Field(default="open", sa_type=String(16))  # open, done, unreachable
    method: str | None = Field(default=None, sa_type=String(16))  # phone, video
    satisfaction: str | None = Field(default=None, sa_type=String(16))
    solved: bool | None = None
    note: str = Field(default="", sa_type=Text)
    completed_by: int | None = Field(default=None, foreign_key="staff.id")
    completed_at: datetime | None = _ts()
    created_at: datetime = _created()


class MonthlyRun(SQLModel, table=True):
    """One piece of monthly work (report, callback sample) for one month; the row is the guard."""

    __tablename__ = "monthly_runs"
    __table_args__ = (UniqueConstraint("kind", "month", name="uq_monthly_runs_kind_month"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(32))  # report, callback_sample
    month: str = Field(sa_type=String(7))
    status: str = Field(default="running", sa_type=String(16))  # running, done
    claimed_by: str = Field(default="", sa_type=String(100))
    claimed_at: datetime = _created()
    finished_at: datetime | None = _ts()
    summary: str = Field(default="", sa_type=Text)  # counts only, never complaint text
