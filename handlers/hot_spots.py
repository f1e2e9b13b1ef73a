"""Hot spots and early warning (预防预警): one unit, station, road or officer, many complaints.

A hot spot is N complaints or reports (default 3) within M days (default 30) about the same
accused unit, station, road number or officer number. Supervisors are warned once per hot
spot: while new complaints keep arriving inside the window the same hot spot only grows;
after a quiet window a new surge is a new hot spot. Sealed discipline clues are left out:
they are for discipline inspectors, never for a supervisors' broadcast.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.catalog import text
from handlers.notify import Notice, quiet_until, send_notice
from handlers.routing import UnitIndex, text_key
from handlers.workdays import WorkCalendar
from nlp.normalize import normalize
from nlp.places import find_places
from storage.escalations import active_hot_spot, insert_hot_spot
from storage.models import Staff, Ticket
from storage.models_ops import HotSpot
from storage.staffing import Role, active_units, staff_with_role, supervisors_over

log = logging.getLogger(__name__)

DEFAULT_MIN_COUNT = 3
DEFAULT_WINDOW_DAYS = 30
COUNTED_KINDS = ("complaint", "report")
MAX_LISTED = 10


def spot_keys(ticket: Ticket, index: UnitIndex) -> Iterator[tuple[str, str, str]]:
    """(kind, key, label) of every hot-spot candidate a ticket names."""
    if ticket.accused_unit_id is not None:
        unit = index.by_id.get(ticket.accused_unit_id)
        yield "unit", str(ticket.accused_unit_id), unit.name if unit else ""
    place = normalize(ticket.place_text or "").display
    for span in find_places(place, []):
        name = place[span.start : span.end]
        if span.kind == "route":
            yield "road", text_key(name).upper(), name.upper()
        elif span.kind == "station" and "某" not in name:
            # A station known by several names is one hot spot under its unit's name.
            unit = index.find(name)
            if unit is not None and unit.id == ticket.accused_unit_id:
                continue  # already counted as the accused unit
            label = unit.name if unit is not None and unit.kind == "station" else name
            yield "station", text_key(label), label
    for badge in ticket.badges:
        if text_key(badge):
            yield "badge", text_key(badge).upper(), badge.upper()


def detect_hot_spots(
    session: Session,
    *,
    now: datetime,
    min_count: int = DEFAULT_MIN_COUNT,
    window_days: int = DEFAULT_WINDOW_DAYS,
    calendar: WorkCalendar | None = None,
) -> list[HotSpot]:
    """Find hot spots in the window, warn supervisors of new ones once; returns the new ones."""
    if min_count < 2 or window_days < 1:
        raise ValueError("a hot spot needs at least 2 tickets within at least 1 day")
    since = now - timedelta(days=window_days)
    tickets = session.exec(
        select(Ticket)
        .where(
            col(Ticket.created_at) >= since,
            col(Ticket.created_at) <= now,
            col(Ticket.kind).in_(COUNTED_KINDS),
            col(Ticket.sealed).is_(False),
            col(Ticket.out_of_jurisdiction).is_(None),
        )
        .order_by(col(Ticket.created_at), col(Ticket.id))
    ).all()
    index = UnitIndex(active_units(session))
    groups: dict[tuple[str, str], tuple[str, list[Ticket]]] = {}
    for ticket in tickets:
        for kind, key, label in set(spot_keys(ticket, index)):
            groups.setdefault((kind, key), (label, []))[1].append(ticket)
    found: list[HotSpot] = []
    for (kind, key), (label, linked) in sorted(groups.items()):
        if len(linked) < min_count:
            continue
        ids = [t.id for t in linked if t.id is not None]
        existing = active_hot_spot(session, kind=kind, key=key, since=since)
        if existing is not None:
            merged = sorted(set(existing.ticket_ids) | set(ids))
            if merged != existing.ticket_ids:
                existing.ticket_ids = merged  # reassigned: JSON columns miss in-place edits
                existing.last_seen = max(existing.last_seen, linked[-1].created_at)
                session.add(existing)
            continue
        spot = _warn_once(session, kind, key, label, linked, now, window_days, calendar)
        if spot is not None:
            found.append(spot)
    session.flush()
    return found


def _warn_once(
    session: Session,
    kind: str,
    key: str,
    label: str,
    linked: list[Ticket],
    now: datetime,
    window_days: int,
    calendar: WorkCalendar | None,
) -> HotSpot | None:
    first, last = linked[0].created_at, linked[-1].created_at
    try:
        with session.begin_nested():
            # window_start comes from the data, not the clock: replicas agree on the key.
            spot = insert_hot_spot(
                session,
                spot=HotSpot(
                    kind=kind,
                    key=key[:200],
                    label=label[:200],
                    window_start=first,
                    first_seen=first,
                    last_seen=last,
                    ticket_ids=[t.id for t in linked if t.id is not None],
                    warned_at=now,
                    created_at=now,
                ),
            )
            numbers = [t.ticket_no for t in linked]
            shown = "、".join(numbers[:MAX_LISTED])
            if len(numbers) > MAX_LISTED:
                shown += text("notice.hot_spot_more", count=len(numbers))
            body = text(
                "notice.hot_spot",
                kind=text(f"notice.spot_{kind}"),
                label=label,
                days=window_days,
                count=len(linked),
                tickets=shown,
            )
            send_notice(
                session,
                notice=Notice("hot_spot", body),
                recipients=_recipients(session, kind, key),
                occasion=f"hotspot:{spot.id}",
                ticket_id=None,
                now=now,
                not_before=quiet_until(now, calendar) if calendar is not None else None,
            )
    except IntegrityError:
        return None  # another worker found and warned this hot spot first
    log.info("hot spot %s/%s: %d tickets", kind, spot.id, len(linked))
    return spot


def _recipients(session: Session, kind: str, key: str) -> list[Staff]:
    if kind == "unit" and key.isdigit():
        return supervisors_over(session, unit_id=int(key))
    return staff_with_role(session, roles=[Role.SUPERVISOR])
