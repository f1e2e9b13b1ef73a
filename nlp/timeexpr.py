"""Date and time expressions (昨天下午三点, 上周四晚上十点左右, 3月12号) resolved against `now`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nlp.numbers import parse_chinese

try:
    SHANGHAI: timezone | ZoneInfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # no tz database on the host: China has had no DST since 1991
    SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_CN = "零一二两三四五六七八九十"
_WEEKDAY = "一二三四五六日天1234567"
RELATIVE_DAYS = {
    "今天": 0, "今日": 0, "今儿": 0, "今早": 0, "今晚": 0, "今天早上": 0,
    "昨天": -1, "昨日": -1, "昨儿": -1, "昨晚": -1, "昨夜": -1,
    "前天": -2, "前晚": -2, "大前天": -3, "明天": 1, "明儿": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
PERIOD_HOURS = {
    "凌晨": 3, "清早": 7, "早上": 7, "早晨": 7, "今早": 7, "上午": 9, "中午": 12, "下午": 15,
    "傍晚": 18, "晚上": 20, "今晚": 20, "昨晚": 20, "前晚": 20, "夜里": 23, "夜间": 23,
    "深夜": 23, "半夜": 0, "大半夜": 0, "后半夜": 2, "昨夜": 23,
}  # fmt: skip
AFTERNOON = frozenset({"下午", "傍晚", "晚上", "今晚", "昨晚", "前晚", "夜里", "夜间", "深夜"})

_DAY = (
    r"(?P<rel>大前天|大后天|今天|今日|今儿|今早|今晚|昨天|昨日|昨儿|昨晚|昨夜|前天|前晚|明天|明儿|后天)"
    rf"|(?P<week>(?P<wk_rel>上上|上|这|本|下)个?(?:周|星期|礼拜)(?P<wd>[{_WEEKDAY}])?"
    rf"|(?:周|星期|礼拜)(?P<wd2>[{_WEEKDAY}]))"
    r"|(?P<md>(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})(?:日|号)?)"
    r"|(?P<dom>(?<![\d月])(?P<d2>\d{1,2})(?:号|日)(?![\d线楼口门车]))"
    r"|(?P<coarse>(?:上上|上|这|本|下)个?月(?:初|底|中)?|去年|今年|前年|前几天|这几天|这阵子"
    r"|每天|每晚|天天)"
)
_SEASON = r"(?:春天|夏天|秋天|冬天|年初|年底|年前|年后|过年)"
_PERIOD = (
    r"(?P<period>大半夜|后半夜|凌晨|清早|早上|早晨|上午|中午|下午|傍晚|晚上|夜里|夜间|深夜|半夜"
    r"|白天)"
)
_CLOCK = (
    rf"(?P<clock>(?P<h>[0-2]?\d|[{_CN}]{{1,3}})(?:点|时)(?!钟头)"
    rf"(?:(?P<half>半)|(?P<mi>[0-5]?\d|[{_CN}]{{1,3}})分?)?"
    r"|(?P<hh>[0-2]?\d)[:：](?P<mm>[0-5]\d))"
)
_SUFFIX = r"(?P<suffix>左右|前后|以后|之后|以前|之前|多|许|的时候)?"
# Every part is optional, so a cheap look-ahead on the first character keeps the engine from
# trying the whole pattern at every position.
_FIRST = r"(?=[今昨前明后大上这本下周星礼去每天\d零一二两三四五六七八九十凌清早中午傍晚夜深半白])"
DATETIME_RE = re.compile(rf"{_FIRST}(?:(?:{_DAY}){_SEASON}?)?(?:{_PERIOD})?(?:{_CLOCK})?{_SUFFIX}")
LONE_CLOCK_BEFORE = frozenset("在到约等从")
LONE_CLOCK_AFTER = frozenset({"左右", "多", "前后"})


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A time expression: the text as written, and a datetime when the day is known."""

    text: str
    start: int
    end: int
    value: datetime | None


def _small_number(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return parse_chinese(text)


def _resolve_day(m: re.Match[str], today: date) -> date | None:
    if m.group("rel"):
        return today + timedelta(days=RELATIVE_DAYS[m.group("rel")])
    wd = m.group("wd") or m.group("wd2")
    if m.group("week") and wd:
        index = (
            6 if wd in "日天7" else ("一二三四五六".find(wd) if not wd.isdigit() else int(wd) - 1)
        )
        shift = {"上上": -2, "上": -1, "下": 1}.get(m.group("wk_rel") or "", 0)
        monday = today - timedelta(days=today.weekday())
        return monday + timedelta(days=7 * shift + index)
    if m.group("md"):
        month, day = int(m.group("m")), int(m.group("d"))
        year = int(m.group("y")) if m.group("y") else today.year
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        if not m.group("y") and found > today + timedelta(days=1):
            found = found.replace(year=year - 1)  # drivers report what already happened
        return found
    if m.group("dom"):
        day = int(m.group("d2"))
        try:
            found = today.replace(day=day)
        except ValueError:
            return None
        if found > today:
            first = today.replace(day=1) - timedelta(days=1)
            try:
                found = first.replace(day=day)
            except ValueError:
                return None
        return found
    return None


def _resolve(m: re.Match[str], now: datetime) -> datetime | None:
    day = _resolve_day(m, now.date())
    period = m.group("period") or (m.group("rel") if m.group("rel") in PERIOD_HOURS else None)
    hour: int | None = None
    minute = 0
    if m.group("clock"):
        hour = _small_number(m.group("h") or m.group("hh"))
        minute = _small_number(m.group("mi") or m.group("mm")) or (30 if m.group("half") else 0)
        if hour is None or hour > 24 or minute > 59:
            return None
        if period in AFTERNOON and hour < 12:
            hour += 12
        elif period in ("半夜", "大半夜", "深夜", "夜里") and hour == 12:
            hour = 24
    elif period and period != "白天":
        hour = PERIOD_HOURS[period]
    if day is None:
        if hour is None or m.group("coarse") or m.group("week"):
            return None  # 上个月, 每天晚上: no single day to point at
        day = now.date()
        moment = datetime.combine(day, time(0), tzinfo=now.tzinfo) + timedelta(hours=hour)
        moment += timedelta(minutes=minute)
        return moment - timedelta(days=1) if moment > now else moment
    moment = datetime.combine(day, time(0), tzinfo=now.tzinfo) + timedelta(hours=hour or 0)
    return moment + timedelta(minutes=minute)


def find_times(text: str, now: datetime | None = None) -> list[TimeMention]:
    """Time mentions in normalised text, resolved against `now` (default: now in Shanghai)."""
    reference = now or datetime.now(SHANGHAI)
    found = []
    for m in DATETIME_RE.finditer(text):
        if m.start() == m.end() or not (m.group("clock") or m.group("period") or _has_day(m)):
            continue
        if not (m.group("period") or _has_day(m)):
            lone_ok = m.start() > 0 and text[m.start() - 1] in LONE_CLOCK_BEFORE
            if not (lone_ok or m.group("suffix") in LONE_CLOCK_AFTER):
                continue  # 一点点, 三点: a bare clock needs 在/到 before it or 左右 after it
        if m.group(0) == "天天":
            continue
        found.append(TimeMention(m.group(0), m.start(), m.end(), _resolve(m, reference)))
    return found


def _has_day(m: re.Match[str]) -> bool:
    return any(m.group(g) for g in ("rel", "week", "md", "dom", "coarse"))
