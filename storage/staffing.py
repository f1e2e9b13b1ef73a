"""Units, staff, routing rules and chat binding codes: the staffing repository."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Staff, Unit
from storage.models_ops import BindingCode, RoutingRule

log = logging.getLogger(__name__)

BINDING_CODE_DIGITS = 8
STAFF_CHANNELS = ("telegram", "wechat")


class Role(StrEnum):
    """What a member of staff may do (DOMAIN.md §1)."""

    HANDLER = "handler"  # 承办人
    UNIT_HEAD = "unit_head"  # 单位负责人
    SUPERVISOR = "supervisor"  # 督办 / 法制科 / 执法监督科
    DISCIPLINE = "discipline"  # 驻局纪检组
    ADMIN = "admin"


class BindingRefused(Exception):
    """A binding code could not be redeemed; `reason` is a short machine-readable word."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"binding code refused: {reason}")


# ---------------------------------------------------------------- units


def unit_by_code(session: Session, *, code: str) -> Unit | None:
    """The unit with this code, active or not."""
    return session.exec(select(Unit).where(Unit.code == code)).first()


def active_units(session: Session) -> list[Unit]:
    """Every active unit, by id (a city has tens of them, so callers index in memory)."""
    return list(session.exec(select(Unit).where(col(Unit.active)).order_by(col(Unit.id))).all())


def apply_fields(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def upsert_unit(session: Session, *, code: str, values: dict[str, Any]) -> tuple[Unit, str]:
    """Create or update a unit by code; returns it and 'created', 'updated' or 'unchanged'."""
    unit = unit_by_code(session, code=code)
    if unit is None:
        unit = Unit(code=code, **values)
        session.add(unit)
        session.flush()
        return unit, "created"
    changed = apply_fields(unit, values)
    session.flush()
    return unit, "updated" if changed else "unchanged"


def supervising_unit(session: Session, *, unit_id: int) -> Unit | None:
    """The body that supervises a unit: its own, else the nearest ancestor's."""
    seen: set[int] = set()
    unit = session.get(Unit, unit_id)
    while unit is not None and unit.id not in seen:
        seen.add(unit.id or 0)
        target = unit.supervising_unit_id
        if target is not None and target != unit_id:
            return session.get(Unit, target)
        unit = session.get(Unit, unit.parent_id) if unit.parent_id is not None else None
    return None


def jurisdiction(session: Session, *, unit_id: int) -> set[int]:
    """A unit, the units under it and the units it supervises, transitively."""
    units = active_units(session)
    children: dict[int, list[int]] = {}
    for unit in units:
        for parent in (unit.parent_id, unit.supervising_unit_id):
            if parent is not None and unit.id is not None:
                children.setdefault(parent, []).append(unit.id)
    found, stack = {unit_id}, [unit_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


# ---------------------------------------------------------------- staff


def staff_by_username(session: Session, *, username: str) -> Staff | None:
    """The staff member with this login name."""
    return session.exec(select(Staff).where(Staff.username == username)).first()


def upsert_staff(session: Session, *, username: str, values: dict[str, Any]) -> tuple[Staff, str]:
    """Create or update a staff member; returns it and 'created', 'updated' or 'unchanged'."""
    person = staff_by_username(session, username=username)
    if person is None:
        person = Staff(username=username, **values)
        session.add(person)
        session.flush()
        return person, "created"
    changed = apply_fields(person, values)
    session.flush()
    return person, "updated" if changed else "unchanged"


def deactivate_missing(session: Session, *, model: type[Any], keep: Iterable[str]) -> int:
    """Deactivate units (by code) or staff (by username) absent from a configuration."""
    key = col(model.code) if model is Unit else col(model.username)
    result = session.execute(
        update(model)
        .where(key.not_in(list(keep)), col(model.active))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def staff_by_channel(session: Session, *, channel: str, channel_user_id: str) -> Staff | None:
    """The active staff member bound to this chat account, if any."""
    if channel == "telegram":
        column = col(Staff.telegram_chat_id)
    elif channel == "wechat":
        column = col(Staff.wechat_openid)
    else:
        return None
    return session.exec(select(Staff).where(column == channel_user_id, col(Staff.active))).first()


def staff_with_role(
    session: Session, *, roles: Sequence[Role], unit_ids: Iterable[int] | None = None
) -> list[Staff]:
    """Active staff of these roles, optionally only in these units, by id."""
    query = select(Staff).where(col(Staff.active), col(Staff.role).in_([r.value for r in roles]))
    if unit_ids is not None:
        query = query.where(col(Staff.unit_id).in_(list(unit_ids)))
    return list(session.exec(query.order_by(col(Staff.id))).all())


def handlers_of(session: Session, *, unit_id: int) -> list[Staff]:
    """A unit's handling officers (承办人)."""
    return staff_with_role(session, roles=[Role.HANDLER], unit_ids=[unit_id])


def unit_heads_of(session: Session, *, unit_id: int) -> list[Staff]:
    """A unit's heads."""
    return staff_with_role(session, roles=[Role.UNIT_HEAD], unit_ids=[unit_id])


def supervisors_over(session: Session, *, unit_id: int) -> list[Staff]:
    """Supervisors of the body supervising a unit, else of its ancestors, else all of them."""
    body = supervising_unit(session, unit_id=unit_id)
    candidates: list[int] = [body.id] if body is not None and body.id is not None else []
    unit = session.get(Unit, unit_id)
    while unit is not None and unit.parent_id is not None and len(candidates) < 20:
        candidates.append(unit.parent_id)
        unit = session.get(Unit, unit.parent_id)
    for candidate in candidates:
        found = staff_with_role(session, roles=[Role.SUPERVISOR], unit_ids=[candidate])
        if found:
            return found
    # Nobody configured up the tree: a warning that reaches no one is worse than a broad one.
    return staff_with_role(session, roles=[Role.SUPERVISOR])


def discipline_inspectors(session: Session) -> list[Staff]:
    """Every active discipline inspector."""
    return staff_with_role(session, roles=[Role.DISCIPLINE])


def duty_supervisors(session: Session) -> list[Staff]:
    """Supervisors on duty; every supervisor when nobody is marked on duty."""
    everyone = staff_with_role(session, roles=[Role.SUPERVISOR])
    return [s for s in everyone if s.on_duty] or everyone


# ---------------------------------------------------------------- routing rules


@dataclass(frozen=True)
class RuleSpec:
    """A routing rule as configured: match fields (None matches anything) and a target."""

    priority: int
    unit_id: int
    category: str | None = None
    subcategory: str | None = None
    domain: str | None = None
    region: str | None = None
    station: str | None = None


def _spec_of(rule: RoutingRule) -> RuleSpec:
    return RuleSpec(
        priority=rule.priority,
        unit_id=rule.unit_id,
        category=rule.category,
        subcategory=rule.subcategory,
        domain=rule.domain,
        region=rule.region,
        station=rule.station,
    )


def routing_rules(session: Session) -> list[RoutingRule]:
    """Rules in the order they are tried: priority, then the order they were configured."""
    return list(
        session.exec(
            select(RoutingRule).order_by(col(RoutingRule.priority), col(RoutingRule.id))
        ).all()
    )


def replace_routing_rules(
    session: Session, *, rules: Sequence[RuleSpec], now: datetime
) -> tuple[int, int, int]:
    """Make the stored rules equal `rules`; returns (created, removed, unchanged)."""
    existing = routing_rules(session)
    if [_spec_of(r) for r in existing] == list(rules):
        return 0, 0, len(existing)
    old = {_spec_of(r) for r in existing}
    new = set(rules)
    for rule in existing:
        session.delete(rule)
    session.flush()
    # Re-inserted in file order so equal priorities keep their configured order.
    for spec in rules:
        session.add(RoutingRule(**spec.__dict__, created_at=now))
    session.flush()
    return len(new - old), len(old - new), len(old & new)


# ---------------------------------------------------------------- binding codes


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def issue_binding_code(
    session: Session,
    *,
    staff_id: int,
    now: datetime,
    ttl: timedelta,
    channel: str | None = None,
) -> str:
    """A fresh one-time code for a staff member; only its hash is stored."""
    if channel is not None and channel not in STAFF_CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(STAFF_CHANNELS)}, got {channel!r}")
    if ttl <= timedelta(0):
        raise ValueError("a binding code needs a positive lifetime")
    while True:
        code = "".join(secrets.choice("0123456789") for _ in range(BINDING_CODE_DIGITS))
        digest = _hash_code(code)
        taken = session.exec(select(BindingCode.id).where(BindingCode.code_hash == digest))
        if taken.first() is None:
            break
    session.add(
        BindingCode(
            code_hash=digest,
            staff_id=staff_id,
            channel=channel,
            expires_at=now + ttl,
            created_at=now,
        )
    )
    session.flush()
    log.info("binding code issued for staff %d (%s)", staff_id, channel or "any channel")
    return code


def redeem_binding_code(
    session: Session, *, code: str, channel: str, channel_user_id: str, now: datetime
) -> Staff:
    """Link the chat account to the code's staff member, once; else `BindingRefused`."""
    if channel not in STAFF_CHANNELS:
        raise BindingRefused("channel")
    digest = _hash_code(code)
    row = session.exec(select(BindingCode).where(BindingCode.code_hash == digest)).first()
    # The lookup is by hash; compare_digest keeps the final check constant-time as well.
    if row is None or not hmac.compare_digest(row.code_hash, digest):
        raise BindingRefused("unknown")
    if row.used_at is not None:
        raise BindingRefused("used")
    if row.expires_at <= now:
        raise BindingRefused("expired")
    if row.channel is not None and row.channel != channel:
        raise BindingRefused("channel")
    person = session.get(Staff, row.staff_id)
    if person is None or not person.active:
        raise BindingRefused("inactive")
    holder = staff_by_channel(session, channel=channel, channel_user_id=channel_user_id)
    if holder is not None and holder.id != person.id:
        raise BindingRefused("taken")
    # Single use even against a concurrent redeemer: only one UPDATE sees used_at IS NULL.
    claimed = session.execute(
        update(BindingCode)
        .where(col(BindingCode.id) == row.id, col(BindingCode.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise BindingRefused("used")
    if channel == "telegram":
        person.telegram_chat_id = channel_user_id
    else:
        person.wechat_openid = channel_user_id
    session.flush()
    log.info("staff %d bound a %s account", person.id, channel)
    return person
