"""The numbers of the monthly analysis report (DOMAIN.md §8); rendering lives in bot/report.

Counts cover every ticket of the month (sealed discipline clues included, as numbers only).
Lists that name something — hot spots, supervised and reopened cases, typical cases — leave
sealed clues out, and typical cases are anonymised: identifiers masked (phones, plates, ID
numbers) and the complainant's own name, phone, plate and chat id removed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from handlers.callbacks import ENFORCEMENT_CATEGORIES
from handlers.catalog import text
from handlers.hot_spots import spot_keys
from handlers.kpis import MonthlyKpis, Scope, is_closed, monthly_kpis
from handlers.months import Month, check_reportable, last_months
from handlers.routing import UnitIndex
from handlers.workdays import SHANGHAI
from nlp.entities import mask_identifiers
from nlp.labels import DOMAIN_LABELS, SUBCATEGORY_LABELS
from storage.complainants import read_identity
from storage.lifecycle import Action
from storage.models import Ticket, TicketEvent, Unit
from storage.models_ops import SupervisionOrder
from storage.staffing import active_units

TOP = 10
TYPICAL_CASES = 5
SUMMARY_CHARS = 160
KIND_KEYS = {
    "complaint": "kind.complaint",
    "report": "kind.report",
    "inquiry": "kind.inquiry",
    "suggestion": "kind.suggestion",
    "praise": "kind.praise",
}
LEVEL_KEYS = {"yellow": "notice.level_yellow", "red": "notice.level_red"}
CHANNEL_LABELS = {"wechat": "微信公众号", "telegram": "Telegram", "web": "网页", "test": "测试"}
STATUS_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
NONE_LABEL = "（未填）"


@dataclass(frozen=True)
class Count:
    """One row of a breakdown."""

    label: str
    count: int


@dataclass(frozen=True)
class TrendPoint:
    """One month of the trend."""

    month: str
    received: int
    enforcement: int
    closed: int


@dataclass(frozen=True)
class CaseLine:
    """A supervised or reopened case (no identity)."""

    ticket_no: str
    unit: str
    status: str
    detail: str


@dataclass(frozen=True)
class TypicalCase:
    """An anonymised case worth reading in full."""

    ticket_no: str
    kind: str
    category: str
    unit: str
    place: str
    summary: str
    status: str


@dataclass
class ReportData:
    """Everything the monthly report shows."""

    month: Month
    generated_at: datetime
    complete: bool  # False while the month is still running
    kpis: MonthlyKpis
    volumes: dict[str, list[Count]] = field(default_factory=dict)
    trend: list[TrendPoint] = field(default_factory=list)
    tops: dict[str, list[Count]] = field(default_factory=dict)
    problems: list[tuple[str, int, int]] = field(default_factory=list)  # label, now, before
    supervised: list[CaseLine] = field(default_factory=list)
    reopened: list[CaseLine] = field(default_factory=list)
    typical: list[TypicalCase] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing received, closed or due in the month."""
        k = self.kpis
        return not (k.received or k.closed or k.on_time_closure.denominator or k.supervised)


def _status(ticket_status: str) -> str:
    return text(f"ticket_status.{ticket_status}")


def _group(session: Session, scope: Scope, column: Any) -> list[tuple[Any, int]]:
    query = (
        select(column, func.count())
        .select_from(Ticket)
        .where(scope.within(Ticket.created_at))
        .group_by(column)
    )
    rows = session.exec(query).all()
    return sorted(((key, int(n)) for key, n in rows), key=lambda r: (-r[1], str(r[0])))


def volumes(session: Session, scope: Scope, units: dict[int, Unit]) -> dict[str, list[Count]]:
    """Month's tickets by kind, category, subcategory, domain, unit, region, channel."""

    def labelled(column: Any, name: Any) -> list[Count]:
        return [
            Count(name(key) if key else NONE_LABEL, n) for key, n in _group(session, scope, column)
        ]

    regions: Counter[str] = Counter()
    for unit_id, n in _group(session, scope, Ticket.unit_id):
        unit = units.get(unit_id) if unit_id is not None else None
        regions[unit.region if unit is not None and unit.region else NONE_LABEL] += n
    return {
        "kind": labelled(Ticket.kind, lambda k: text(KIND_KEYS.get(k, "kind.complaint"))),
        "category": labelled(Ticket.category, lambda c: text(f"category_short.{c}")),
        "subcategory": labelled(Ticket.subcategory, lambda s: SUBCATEGORY_LABELS.get(s, s)),
        "domain": labelled(Ticket.domain, lambda d: DOMAIN_LABELS.get(d, d)),
        "unit": labelled(Ticket.unit_id, lambda u: units[u].name if u in units else str(u)),
        "region": [Count(k, n) for k, n in sorted(regions.items(), key=lambda r: (-r[1], r[0]))],
        "channel": labelled(Ticket.channel, lambda c: CHANNEL_LABELS.get(c, c)),
    }


def trend(session: Session, month: Month, *, now: datetime, tz: ZoneInfo) -> list[TrendPoint]:
    """Received, enforcement and closed tickets for the 12 months ending with `month`."""
    points = []
    for item in last_months(month, 12):
        scope = Scope.of(item, now=now, tz=tz)
        by_category = dict(_group(session, scope, Ticket.category))
        closed = session.exec(
            select(func.count())
            .select_from(Ticket)
            .where(is_closed(), scope.within(Ticket.closed_at))
        ).one()
        points.append(
            TrendPoint(
                str(item),
                sum(by_category.values()),
                sum(by_category.get(c, 0) for c in ENFORCEMENT_CATEGORIES),
                int(closed),
            )
        )
    return points


def hot_spots(session: Session, scope: Scope, units: list[Unit]) -> dict[str, list[Count]]:
    """The most-complained units, stations, roads and officer numbers of the month."""
    rows = session.exec(
        select(Ticket.accused_unit_id, Ticket.place_text, Ticket.badges).where(
            scope.within(Ticket.created_at),
            col(Ticket.kind).in_(("complaint", "report")),
            col(Ticket.sealed).is_(False),
            col(Ticket.out_of_jurisdiction).is_(None),
        )
    ).all()
    index = UnitIndex(units)
    counters: dict[str, Counter[str]] = {k: Counter() for k in ("unit", "station", "road", "badge")}
    # The same unit, place and officer numbers recur across a month's tickets: count the
    # combinations first, then find each one's spots once (place parsing is the slow part).
    combos = Counter((accused, place, tuple(badges or ())) for accused, place, badges in rows)
    for (accused, place, badges), times in combos.items():
        probe = Ticket(
            ticket_no="",
            kind="",
            category="",
            severity="",
            channel="",
            description="",
            accused_unit_id=accused,
            place_text=place,
            badges=list(badges),
        )
        spots = {(kind, key): label for kind, key, label in spot_keys(probe, index)}
        for (kind, key), label in spots.items():  # a ticket counts once per spot
            counters[kind][label or key] += times
    return {
        kind: [Count(label, n) for label, n in sorted(c.items(), key=lambda r: (-r[1], r[0]))][:TOP]
        for kind, c in counters.items()
    }


def problems(
    session: Session, month: Month, *, now: datetime, tz: ZoneInfo
) -> list[tuple[str, int, int]]:
    """High-frequency enforcement problems for the problem ledger: this month and the last."""

    def counts(item: Month) -> Counter[str]:
        scope = Scope.of(item, now=now, tz=tz)
        rows = session.exec(
            select(Ticket.category, Ticket.subcategory, func.count())
            .where(
                scope.within(Ticket.created_at), col(Ticket.category).in_(ENFORCEMENT_CATEGORIES)
            )
            .group_by(col(Ticket.category), col(Ticket.subcategory))
        ).all()
        found: Counter[str] = Counter()
        for category, sub, n in rows:
            label = text(f"category_short.{category}")
            if sub:
                label = f"{label} · {SUBCATEGORY_LABELS.get(sub, sub)}"
            found[label] += int(n)
        return found

    now_counts, before = counts(month), counts(month.previous())
    ranked = sorted(now_counts.items(), key=lambda r: (-r[1], r[0]))[:TOP]
    return [(label, n, before.get(label, 0)) for label, n in ranked]


def case_lists(
    session: Session, scope: Scope, units: dict[int, Unit]
) -> tuple[list[CaseLine], list[CaseLine]]:
    """Supervision orders issued and tickets reopened in the month (sealed clues left out)."""

    def name(unit_id: int | None) -> str:
        unit = units.get(unit_id) if unit_id is not None else None
        return unit.name if unit is not None else NONE_LABEL

    orders = session.exec(
        select(SupervisionOrder, Ticket)
        .where(col(SupervisionOrder.ticket_id) == col(Ticket.id), col(Ticket.sealed).is_(False))
        .where(scope.within(SupervisionOrder.created_at))
        .order_by(col(SupervisionOrder.created_at))
        .limit(50)
    ).all()
    supervised = [
        CaseLine(
            t.ticket_no,
            name(t.unit_id),
            _status(t.status),
            text(LEVEL_KEYS.get(o.level, "notice.level_listed")),
        )
        for o, t in orders
    ]
    reopened_rows = session.exec(
        select(Ticket)
        .where(col(Ticket.sealed).is_(False))
        .where(
            col(Ticket.id).in_(
                select(TicketEvent.ticket_id).where(
                    TicketEvent.action == Action.REOPEN.value, scope.within(TicketEvent.created_at)
                )
            )
        )
        .order_by(col(Ticket.id))
        .limit(50)
    ).all()
    reopened = [
        CaseLine(
            t.ticket_no, name(t.unit_id), _status(t.status), text(f"category_short.{t.category}")
        )
        for t in reopened_rows
    ]
    return supervised, reopened


def anonymise(session: Session, ticket: Ticket, value: str | None, *, now: datetime) -> str:
    """Free text without identifiers or the complainant's identity (the read is logged)."""
    cleaned = mask_identifiers((value or "")[:1000])
    if ticket.complainant_id is not None:
        person = read_identity(
            session,
            complainant_id=ticket.complainant_id,
            actor="system",
            reason="anonymise a typical case for the monthly report",
            now=now,
            ticket_id=ticket.id,
        )
        for secret in (person.name, person.phone, person.own_plate, person.channel_user_id):
            if secret and len(secret.strip()) >= 2:
                cleaned = re.sub(re.escape(secret.strip()), "***", cleaned, flags=re.IGNORECASE)
    return cleaned


def typical_cases(
    session: Session, scope: Scope, units: dict[int, Unit], *, now: datetime
) -> list[TypicalCase]:
    """A few serious enforcement cases of the month, one per category where possible."""
    rows = session.exec(
        select(Ticket)
        .where(
            scope.within(Ticket.created_at),
            col(Ticket.sealed).is_(False),
            col(Ticket.category).in_(ENFORCEMENT_CATEGORIES),
            col(Ticket.kind).in_(("complaint", "report")),
        )
        .order_by(col(Ticket.id))
        .limit(2000)
    ).all()

    def weight(t: Ticket) -> tuple[int, int, int, int]:
        serious = 0 if t.supervision_level != "none" or t.reopen_count else 1
        return (serious, STATUS_ORDER.get(t.severity, 9), -len(t.description), t.id or 0)

    picked: list[Ticket] = []
    for ticket in sorted(rows, key=weight):
        if len(picked) < TYPICAL_CASES and all(p.category != ticket.category for p in picked):
            picked.append(ticket)
    out = []
    for t in picked:
        summary = anonymise(session, t, t.description, now=now)
        if len(summary) > SUMMARY_CHARS:
            summary = summary[: SUMMARY_CHARS - 1] + "…"
        out.append(
            TypicalCase(
                ticket_no=t.ticket_no,
                kind=text(KIND_KEYS.get(t.kind, "kind.complaint")),
                category=text(f"category_short.{t.category}"),
                unit=units[t.unit_id].name if t.unit_id in units else NONE_LABEL,
                place=anonymise(session, t, t.place_text, now=now) or NONE_LABEL,
                summary=summary,
                status=_status(t.status),
            )
        )
    return out


def build_report(
    session: Session, *, month: Month, now: datetime, tz: ZoneInfo = SHANGHAI
) -> ReportData:
    """Collect the month's report; a month to come raises MonthError."""
    complete = check_reportable(month, now, tz)
    scope = Scope.of(month, now=now, tz=tz)
    unit_rows = list(session.exec(select(Unit).order_by(col(Unit.id))).all())
    units = {u.id: u for u in unit_rows if u.id is not None}
    data = ReportData(
        month=month, generated_at=now, complete=complete, kpis=monthly_kpis(session, scope)
    )
    data.volumes = volumes(session, scope, units)
    data.trend = trend(session, month, now=now, tz=tz)
    data.tops = hot_spots(session, scope, active_units(session))
    data.problems = problems(session, month, now=now, tz=tz)
    data.supervised, data.reopened = case_lists(session, scope, units)
    data.typical = typical_cases(session, scope, units, now=now)
    return data
