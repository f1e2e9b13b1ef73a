"""Working-day calendar: 2026 official schedule, 调休 days, provisional 2027, overrides."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

import handlers.workdays as workdays_module
from handlers.workdays import CalendarError, WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(workdays_module.__file__).parent / "data" / "workday_overrides.example.toml"


def at(y: int, m: int, d: int, hh: int = 23, mm: int = 59, ss: int = 59) -> datetime:
    """A Beijing-time moment; the default is the end of that day, the deadline convention."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_new_year_and_spring_festival_2026_are_holidays() -> None:
    cal = WorkCalendar()
    assert not cal.is_workday(date(2026, 1, 1))  # 元旦, Thursday
    assert not cal.is_workday(date(2026, 1, 2))  # Friday off, 调休 from Sunday 1-4
    assert cal.is_workday(date(2026, 1, 4))  # that Sunday is worked
    # 春节 2026: 2-15 (Sun) to 2-23 (Mon) off; 初一 is 2-17.
    for day in range(15, 24):
        assert not cal.is_workday(date(2026, 2, day)), day
    assert cal.is_workday(date(2026, 2, 24))


def test_national_day_2026_is_skipped() -> None:
    cal = WorkCalendar()
    for day in range(1, 8):
        assert not cal.is_workday(date(2026, 10, day)), day
    assert cal.is_workday(date(2026, 9, 20))  # Sunday worked
    assert cal.is_workday(date(2026, 10, 10))  # Saturday worked
    # Filed Wednesday 9-30: counting starts 10-8; 10-10 counts; 10-11 (Sun) does not.
    # 10-8, 10-9, 10-10, 10-12..16, 10-19..23, 10-26, 10-27 = 15 working days.
    due = cal.add_workdays(at(2026, 9, 30, 10, 0, 0), 15)
    assert due == at(2026, 10, 27)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 10, 27, 15, 59, 59, tzinfo=UTC)
    assert cal.add_workdays(at(2026, 9, 30, 10, 0, 0), 1) == at(2026, 10, 8)


def test_tiaoxiu_saturday_counts_as_working_day() -> None:
    cal = WorkCalendar()
    assert date(2026, 2, 28).weekday() == 5
    assert cal.is_workday(date(2026, 2, 28))
    assert not cal.is_workday(date(2026, 3, 7))  # an ordinary Saturday
    assert cal.add_workdays(at(2026, 2, 27, 16, 0, 0), 1) == at(2026, 2, 28)
    assert cal.add_workdays(at(2026, 10, 9, 16, 0, 0), 1) == at(2026, 10, 10)
    assert cal.add_workdays(at(2026, 3, 6, 16, 0, 0), 1) == at(2026, 3, 9)


def test_matches_package_working_days_2025_2026() -> None:
    cal = WorkCalendar()
    package = holidays.country_holidays("CN", years=[2025, 2026])
    day = date(2025, 1, 1)
    while day.year < 2027:
        assert cal.is_workday(day) == package.is_working_day(day), day
        day += timedelta(days=1)


def test_start_day_is_local_and_not_counted() -> None:
    cal = WorkCalendar()
    # 01:00 Tuesday in Beijing is still Monday in UTC; the local day decides.
    start = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert cal.local_date(start) == date(2026, 3, 3)
    assert cal.add_workdays(start, 1) == at(2026, 3, 4)
    assert cal.add_workdays(at(2026, 3, 7, 10, 0, 0), 1) == at(2026, 3, 9)  # filed Saturday
    # Zero days: the same day if it is a working day, else the next one.
    assert cal.add_workdays(at(2026, 3, 3, 10, 0, 0), 0) == at(2026, 3, 3)
    assert cal.add_workdays(at(2026, 10, 1, 10, 0, 0), 0) == at(2026, 10, 8)
    with pytest.raises(ValueError):
        cal.add_workdays(start, -1)


def test_deadline_from_2026_12_20_falls_in_provisional_2027(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = WorkCalendar()
    # holidays 0.109 has official schedules up to 2026 only; 2027 is rule-based (元旦 on
    # Friday 1-1, no make-up days). Update these assertions when it ships 2027's schedule.
    assert not cal.is_provisional(2026)
    assert cal.is_provisional(2027), "the holidays package now has 2027: update this test"
    with caplog.at_level(logging.INFO, logger="handlers.workdays"):
        due = cal.add_workdays(at(2026, 12, 20, 9, 30, 0), 15)
    # 12-21..25 (5), 12-28..31 (9), 1-1 off, 1-4..8 (14), 1-11 (15).
    assert due == at(2027, 1, 11)
    assert cal.spans_provisional(at(2026, 12, 20), due)
    assert not cal.spans_provisional(at(2026, 1, 5), at(2026, 12, 31))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2027" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="handlers.workdays"):
        cal.add_workdays(at(2026, 12, 21, 9, 30, 0), 15)
    # Warned once per year; later computations are noted at INFO.
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_published_override_changes_2027(tmp_path: Path) -> None:
    # Fictional 2027 schedule, for the test only: 1-4 (Mon) off as well.
    path = write(
        tmp_path,
        '[2027]\npublished = true\nholidays = ["2027-01-01", 2027-01-04]\nworkdays = []\n',
    )
    cal = WorkCalendar(overrides_path=path)
    assert not cal.is_provisional(2027)
    assert not cal.is_workday(date(2027, 1, 4))
    # replace (the default) drops the package's estimate: 2-9 was an estimated day off.
    assert not WorkCalendar().is_workday(date(2027, 2, 9))
    assert cal.is_workday(date(2027, 2, 9))
    assert cal.add_workdays(at(2026, 12, 20, 9, 30, 0), 15) == at(2027, 1, 12)
    assert not cal.spans_provisional(at(2026, 12, 20), at(2027, 1, 12))


def test_amending_override_keeps_package_days(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[2026]\nreplace = false\nholidays = [2026-12-31]\n\n"
        "[2027]\npublished = true\nreplace = false\nworkdays = ['2027-01-09']\n",
    )
    cal = WorkCalendar(overrides_path=path)
    assert not cal.is_workday(date(2026, 12, 31))
    assert not cal.is_workday(date(2026, 10, 1))  # package holiday kept
    assert cal.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    assert not cal.is_workday(date(2027, 2, 9))  # package estimate kept
    assert not cal.is_provisional(2027)
    # 12-31 off and 1-9 worked: 12-21..30 (8), 1-4..8 (13), 1-9 (14), 1-11 (15).
    assert cal.add_workdays(at(2026, 12, 20, 9, 30, 0), 15) == at(2027, 1, 11)
    assert cal.add_workdays(at(2026, 12, 20, 9, 30, 0), 14) == at(2027, 1, 9)


def test_shipped_example_matches_package_for_2026() -> None:
    plain, example = WorkCalendar(), WorkCalendar(overrides_path=EXAMPLE)
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert plain.is_workday(day) == example.is_workday(day), day
        day += timedelta(days=1)
    assert not example.is_provisional(2026)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[2027\nholidays = []", "not valid TOML"),
        ('[next]\nholidays = ["2027-01-01"]\n', "must be a year"),
        ("2027 = 5\n", "must be a table"),
        ('[2027]\nholiday = ["2027-01-01"]\n', "unknown key"),
        ('[2027]\npublished = "yes"\nholidays = ["2027-01-01"]\n', "true or false"),
        ('[2027]\nholidays = "2027-01-01"\n', "must be a list"),
        ('[2027]\nholidays = ["2027-02-30"]\n', "not a calendar date"),
        ('[2027]\nholidays = ["1/1/2027"]\n', "not a date"),
        ("[2027]\nholidays = [2027-01-01T08:00:00]\n", "not a date"),
        ('[2027]\nholidays = ["2026-12-31"]\n', "not in 2027"),
        ('[2027]\nholidays = ["2027-02-06"]\nworkdays = ["2027-02-06"]\n', "both"),
        ("[2027]\npublished = true\n", "lists no holidays"),
    ],
)
def test_malformed_override_file(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError) as err:
        WorkCalendar(overrides_path=path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_missing_override_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(CalendarError, match=r"absent\.toml: cannot read"):
        WorkCalendar(overrides_path=path)


def test_naive_datetimes_rejected() -> None:
    cal = WorkCalendar()
    naive = datetime(2026, 10, 9, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_workdays(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.workdays_before(naive, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.next_workday_at(naive, time(10))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.workdays_between(at(2026, 10, 9), naive)
    with pytest.raises(ValueError, match="naive"):
        cal.next_workday_at(at(2026, 10, 9), time(10, tzinfo=UTC))


def test_workdays_before_for_yellow_card() -> None:
    cal = WorkCalendar()
    assert cal.workdays_before(at(2026, 10, 27), 1) == at(2026, 10, 26)
    assert cal.workdays_before(at(2026, 10, 8), 1) == at(2026, 9, 30)  # over National Day
    assert cal.workdays_before(at(2026, 10, 12), 1) == at(2026, 10, 10)  # 调休 Saturday
    assert cal.workdays_before(at(2026, 10, 12, 9, 15, 0), 0) == at(2026, 10, 12, 9, 15, 0)


def test_next_workday_at_for_callback() -> None:
    cal = WorkCalendar()
    callback = cal.next_workday_at(at(2026, 9, 30, 18, 0, 0), time(10, 0))
    assert callback == at(2026, 10, 8, 10, 0, 0)
    assert callback == datetime(2026, 10, 8, 2, 0, tzinfo=UTC)
    assert cal.next_workday_at(at(2026, 10, 9, 18, 0, 0), time(10)) == at(2026, 10, 10, 10, 0, 0)


def test_workdays_between_counts_overdue_days() -> None:
    cal = WorkCalendar()
    assert cal.workdays_between(at(2026, 9, 30), at(2026, 10, 8, 9, 0, 0)) == 1
    # 10-9, 10-10 (调休), 10-12..16.
    assert cal.workdays_between(at(2026, 10, 8), at(2026, 10, 16)) == 7
    assert cal.workdays_between(at(2026, 10, 16), at(2026, 10, 8)) == -7
    assert cal.workdays_between(at(2026, 10, 8, 1, 0, 0), at(2026, 10, 8)) == 0


def test_years_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = holidays.country_holidays

    def counting(*args: object, **kwargs: object) -> holidays.HolidayBase:
        calls.append(kwargs.get("years"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    # handlers.workdays looks the function up on the module at each call.
    monkeypatch.setattr(holidays, "country_holidays", counting)
    cal = WorkCalendar()
    first = cal.add_workdays(at(2026, 12, 20), 15)
    built = len(calls)
    assert built >= 1  # the patch is seen, so the count below means something
    for _ in range(200):
        assert cal.add_workdays(at(2026, 12, 20), 15) == first
    assert len(calls) == built
