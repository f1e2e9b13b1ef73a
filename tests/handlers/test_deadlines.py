"""Deadline policy (DOMAIN.md §6) on the working-day calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.deadlines import (
    DeadlinePolicy,
    compute_deadlines,
    extend_deadline,
)
from handlers.workdays import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
POLICY = DeadlinePolicy()


def at(y: int, m: int, d: int, hh: int = 23, mm: int = 59, ss: int = 59) -> datetime:
    """A Beijing-time moment; the default is the end of that day, the deadline convention."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def test_defaults_follow_domain_section_6() -> None:
    assert POLICY.ack_workdays == 1
    assert POLICY.urgent_ack_hours == 2
    assert dict(POLICY.handling_workdays) == {
        "complaint": 15,
        "report": 15,
        "inquiry": 2,
        "suggestion": 10,
        "praise": 10,
    }
    assert dict(POLICY.severity_handling_workdays) == {}
    assert POLICY.extension_workdays == 7
    assert POLICY.yellow_workdays_before == 1
    assert POLICY.escalate_after_overdue_workdays == 5


def test_complaint_across_national_day_2026() -> None:
    d = compute_deadlines(
        received_at=at(2026, 9, 30, 10, 0, 0),
        kind="complaint",
        severity="normal",
        calendar=CAL,
        policy=POLICY,
    )
    assert d.ack_due_at == at(2026, 10, 8)  # 10-1..7 off
    assert d.due_at == at(2026, 10, 27)
    assert d.yellow_at == at(2026, 10, 26)
    assert d.escalate_at == at(2026, 11, 3)  # 10-28, 29, 30, 11-2, 11-3
    assert not d.provisional
    for moment in (d.ack_due_at, d.due_at, d.yellow_at, d.escalate_at):
        assert moment.tzinfo is UTC


def test_acknowledgement_due_on_tiaoxiu_saturday() -> None:
    d = compute_deadlines(
        received_at=at(2026, 10, 9, 15, 0, 0),
        kind="report",
        severity="high",
        calendar=CAL,
        policy=POLICY,
    )
    assert d.ack_due_at == at(2026, 10, 10)  # Saturday worked for National Day
    # 10-10, 10-12..16, 10-19..23, 10-26..29 = 15.
    assert d.due_at == at(2026, 10, 29)


def test_complaint_filed_2026_12_20_due_in_provisional_2027() -> None:
    d = compute_deadlines(
        received_at=at(2026, 12, 20, 9, 30, 0),
        kind="complaint",
        severity="normal",
        calendar=CAL,
        policy=POLICY,
    )
    assert d.ack_due_at == at(2026, 12, 21)
    assert d.due_at == at(2027, 1, 11)
    assert d.yellow_at == at(2027, 1, 8)
    assert d.escalate_at == at(2027, 1, 18)
    # holidays 0.109 has no official 2027 schedule; see test_workdays for the same check.
    assert d.provisional


def test_published_override_clears_provisional(tmp_path: Path) -> None:
    # The administrator confirmed the published notice matches the package's estimate.
    path = tmp_path / "overrides.toml"
    path.write_text("[2027]\npublished = true\nreplace = false\n", encoding="utf-8")
    d = compute_deadlines(
        received_at=at(2026, 12, 20, 9, 30, 0),
        kind="complaint",
        severity="normal",
        calendar=WorkCalendar(overrides_path=path),
        policy=POLICY,
    )
    assert d.due_at == at(2027, 1, 11)
    assert not d.provisional


def test_urgent_acknowledgement_is_two_wall_clock_hours() -> None:
    # Received late on a holiday night: the 2 hours run regardless of working days.
    received = at(2026, 10, 1, 22, 30, 0)
    d = compute_deadlines(
        received_at=received, kind="complaint", severity="urgent", calendar=CAL, policy=POLICY
    )
    assert d.ack_due_at == at(2026, 10, 2, 0, 30, 0)
    assert d.ack_due_at == datetime(2026, 10, 1, 16, 30, tzinfo=UTC)
    assert d.due_at == at(2026, 10, 27)  # 15 working days from 10-8, as if filed 9-30


@pytest.mark.parametrize(
    ("kind", "due"),
    [
        ("inquiry", at(2026, 3, 4)),
        ("suggestion", at(2026, 3, 16)),
        ("praise", at(2026, 3, 16)),
        ("report", at(2026, 3, 23)),
    ],
)
def test_handling_limit_per_kind(kind: str, due: datetime) -> None:
    d = compute_deadlines(
        received_at=at(2026, 3, 2, 9, 0, 0), kind=kind, severity="low", calendar=CAL, policy=POLICY
    )
    assert d.due_at == due


def test_unknown_kind_and_severity_rejected() -> None:
    with pytest.raises(ValueError, match="complaint, report, inquiry, suggestion, praise"):
        compute_deadlines(
            received_at=at(2026, 3, 2), kind="rant", severity="low", calendar=CAL, policy=POLICY
        )
    with pytest.raises(ValueError, match="unknown severity"):
        compute_deadlines(
            received_at=at(2026, 3, 2), kind="inquiry", severity="meh", calendar=CAL, policy=POLICY
        )


def test_naive_received_at_rejected() -> None:
    with pytest.raises(ValueError, match="received_at must be timezone-aware"):
        compute_deadlines(
            received_at=datetime(2026, 3, 2, 9, 0),
            kind="complaint",
            severity="urgent",
            calendar=CAL,
            policy=POLICY,
        )
    with pytest.raises(ValueError, match="due_at must be timezone-aware"):
        extend_deadline(due_at=datetime(2026, 3, 2, 9, 0), calendar=CAL, policy=POLICY)


def test_severity_caps_handling_limit() -> None:
    policy = DeadlinePolicy(severity_handling_workdays={"urgent": 5})
    received = at(2026, 3, 2, 9, 0, 0)
    urgent = compute_deadlines(
        received_at=received, kind="complaint", severity="urgent", calendar=CAL, policy=policy
    )
    assert urgent.due_at == at(2026, 3, 9)
    inquiry = compute_deadlines(
        received_at=received, kind="inquiry", severity="urgent", calendar=CAL, policy=policy
    )
    assert inquiry.due_at == at(2026, 3, 4)  # the kind's shorter limit stands


def test_yellow_card_not_before_receipt() -> None:
    policy = DeadlinePolicy.from_mapping({"handling_workdays": {"inquiry": 1}})
    received = at(2026, 3, 7, 10, 0, 0)  # Saturday
    d = compute_deadlines(
        received_at=received, kind="inquiry", severity="low", calendar=CAL, policy=policy
    )
    assert d.due_at == at(2026, 3, 9)
    assert d.yellow_at == received  # Friday 3-6 would be in the past


def test_extension_over_national_day_and_tiaoxiu() -> None:
    ext = extend_deadline(due_at=at(2026, 9, 29), calendar=CAL, policy=POLICY)
    # 9-30, 10-8, 10-9, 10-10 (Saturday worked), 10-12, 10-13, 10-14.
    assert ext.due_at == at(2026, 10, 14)
    assert ext.yellow_at == at(2026, 10, 13)
    assert ext.escalate_at == at(2026, 10, 21)
    assert not ext.provisional


def test_extension_into_2027_is_provisional() -> None:
    ext = extend_deadline(due_at=at(2026, 12, 28), calendar=CAL, policy=POLICY)
    assert ext.due_at == at(2027, 1, 7)  # 12-29..31, 1-4..7
    assert ext.provisional


def test_policy_from_mapping() -> None:
    policy = DeadlinePolicy.from_mapping(
        {
            "ack_workdays": 2,
            "handling_workdays": {"inquiry": 3},
            "severity_handling_workdays": {"urgent": 5},
        }
    )
    assert policy.ack_workdays == 2
    assert policy.handling_workdays["inquiry"] == 3
    assert policy.handling_workdays["complaint"] == 15  # defaults kept
    assert policy.severity_handling_workdays == {"urgent": 5}
    assert hash(policy) == hash(DeadlinePolicy.from_mapping(dict(policy.__dict__)))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"ack_days": 1}, "unknown deadline setting"),
        ({"ack_workdays": True}, "ack_workdays must be an integer"),
        ({"extension_workdays": "7"}, "extension_workdays must be an integer"),
        ({"urgent_ack_hours": 0}, "urgent_ack_hours must be an integer"),
        ({"handling_workdays": {"gripe": 3}}, "unknown key 'gripe'"),
        ({"handling_workdays": [1, 2]}, "must be a mapping"),
        ({"severity_handling_workdays": {"critical": 1}}, "unknown key 'critical'"),
    ],
)
def test_policy_from_mapping_rejects_bad_settings(data: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        DeadlinePolicy.from_mapping(data)


def test_policy_requires_every_kind() -> None:
    with pytest.raises(ValueError, match="lacks kind"):
        DeadlinePolicy(handling_workdays={"complaint": 15})
