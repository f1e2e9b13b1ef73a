"""Ticket time limits (DOMAIN.md §6) turned into deadlines on the working-day calendar.

All limits count Chinese working days with the convention of `handlers.workdays`: the day a
ticket is received does not count, and a limit of N ends at 23:59:59 local time of the Nth
working day after it. The urgent acknowledgement limit is wall-clock hours instead, because
an urgent case cannot wait for Monday.

Warning times: the yellow card fires `yellow_workdays_before` working days before the
deadline (same local time of day), the red card at the deadline itself (`due_at`), and the
report to the supervisor's superior at the end of the `escalate_after_overdue_workdays`-th
working day after the deadline's day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from types import MappingProxyType

from handlers.workdays import MAX_WORKDAYS, WorkCalendar, ensure_aware

__all__ = [
    "KINDS",
    "SEVERITIES",
    "DeadlinePolicy",
    "Deadlines",
    "ExtendedDeadlines",
    "compute_deadlines",
    "extend_deadline",
]

KINDS = ("complaint", "report", "inquiry", "suggestion", "praise")
SEVERITIES = ("urgent", "high", "normal", "low")
_DEFAULT_HANDLING: Mapping[str, int] = MappingProxyType(
    {"complaint": 15, "report": 15, "inquiry": 2, "suggestion": 10, "praise": 10}
)


def _default_handling() -> Mapping[str, int]:
    return _DEFAULT_HANDLING


def _no_severity_overrides() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DeadlinePolicy:
    """Configurable time limits; the defaults are DOMAIN.md §6."""

    ack_workdays: int = 1
    urgent_ack_hours: int = 2
    # hash=False: the mappings are read-only views, which cannot be hashed themselves.
    handling_workdays: Mapping[str, int] = field(default_factory=_default_handling, hash=False)
    # Severity can only shorten a kind's limit (an urgent inquiry keeps its 2 days), so a
    # severity entry is a cap, not a replacement.
    severity_handling_workdays: Mapping[str, int] = field(
        default_factory=_no_severity_overrides, hash=False
    )
    extension_workdays: int = 7
    yellow_workdays_before: int = 1
    escalate_after_overdue_workdays: int = 5

    def __post_init__(self) -> None:
        _check_int("ack_workdays", self.ack_workdays, 0, MAX_WORKDAYS)
        _check_int("urgent_ack_hours", self.urgent_ack_hours, 1, 24 * 7)
        _check_int("extension_workdays", self.extension_workdays, 1, MAX_WORKDAYS)
        _check_int("yellow_workdays_before", self.yellow_workdays_before, 0, MAX_WORKDAYS)
        _check_int(
            "escalate_after_overdue_workdays", self.escalate_after_overdue_workdays, 1, MAX_WORKDAYS
        )
        handling = _check_limits("handling_workdays", self.handling_workdays, KINDS)
        missing = [k for k in KINDS if k not in handling]
        if missing:
            raise ValueError(f"handling_workdays lacks kind(s) {missing}")
        by_severity = _check_limits(
            "severity_handling_workdays", self.severity_handling_workdays, SEVERITIES
        )
        # Read-only copies keep the frozen policy from changing under a caller's dict.
        object.__setattr__(self, "handling_workdays", MappingProxyType(handling))
        object.__setattr__(self, "severity_handling_workdays", MappingProxyType(by_severity))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> DeadlinePolicy:
        """Build a policy from settings; `handling_workdays` entries amend the defaults."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown deadline setting(s) {unknown}; allowed: {sorted(allowed)}")
        kwargs: dict[str, object] = dict(data)
        if "handling_workdays" in data:
            # Settings usually change one kind's limit; merging spares repeating the rest.
            kwargs["handling_workdays"] = {
                **_DEFAULT_HANDLING,
                **_as_mapping("handling_workdays", data["handling_workdays"]),
            }
        if "severity_handling_workdays" in data:
            kwargs["severity_handling_workdays"] = _as_mapping(
                "severity_handling_workdays", data["severity_handling_workdays"]
            )
        # Field types are checked in __post_init__, which is why object values may pass here.
        return cls(**kwargs)  # type: ignore[arg-type]

    def handling_limit(self, kind: str, severity: str) -> int:
        """Working days allowed to handle a ticket of this kind and severity."""
        if kind not in self.handling_workdays:
            raise ValueError(f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; allowed: {', '.join(SEVERITIES)}")
        limit = self.handling_workdays[kind]
        cap = self.severity_handling_workdays.get(severity)
        return limit if cap is None else min(limit, cap)


@dataclass(frozen=True)
class Deadlines:
    """A new ticket's deadlines, all aware UTC; the red card time is `due_at`."""

    ack_due_at: datetime
    due_at: datetime
    yellow_at: datetime
    escalate_at: datetime
    provisional: bool  # some counted day lies in a year without a published schedule


@dataclass(frozen=True)
class ExtendedDeadlines:
    """The deadlines after one extension, all aware UTC; the red card time is `due_at`."""

    due_at: datetime
    yellow_at: datetime
    escalate_at: datetime
    provisional: bool


def compute_deadlines(
    *,
    received_at: datetime,
    kind: str,
    severity: str,
    calendar: WorkCalendar,
    policy: DeadlinePolicy,
) -> Deadlines:
    """Deadlines for a ticket received at `received_at` (aware; naive raises ValueError)."""
    received = ensure_aware(received_at, "received_at")
    limit = policy.handling_limit(kind, severity)
    due_at = calendar.add_workdays(received, limit)
    if severity == "urgent":
        ack_due_at = received + timedelta(hours=policy.urgent_ack_hours)
    else:
        ack_due_at = calendar.add_workdays(received, policy.ack_workdays)
    # With a one-day limit the yellow card's day can precede receipt (a ticket filed on a
    # weekend); it is then shown at once rather than in the past.
    yellow_at = max(received, calendar.workdays_before(due_at, policy.yellow_workdays_before))
    escalate_at = calendar.add_workdays(due_at, policy.escalate_after_overdue_workdays)
    return Deadlines(
        ack_due_at=ack_due_at,
        due_at=due_at,
        yellow_at=yellow_at,
        escalate_at=escalate_at,
        provisional=calendar.spans_provisional(received, escalate_at),
    )


def extend_deadline(
    *, due_at: datetime, calendar: WorkCalendar, policy: DeadlinePolicy
) -> ExtendedDeadlines:
    """Deadlines after one extension of `policy.extension_workdays` beyond `due_at`.

    Only the arithmetic: that a ticket is extended at most once, with a reason and a
    supervisor's approval, is the lifecycle's rule.
    """
    old_due = ensure_aware(due_at, "due_at")
    new_due = calendar.add_workdays(old_due, policy.extension_workdays)
    yellow_at = calendar.workdays_before(new_due, policy.yellow_workdays_before)
    escalate_at = calendar.add_workdays(new_due, policy.escalate_after_overdue_workdays)
    return ExtendedDeadlines(
        due_at=new_due,
        yellow_at=yellow_at,
        escalate_at=escalate_at,
        provisional=calendar.spans_provisional(old_due, escalate_at),
    )


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    # bool is an int subclass; `true` in a settings file is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer {lo}-{hi}, got {value!r}")
    return value


def _as_mapping(name: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping, got {value!r}")
    return value


def _check_limits(name: str, value: object, keys: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, limit in _as_mapping(name, value).items():
        if key not in keys:
            raise ValueError(f"{name} has unknown key {key!r}; allowed: {', '.join(keys)}")
        out[key] = _check_int(f"{name}[{key!r}]", limit, 1, MAX_WORKDAYS)
    return out
