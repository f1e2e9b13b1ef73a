"""Monthly KPIs of DOMAIN.md §7, as the ministry ranks hotlines; pure queries, no identity.

Shared terms. Month M is [first local midnight, next month's first local midnight) in the
calendar's zone (Asia/Shanghai), cut at `now` for the running month. Scope: `unit_ids`
keeps tickets whose handling unit (tickets.unit_id) is in the set (a supervisor's
jurisdiction); None is the whole service. `include_sealed=False` leaves discipline clues out.

- received(M): tickets created in M.
- closed(M): tickets whose status is closed and whose closed_at lies in M (a ticket closed
  in M and reopened later counts again only in the month it is closed again).
- due(M): tickets whose deadline (due_at) lies in M, not rejected or withdrawn.
- on_time(M): tickets of due(M) that are closed with closed_at ≤ due_at.

The KPIs (each rate a `Ratio`: numerator / denominator, no value when the denominator is 0):

- 即时答复率 instant answer rate = instant / (instant + inquiry tickets received in M), where
  instant = driver messages received in M that the rights knowledge base answered at once
  (their stored reply carries the key `rights.answer`). Such answers belong to no unit, so
  the rate exists for the whole service only (None for a unit scope).
- 限时办结率 on-time closure rate = on_time(M) / due(M).
- 抽查回访率 callback rate = called back / closed(M), where called back = tickets of
  closed(M) with an answered survey (any round) or a manual callback task recorded as done.
- 回访满意率 satisfaction = (满意 + 基本满意) / answered, where answered = surveys answered in M
  (answered_at in M) plus manual callbacks recorded as done in M (completed_at in M).
- 重办率 rework rate = tickets with a reopen event (重办) in M / closed(M).
- 超期件数 overdue count = due(M) − on_time(M): deadlines in M missed (closed late or open).
- also: received(M), closed(M), supervision orders issued in M, sealed tickets received in M
  (referrals to discipline inspection).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, or_
from sqlmodel import Session, col, select

from handlers.months import Month
from handlers.survey_policy import BASIC, SATISFIED
from handlers.workdays import SHANGHAI
from storage.lifecycle import Action, TicketStatus
from storage.models import ProcessedMessage, Survey, Ticket, TicketEvent
from storage.models_ops import SupervisionOrder
from storage.models_reports import CallbackTask

INSTANT_ANSWER_KEY = "rights.answer"


@dataclass(frozen=True)
class Ratio:
    """A rate kept as its two counts, so reports can show both."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        """numerator / denominator, or None when nothing was counted."""
        return self.numerator / self.denominator if self.denominator else None

    def percent(self, empty: str = "—") -> str:
        """'87.5%' (one decimal), or `empty` when undefined."""
        value = self.value
        return empty if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Scope:
    """Which month and which tickets a KPI counts."""

    start: datetime
    end: datetime
    unit_ids: frozenset[int] | None = None
    include_sealed: bool = True

    @classmethod
    def of(
        cls,
        month: Month,
        *,
        now: datetime,
        tz: ZoneInfo = SHANGHAI,
        unit_ids: Collection[int] | None = None,
        include_sealed: bool = True,
    ) -> Scope:
        """The scope of a month, cut at `now` while the month is running."""
        units = frozenset(unit_ids) if unit_ids is not None else None
        return cls(month.start(tz), min(month.end(tz), now), units, include_sealed)

    def tickets(self, query: Any) -> Any:
        """Restrict a query that involves `tickets` to the scope's units and sealing."""
        if self.unit_ids is not None:
            query = query.where(col(Ticket.unit_id).in_(sorted(self.unit_ids)))
        if not self.include_sealed:
            query = query.where(col(Ticket.sealed).is_(False))
        return query

    def within(self, column: Any) -> Any:
        """`column` lies in the month."""
        return (col(column) >= self.start) & (col(column) < self.end)


def is_closed() -> Any:
    """status = 'closed', written so that SQLite picks a time index instead of the status one."""
    # Most tickets are closed: on SQLite without ANALYZE statistics a plain `status = ?`
    # sends the planner down the (status, due_at) index over most of the table, where the
    # month's closed_at range is the selective part. coalesce() leaves only that choice.
    return func.coalesce(col(Ticket.status), "") == TicketStatus.CLOSED.value


def _count(session: Session, query: Any) -> int:
    return int(session.exec(query).one())


def received(session: Session, scope: Scope) -> int:
    """received(M): tickets created in the month."""
    query = select(func.count()).select_from(Ticket).where(scope.within(Ticket.created_at))
    return _count(session, scope.tickets(query))


def closed(session: Session, scope: Scope) -> int:
    """closed(M): tickets closed in the month and still closed."""
    query = (
        select(func.count()).select_from(Ticket).where(is_closed(), scope.within(Ticket.closed_at))
    )
    return _count(session, scope.tickets(query))


def instant_answer_rate(session: Session, scope: Scope) -> Ratio | None:
    """即时答复率 = instant / (instant + inquiries received); None for a unit scope."""
    if scope.unit_ids is not None:
        return None
    instant = _count(
        session,
        select(func.count())
        .select_from(ProcessedMessage)
        .where(
            scope.within(ProcessedMessage.received_at),
            cast(ProcessedMessage.replies, String).like(f'%"{INSTANT_ANSWER_KEY}"%'),
        ),
    )
    inquiries = _count(
        session,
        scope.tickets(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.kind == "inquiry", scope.within(Ticket.created_at))
        ),
    )
    return Ratio(instant, instant + inquiries)


def on_time_closure_rate(session: Session, scope: Scope) -> Ratio:
    """限时办结率 = on_time(M) / due(M): deadlines in M met by closing on or before them."""
    due = scope.tickets(
        select(func.count())
        .select_from(Ticket)
        .where(
            scope.within(Ticket.due_at),
            col(Ticket.status).not_in([TicketStatus.REJECTED.value, TicketStatus.WITHDRAWN.value]),
        )
    )
    on_time = due.where(
        Ticket.status == TicketStatus.CLOSED.value, col(Ticket.closed_at) <= col(Ticket.due_at)
    )
    return Ratio(_count(session, on_time), _count(session, due))


def overdue_count(session: Session, scope: Scope) -> int:
    """超期件数 = due(M) − on_time(M): deadlines in M missed (closed late or still open)."""
    rate = on_time_closure_rate(session, scope)
    return rate.denominator - rate.numerator


def callback_rate(session: Session, scope: Scope) -> Ratio:
    """抽查回访率 = called back / closed(M)."""
    # EXISTS, not IN (...) OR IN (...): PostgreSQL cannot hash an OR of two IN lists that
    # outgrow work_mem and falls back to scanning them per ticket (minutes at a million).
    answered = exists().where(
        col(Survey.ticket_id) == col(Ticket.id), col(Survey.status) == "answered"
    )
    called = exists().where(
        col(CallbackTask.ticket_id) == col(Ticket.id), col(CallbackTask.status) == "done"
    )
    base = scope.tickets(
        select(func.count()).select_from(Ticket).where(is_closed(), scope.within(Ticket.closed_at))
    )
    reached = base.where(or_(answered, called))
    return Ratio(_count(session, reached), _count(session, base))


def satisfaction_rate(session: Session, scope: Scope) -> Ratio:
    """回访满意率 = (满意 + 基本满意) / answered."""
    good = [SATISFIED, BASIC]
    surveys = scope.tickets(
        select(func.count())
        .select_from(Survey)
        .join(Ticket, col(Ticket.id) == col(Survey.ticket_id))
        .where(Survey.status == "answered", scope.within(Survey.answered_at))
    )
    calls = scope.tickets(
        select(func.count())
        .select_from(CallbackTask)
        .join(Ticket, col(Ticket.id) == col(CallbackTask.ticket_id))
        .where(CallbackTask.status == "done", scope.within(CallbackTask.completed_at))
    )
    satisfied = _count(session, surveys.where(col(Survey.satisfaction).in_(good))) + _count(
        session, calls.where(col(CallbackTask.satisfaction).in_(good))
    )
    return Ratio(satisfied, _count(session, surveys) + _count(session, calls))


def reworked(session: Session, scope: Scope) -> int:
    """Tickets reopened for rework (重办: a reopen event) in M, each once."""
    query = scope.tickets(
        select(func.count(func.distinct(TicketEvent.ticket_id)))
        .select_from(TicketEvent)
        .join(Ticket, col(Ticket.id) == col(TicketEvent.ticket_id))
        .where(TicketEvent.action == Action.REOPEN.value, scope.within(TicketEvent.created_at))
    )
    return _count(session, query)


def rework_rate(session: Session, scope: Scope) -> Ratio:
    """重办率 = tickets reopened for rework in M / closed(M)."""
    return Ratio(reworked(session, scope), closed(session, scope))


def supervised(session: Session, scope: Scope) -> int:
    """Supervision orders (督办) issued in M."""
    query = scope.tickets(
        select(func.count())
        .select_from(SupervisionOrder)
        .join(Ticket, col(Ticket.id) == col(SupervisionOrder.ticket_id))
        .where(scope.within(SupervisionOrder.created_at))
    )
    return _count(session, query)


def discipline_referrals(session: Session, scope: Scope) -> int:
    """Tickets created in M that went to discipline inspection (sealed clues)."""
    query = scope.tickets(
        select(func.count())
        .select_from(Ticket)
        .where(col(Ticket.sealed).is_(True), scope.within(Ticket.created_at))
    )
    return _count(session, query)


@dataclass(frozen=True)
class MonthlyKpis:
    """Every KPI of one month and scope."""

    received: int
    closed: int
    instant_answer: Ratio | None
    on_time_closure: Ratio
    callback: Ratio
    satisfaction: Ratio
    rework: Ratio
    overdue: int
    supervised: int
    discipline_referrals: int


def monthly_kpis(session: Session, scope: Scope) -> MonthlyKpis:
    """All KPIs of a scope (the report and the console dashboard use this)."""
    on_time = on_time_closure_rate(session, scope)
    return MonthlyKpis(
        received=received(session, scope),
        closed=closed(session, scope),
        instant_answer=instant_answer_rate(session, scope),
        on_time_closure=on_time,
        callback=callback_rate(session, scope),
        satisfaction=satisfaction_rate(session, scope),
        rework=rework_rate(session, scope),
        overdue=on_time.denominator - on_time.numerator,
        supervised=supervised(session, scope),
        discipline_referrals=discipline_referrals(session, scope),
    )
