"""The supervisors' dashboard: today's intake, overdue work, hot spots and this month's KPIs.

Supervisors see their jurisdiction (sealed discipline clues left out, as everywhere for
them); administrators see the whole service. The KPIs are `handlers.kpis`, the same
numbers as the monthly report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.console_access import visibility
from handlers.escalation import SLA_STATES
from handlers.kpis import MonthlyKpis, Scope, monthly_kpis
from handlers.months import Month
from handlers.staff_actions import PermissionDenied
from storage.lifecycle import OPEN_STATES, SupervisionLevel
from storage.models import Staff, Ticket, Unit
from storage.models_ops import HotSpot
from storage.staffing import Role, jurisdiction

HOT_SPOT_DAYS = 30
MAX_HOT_SPOTS = 10
DASHBOARD_ROLES = (Role.SUPERVISOR.value, Role.ADMIN.value)


@dataclass(frozen=True)
class HotSpotLine:
    """One hot spot, counted in tickets the viewer may open."""

    kind: str
    label: str
    tickets: int
    last_seen: datetime


@dataclass(frozen=True)
class Dashboard:
    """What a supervisor's first page shows."""

    today_total: int
    today_by_category: tuple[tuple[str, int], ...]
    open_total: int
    overdue: int
    overdue_by_unit: tuple[tuple[str, int], ...]
    due_soon: int
    urgent_open: int
    supervised_open: int
    hot_spots: tuple[HotSpotLine, ...]
    month: str
    kpis: MonthlyKpis


def _grouped(session: Session, column: Any, where: list[Any]) -> list[tuple[object, int]]:
    rows = session.exec(select(column, func.count()).where(*where).group_by(column)).all()
    return sorted(((key, int(n)) for key, n in rows), key=lambda p: -p[1])


def _count(session: Session, where: list[Any]) -> int:
    return int(session.exec(select(func.count()).select_from(Ticket).where(*where)).one())


def dashboard(session: Session, *, staff_id: int, now: datetime, tz: ZoneInfo) -> Dashboard:
    """The dashboard of a supervisor or administrator; PermissionDenied for other roles."""
    person = session.get(Staff, staff_id)
    if person is None or not person.active or person.role not in DASHBOARD_ROLES:
        raise PermissionDenied("dashboard: supervisors and administrators only")
    seen = visibility(session, person)
    midnight = datetime.combine(now.astimezone(tz).date(), time(), tz)
    today = [seen, col(Ticket.created_at) >= midnight]
    open_ = [seen, col(Ticket.status).in_([s.value for s in OPEN_STATES])]
    sla = [seen, col(Ticket.status).in_(SLA_STATES)]
    overdue = [*sla, col(Ticket.due_at) < now]
    units = {u.id: u.name for u in session.exec(select(Unit)).all()}
    unit_ids = (
        jurisdiction(session, unit_id=person.unit_id)
        if person.role == Role.SUPERVISOR and person.unit_id is not None
        else None
    )
    scope = Scope.of(
        Month.of(now, tz),
        now=now,
        tz=tz,
        unit_ids=unit_ids,
        include_sealed=person.role == Role.ADMIN,
    )
    return Dashboard(
        today_total=_count(session, today),
        today_by_category=tuple(
            (str(k), n) for k, n in _grouped(session, col(Ticket.category), today)
        ),
        open_total=_count(session, open_),
        overdue=_count(session, overdue),
        overdue_by_unit=tuple(
            (units.get(k, "待分派") if isinstance(k, int) else "待分派", n)
            for k, n in _grouped(session, col(Ticket.unit_id), overdue)
        ),
        due_soon=_count(session, [*sla, col(Ticket.due_at) >= now, col(Ticket.yellow_at) <= now]),
        urgent_open=_count(session, [*open_, col(Ticket.severity) == "urgent"]),
        supervised_open=_count(
            session, [*open_, col(Ticket.supervision_level) != SupervisionLevel.NONE.value]
        ),
        hot_spots=_hot_spots(session, person, now),
        month=f"{scope.start.astimezone(tz):%Y-%m}",
        kpis=monthly_kpis(session, scope),
    )


def _hot_spots(session: Session, person: Staff, now: datetime) -> tuple[HotSpotLine, ...]:
    spots = session.exec(
        select(HotSpot)
        .where(col(HotSpot.last_seen) >= now - timedelta(days=HOT_SPOT_DAYS))
        .order_by(col(HotSpot.last_seen).desc())
        .limit(100)
    ).all()
    ids = sorted({i for spot in spots for i in spot.ticket_ids})
    if not ids:
        return ()
    visible = set(
        session.exec(select(Ticket.id).where(col(Ticket.id).in_(ids), visibility(session, person)))
    )
    lines = [
        HotSpotLine(spot.kind, spot.label or spot.key, n, spot.last_seen)
        for spot in spots
        if (n := len(visible.intersection(spot.ticket_ids)))
    ]
    lines.sort(key=lambda line: (-line.tickets, line.label))
    return tuple(lines[:MAX_HOT_SPOTS])
