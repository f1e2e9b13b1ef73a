"""Monthly KPIs on a hand-built October 2026 where every figure is known.

Unit A is 二大队 (DD2), unit B 一大队 (DD1). Times are Beijing wall-clock; the month runs from
10-01 00:00 to 11-01 00:00 local, so the tickets at 09-30 23:59 and 11-01 00:00 fall outside.

  no  unit created      kind       status    due           closed        notes
  T1  A    10-02        complaint  closed    10-20         10-15         survey 满意 10-16
  T2  A    10-03        complaint  closed    10-22         10-25 (late)  survey 不满意 10-26
  T3  B    09-10        complaint  handling  10-05         -             supervision order 10-06
  T4  B    09-15        complaint  rejected  10-08         -             (not due: rejected)
  T5  A    10-31 23:59  inquiry    received  11-03         -
  T6  A    11-01 00:00  complaint  received  11-20         -             (November)
  T7  B    09-30 23:59  complaint  closed    10-31 23:59:59 10-31 23:00  survey no answer
  T8  B    10-05        report     handling  11-20         -             sealed: discipline
  T9  A    08-20        complaint  closed    09-10         10-02         survey 基本满意 11-02
  T10 A    10-06        inquiry    closed    10-09         10-07         manual callback 满意
  T11 B    08-01        complaint  closed    08-25         09-20         survey 基本满意 10-01 00:30
  T12 A    09-01        complaint  reopened  09-25         -             重办 10-12; order 09-30

Instant answers: three knowledge-base answers in October, one in September, one other reply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from ops_support import load_city, unit_id
from sqlalchemy import Engine

from handlers.kpis import Ratio, Scope, monthly_kpis
from handlers.months import Month, MonthError, check_reportable
from handlers.workdays import SHANGHAI
from storage.engine import transaction
from storage.events import append_event
from storage.models import ProcessedMessage, Survey, Ticket
from storage.models_ops import SupervisionOrder
from storage.models_reports import CallbackTask

OCTOBER = Month(2026, 10)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A 2026 Beijing wall-clock time, as aware UTC."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def build_october(engine: Engine) -> tuple[int, int]:
    """The table above; returns the ids of units A and B."""
    load_city(engine, at(8, 1))
    a, b = unit_id(engine, "DD2"), unit_id(engine, "DD1")

    def row(
        unit: int,
        created: datetime,
        due: datetime,
        status: str = "received",
        closed: datetime | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return dict(
            unit_id=unit, created_at=created, due_at=due, status=status, closed_at=closed, **extra
        )

    rows: dict[str, dict[str, Any]] = {
        "T1": row(a, at(10, 2), at(10, 20), "closed", at(10, 15)),
        "T2": row(a, at(10, 3), at(10, 22), "closed", at(10, 25)),
        "T3": row(b, at(9, 10), at(10, 5), "handling"),
        "T4": row(b, at(9, 15), at(10, 8), "rejected", at(9, 16)),
        "T5": row(a, at(10, 31, 23, 59), at(11, 3), kind="inquiry"),
        "T6": row(a, at(11, 1, 0, 0), at(11, 20)),
        "T7": row(b, at(9, 30, 23, 59), at(10, 31, 23, 59, 59), "closed", at(10, 31, 23, 0)),
        "T8": row(b, at(10, 5), at(11, 20), "handling", kind="report", category="rent_seeking",
                  sealed=True),
        "T9": row(a, at(8, 20), at(9, 10), "closed", at(10, 2)),
        "T10": row(a, at(10, 6), at(10, 9), "closed", at(10, 7), kind="inquiry"),
        "T11": row(b, at(8, 1), at(8, 25), "closed", at(9, 20)),
        "T12": row(a, at(9, 1), at(9, 25), "reopened", reopen_count=1),
    }  # fmt: skip
    ids: dict[str, int] = {}
    with transaction(engine) as session:
        for no, fields in rows.items():
            values: dict[str, Any] = {
                "kind": "complaint",
                "category": "profit_driven",
                "severity": "normal",
                "channel": "wechat",
                "description": "x",
                "updated_at": fields["created_at"],
                **fields,
            }
            ticket = Ticket(ticket_no=f"TS-{no}", **values)
            session.add(ticket)
            session.flush()
            assert ticket.id is not None
            ids[no] = ticket.id
            append_event(
                session, ticket_id=ticket.id, actor="driver", action="create",
                from_status=None, to_status="received", now=fields["created_at"],
            )  # fmt: skip
        for no, moment in (("T12", at(10, 12)), ("T11", at(9, 15))):
            append_event(
                session, ticket_id=ids[no], actor="driver", action="reopen",
                from_status="closed", to_status="reopened", now=moment,
            )  # fmt: skip
        for no, status, rating, answered in (
            ("T1", "answered", "satisfied", at(10, 16)),
            ("T2", "answered", "unsatisfied", at(10, 26)),
            ("T7", "no_answer", None, None),
            ("T9", "answered", "basic", at(11, 2)),
            ("T11", "answered", "basic", at(10, 1, 0, 30)),
        ):
            session.add(
                Survey(
                    ticket_id=ids[no], channel="wechat", status=status, due_at=at(9, 1),
                    satisfaction=rating, answered_at=answered,
                )
            )  # fmt: skip
        session.add(
            CallbackTask(
                ticket_id=ids["T10"], month="2026-10", seed=1, status="done", method="phone",
                satisfaction="satisfied", completed_at=at(10, 20),
            )
        )  # fmt: skip
        session.add(
            CallbackTask(ticket_id=ids["T7"], month="2026-10", seed=1, status="unreachable")
        )
        session.add(SupervisionOrder(ticket_id=ids["T3"], level="red", created_at=at(10, 6)))
        session.add(SupervisionOrder(ticket_id=ids["T12"], level="red", created_at=at(9, 30, 23)))
        answer = [{"text": "", "choices": [], "key": "rights.answer"}]
        for n, moment, replies in (
            (1, at(10, 1, 0, 1), answer),
            (2, at(10, 15), answer),
            (3, at(10, 31, 23, 59), answer),
            (4, at(9, 30, 23, 59), answer),
            (5, at(10, 15), [{"text": "", "choices": [], "key": "common.greeting"}]),
        ):
            session.add(
                ProcessedMessage(
                    channel="test", message_id=f"m{n}", received_at=moment, replies=replies
                )
            )
    return a, b


def test_october_kpis_for_the_whole_service(any_engine: Engine) -> None:
    build_october(any_engine)
    with transaction(any_engine) as session:
        k = monthly_kpis(session, Scope.of(OCTOBER, now=NOW))
    assert (k.received, k.closed) == (5, 5)  # T1 T2 T5 T8 T10; T1 T2 T7 T9 T10
    assert k.instant_answer == Ratio(3, 5)  # 3 answers / (3 + inquiries T5 T10)
    assert k.on_time_closure == Ratio(3, 5)  # T1 T7 T10 of T1 T2 T3 T7 T10
    assert k.overdue == 2  # T2 closed late, T3 still open
    assert k.callback == Ratio(4, 5)  # T1 T2 T9 (surveys), T10 (call); T7 not reached
    assert k.satisfaction == Ratio(3, 4)  # T1 满意, T11 基本满意, T10 call 满意; T2 不满意
    assert k.rework == Ratio(1, 5)  # T12 reopened 10-12 (T11's was in September)
    assert (k.supervised, k.discipline_referrals) == (1, 1)  # T3's order; T8
    assert k.on_time_closure.percent() == "60.0%" and Ratio(0, 0).percent() == "—"


def test_october_kpis_for_one_unit(any_engine: Engine) -> None:
    a, _ = build_october(any_engine)
    with transaction(any_engine) as session:
        k = monthly_kpis(session, Scope.of(OCTOBER, now=NOW, unit_ids={a}))
    assert (k.received, k.closed) == (4, 4)
    assert k.instant_answer is None  # knowledge-base answers belong to no unit
    assert k.on_time_closure == Ratio(2, 3) and k.overdue == 1
    assert k.callback == Ratio(4, 4)
    assert k.satisfaction == Ratio(2, 3)
    assert k.rework == Ratio(1, 4)
    assert (k.supervised, k.discipline_referrals) == (0, 0)


def test_sealed_clues_can_be_left_out(any_engine: Engine) -> None:
    build_october(any_engine)
    with transaction(any_engine) as session:
        k = monthly_kpis(session, Scope.of(OCTOBER, now=NOW, include_sealed=False))
    assert (k.received, k.discipline_referrals) == (4, 0)


def test_an_empty_month_has_no_rates(any_engine: Engine) -> None:
    build_october(any_engine)
    with transaction(any_engine) as session:
        k = monthly_kpis(session, Scope.of(Month(2026, 3), now=NOW))
    assert (k.received, k.closed, k.overdue, k.supervised) == (0, 0, 0, 0)
    assert k.on_time_closure.value is None and k.satisfaction.value is None


def test_months_to_come_are_refused_and_the_running_one_is_partial() -> None:
    assert check_reportable(OCTOBER, NOW) is True
    assert check_reportable(Month(2026, 11), NOW) is False
    with pytest.raises(MonthError, match="has not begun"):
        check_reportable(Month(2026, 12), NOW)
    with pytest.raises(MonthError, match="YYYY-MM"):
        Month.parse("2026/10")
    with pytest.raises(MonthError, match="no such month"):
        Month.parse("2026-13")
    assert str(Month.parse("2026-1").shift(-1)) == "2025-12"
