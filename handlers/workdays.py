"""Chinese working-day calendar (工作日) for ticket deadlines.

Days come from the `holidays` package's China calendar: statutory holidays, the State
Council's 调休 schedule (weekday days off and the weekend days worked instead) for every
year the package knows as published, and rule-based estimates (lunar festivals included,
weekend holidays moved to the next weekday, no make-up days) for later years. Such later
years are *provisional*: computations still work, they are logged, and callers can flag the
result (`is_provisional`, `spans_provisional`).

An administrator can add a newly published schedule before the package ships it, as a TOML
file (see `data/workday_overrides.example.toml`)::

    [2027]                      # one table per calendar year, 2000-2100
    published = true            # the official schedule: the year stops being provisional
                                # (default false)
    replace = true              # default true: the lists below are the whole year and replace
                                # the package's days; false: they only amend the package's days
    holidays = ["2027-01-01", 2027-02-05]   # days off (weekends may be listed; harmless)
    workdays = ["2027-02-20"]               # weekend days worked (调休上班)

Dates are TOML dates or "YYYY-MM-DD" strings and must lie in their table's year; a make-up
day in late December for next year's holiday goes in that December's table with
`replace = false`. A file that cannot be read or does not follow this shape raises
`CalendarError` naming the file and the problem, so a typo fails at start-up, not silently.

Deadline convention (民法典 第二百零一条: the starting day is not counted): N working days
from a moment end at 23:59:59 local time of the Nth working day counted from the first
working day *after* the moment's local day. Every datetime in is aware, every one out is
aware UTC; naive datetimes raise ValueError because a wrong zone shifts a deadline by a day.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

__all__ = ["SHANGHAI", "CalendarError", "WorkCalendar", "ensure_aware"]

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)
MIN_YEAR, MAX_YEAR = 2000, 2100
# Bounds the day-by-day walk; no deadline rule comes anywhere near four years.
MAX_WORKDAYS = 1000
_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECTION_KEYS = frozenset({"published", "replace", "holidays", "workdays"})


class CalendarError(Exception):
    """The workday overrides file is unreadable or malformed; the message names both."""


def ensure_aware(moment: datetime, what: str = "datetime") -> datetime:
    """Return `moment` in UTC, or raise ValueError if it is naive."""
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class _Override:
    holidays: frozenset[date]
    workdays: frozenset[date]
    published: bool
    replace: bool


@dataclass(frozen=True)
class _YearDays:
    holidays: frozenset[date]
    workdays: frozenset[date]  # weekend days worked (调休)
    provisional: bool


class WorkCalendar:
    """Chinese working days: the `holidays` China calendar plus an optional overrides file."""

    def __init__(self, *, overrides_path: Path | None = None, tz: ZoneInfo = SHANGHAI) -> None:
        self._tz = tz
        self._overrides: dict[int, _Override] = (
            _load_overrides(overrides_path) if overrides_path is not None else {}
        )
        # Filled lazily: building one year of the package's calendar takes ~0.1 s, and
        # add_workdays runs on every ticket creation.
        self._years: dict[int, _YearDays] = {}
        self._last_official: int | None = None
        self._warned: set[int] = set()

    @property
    def tz(self) -> ZoneInfo:
        """The zone whose calendar days are counted."""
        return self._tz

    def is_workday(self, d: date) -> bool:
        """Whether `d` is a working day: a make-up day, or a weekday that is not a holiday."""
        days = self._year(d.year)
        if d in days.workdays:
            return True
        return d.weekday() < 5 and d not in days.holidays

    def is_provisional(self, year: int) -> bool:
        """Whether `year` has no published schedule, in the package or the overrides file."""
        return self._year(year).provisional

    def local_date(self, moment: datetime) -> date:
        """The calendar day of an aware `moment` in this calendar's zone."""
        return ensure_aware(moment).astimezone(self._tz).date()

    def at_local(self, d: date, at: time) -> datetime:
        """The aware UTC datetime of local wall-clock time `at` on day `d`."""
        if at.tzinfo is not None:
            raise ValueError("time of day is local wall-clock time and must be naive")
        return datetime.combine(d, at, tzinfo=self._tz).astimezone(UTC)

    def add_workdays(self, start: datetime, days: int) -> datetime:
        """End (23:59:59 local) of the `days`-th working day after the local day of `start`."""
        _check_count(days)
        first = self.local_date(start)
        if days == 0:
            # Zero means "today": the start day if it is a working day, else the next one.
            day = first if self.is_workday(first) else self._step(first, 1, 1)
        else:
            day = self._step(first, days, 1)
        self._note_provisional(first, day, "add_workdays")
        return self.at_local(day, END_OF_DAY)

    def workdays_before(self, moment: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days before the local day of `moment`."""
        _check_count(days)
        local = ensure_aware(moment).astimezone(self._tz)
        if days == 0:
            return local.astimezone(UTC)
        day = self._step(local.date(), days, -1)
        self._note_provisional(day, local.date(), "workdays_before")
        return self.at_local(day, local.time().replace(tzinfo=None))

    def next_workday_at(self, start: datetime, at: time) -> datetime:
        """Local time `at` on the first working day after the local day of `start`."""
        first = self.local_date(start)
        day = self._step(first, 1, 1)
        self._note_provisional(first, day, "next_workday_at")
        return self.at_local(day, at)

    def workdays_between(self, a: datetime, b: datetime) -> int:
        """Working days after the local day of `a` up to and including that of `b`.

        Negative when `b` is on an earlier day, so `workdays_between(due_at, now)` is how many
        working days a ticket is overdue.
        """
        day_a, day_b = self.local_date(a), self.local_date(b)
        if day_b < day_a:
            return -self.workdays_between(b, a)
        self._note_provisional(day_a, day_b, "workdays_between")
        return sum(1 for d in _days(day_a + _ONE_DAY, day_b) if self.is_workday(d))

    def spans_provisional(self, a: datetime, b: datetime) -> bool:
        """Whether any local day from `a` to `b` (either order) falls in a provisional year."""
        years = sorted((self.local_date(a).year, self.local_date(b).year))
        return any(self.is_provisional(y) for y in range(years[0], years[1] + 1))

    # -- internals -------------------------------------------------------------------------

    def _step(self, day: date, count: int, direction: int) -> date:
        """The `count`-th working day strictly after (1) or before (-1) `day`."""
        step = _ONE_DAY if direction > 0 else -_ONE_DAY
        found = 0
        while found < count:
            day += step
            if self.is_workday(day):
                found += 1
        return day

    def _year(self, year: int) -> _YearDays:
        cached = self._years.get(year)
        if cached is None:
            cached = self._build_year(year)
            # A concurrent build of the same year yields an equal value, so no lock needed.
            self._years[year] = cached
        return cached

    def _build_year(self, year: int) -> _YearDays:
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError(f"year {year} is outside the supported range {MIN_YEAR}-{MAX_YEAR}")
        package = _china(year)
        pkg_holidays = frozenset(d for d in package if d.year == year)
        # Make-up days for the next year's holidays can fall in this year's December, and
        # the package keeps them all in one set, so filter by year.
        pkg_workdays = frozenset(d for d in package.weekend_workdays if d.year == year)
        official = year <= self._package_last_official()
        override = self._overrides.get(year)
        if override is None:
            return _YearDays(pkg_holidays, pkg_workdays, provisional=not official)
        if override.replace:
            days_off, worked = override.holidays, override.workdays
        else:
            days_off = (pkg_holidays - override.workdays) | override.holidays
            worked = (pkg_workdays - override.holidays) | override.workdays
        return _YearDays(days_off, worked, provisional=not (official or override.published))

    def _package_last_official(self) -> int:
        """The last year for which the package carries an explicit State Council schedule."""
        if self._last_official is None:
            probe = _china(date.today().year)
            # The package has no "estimated schedule" flag (its estimated label is only for
            # lunar dates), so a year counts as official when it has explicit special or
            # substituted days in the package's data.
            special = getattr(probe, "special_public_holidays", None)
            years = (
                {y for y in special if isinstance(y, int)} if isinstance(special, dict) else set()
            )
            if not years:
                # Fallback for package versions that store the schedule differently.
                scan = _china(range(2020, date.today().year + 3))
                years = {d.year for d in scan.weekend_workdays}
            self._last_official = max(years, default=MIN_YEAR - 1)
        return self._last_official

    def _note_provisional(self, a: date, b: date, what: str) -> None:
        lo, hi = min(a.year, b.year), max(a.year, b.year)
        for year in range(lo, hi + 1):
            if not self._year(year).provisional:
                continue
            if year not in self._warned:
                self._warned.add(year)
                logger.warning(
                    "%s used provisional working days for %d: no published State Council "
                    "schedule; add it to the workday overrides file once published",
                    what,
                    year,
                )
            else:
                logger.info("%s used provisional working days for %d", what, year)


def _china(years: int | range) -> holidays.HolidayBase:
    # country_holidays is the typed public entry point; the class itself is loaded lazily.
    return holidays.country_holidays("CN", years=years, expand=False)


def _check_count(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_WORKDAYS:
        raise ValueError(f"working-day count must be an integer 0-{MAX_WORKDAYS}, got {days!r}")


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _load_overrides(path: Path) -> dict[int, _Override]:
    """Parse the overrides file; every problem becomes a CalendarError naming the file."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise CalendarError(f"{path}: cannot read workday overrides: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalendarError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return {year: section for year, section in _parse_sections(raw)}
    except ValueError as exc:
        raise CalendarError(f"{path}: {exc}") from exc


def _parse_sections(raw: Mapping[str, object]) -> Iterator[tuple[int, _Override]]:
    for key, section in raw.items():
        if not (key.isascii() and key.isdigit() and MIN_YEAR <= int(key) <= MAX_YEAR):
            raise ValueError(f"top-level key {key!r} must be a year {MIN_YEAR}-{MAX_YEAR}")
        if not isinstance(section, dict):
            raise ValueError(f"[{key}] must be a table like [{key}] holidays = [...]")
        year = int(key)
        unknown = sorted(set(section) - _SECTION_KEYS)
        if unknown:
            allowed = ", ".join(sorted(_SECTION_KEYS))
            raise ValueError(f"[{key}] has unknown key(s) {unknown}; allowed: {allowed}")
        published = _flag(section, "published", default=False, where=key)
        replace = _flag(section, "replace", default=True, where=key)
        days_off = _dates(section.get("holidays", []), year, f"[{key}].holidays")
        worked = _dates(section.get("workdays", []), year, f"[{key}].workdays")
        both = sorted(days_off & worked)
        if both:
            raise ValueError(f"[{key}] lists {both[0].isoformat()} as both holiday and workday")
        if replace and not days_off:
            # Replacing a year with no days off would silently drop New Year's Day and the rest.
            raise ValueError(f"[{key}] replaces the year but lists no holidays")
        yield year, _Override(days_off, worked, published, replace)


def _flag(section: Mapping[str, object], name: str, *, default: bool, where: str) -> bool:
    value = section.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"[{where}].{name} must be true or false, got {value!r}")
    return value


def _dates(value: object, year: int, where: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of dates, got {value!r}")
    out: set[date] = set()
    for i, item in enumerate(value):
        if isinstance(item, datetime) or not isinstance(item, date | str):
            raise ValueError(f"{where}[{i}]: {item!r} is not a date (YYYY-MM-DD)")
        if isinstance(item, str):
            if not _ISO_DATE.fullmatch(item):
                raise ValueError(f"{where}[{i}]: {item!r} is not a date (YYYY-MM-DD)")
            try:
                item = date.fromisoformat(item)
            except ValueError:
                raise ValueError(f"{where}[{i}]: {item!r} is not a calendar date") from None
        if item.year != year:
            raise ValueError(f"{where}[{i}]: {item.isoformat()} is not in {year}")
        out.add(item)
    return frozenset(out)
