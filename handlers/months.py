"""Calendar months in local time, as the monthly report, KPIs and callback sample count them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from handlers.workdays import SHANGHAI, ensure_aware

MONTH_RE = re.compile(r"(\d{4})-(\d{1,2})")


class MonthError(ValueError):
    """A month that is malformed, out of range or still to come; the message says which."""


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month; its bounds are local midnights turned into UTC."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 2000 <= self.year <= 2100 or not 1 <= self.month <= 12:
            raise MonthError(f"no such month: {self.year}-{self.month:02d}")

    @classmethod
    def parse(cls, raw: str) -> Month:
        """'2026-10' → Month(2026, 10); anything else raises MonthError naming the input."""
        match = MONTH_RE.fullmatch(raw.strip())
        if match is None:
            raise MonthError(f"month must look like YYYY-MM, got {raw!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, moment: datetime, tz: ZoneInfo = SHANGHAI) -> Month:
        """The local month an aware moment falls in."""
        local = ensure_aware(moment).astimezone(tz)
        return cls(local.year, local.month)

    def shift(self, months: int) -> Month:
        """The month `months` later (negative: earlier)."""
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def previous(self) -> Month:
        """The month before."""
        return self.shift(-1)

    def start(self, tz: ZoneInfo = SHANGHAI) -> datetime:
        """The first local midnight of the month, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo = SHANGHAI) -> datetime:
        """The first local midnight after the month, in UTC (exclusive bound)."""
        return self.shift(1).start(tz)

    def label(self) -> str:
        """'2026年10月'."""
        return f"{self.year}年{self.month}月"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def last_months(month: Month, count: int) -> list[Month]:
    """`count` months ending with `month`, oldest first."""
    return [month.shift(-offset) for offset in range(count - 1, -1, -1)]


def check_reportable(month: Month, now: datetime, tz: ZoneInfo = SHANGHAI) -> bool:
    """False while `month` is still running (a partial report); MonthError if it is to come."""
    current = Month.of(now, tz)
    if month > current:
        raise MonthError(f"{month} has not begun yet (today is in {current}); nothing to report")
    return month < current
