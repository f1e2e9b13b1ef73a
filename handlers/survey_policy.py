"""Callback survey settings (DOMAIN.md §6–7) and how a driver's free-text answer is read.

Timing: a survey is due `delay_workdays` working days after the closing day at `send_at`
local time, never inside the quiet hours (default 21:00–08:00) nor on a day off; one reminder
the next working day at `send_at`; unanswered at the end of the `answer_workdays`-th working
day after sending, it is recorded as no answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from handlers.workdays import WorkCalendar
from storage.lifecycle import SupervisionLevel

SATISFIED, BASIC, UNSATISFIED = "satisfied", "basic", "unsatisfied"
RATINGS = (SATISFIED, BASIC, UNSATISFIED)  # the order of the buttons and of 1 / 2 / 3
RATING_KEYS = {
    SATISFIED: "survey.rating_satisfied",
    BASIC: "survey.rating_basic",
    UNSATISFIED: "survey.rating_unsatisfied",
}
CHOICE_KEYS = {
    SATISFIED: "survey.choice_satisfied",
    BASIC: "survey.choice_basic",
    UNSATISFIED: "survey.choice_unsatisfied",
}


@dataclass(frozen=True)
class SurveyPolicy:
    """When surveys go out and what an unsatisfied answer sets in motion."""

    delay_workdays: int = 1
    send_at: time = time(10, 0)
    quiet_from: time = time(21, 0)
    quiet_until: time = time(8, 0)
    answer_workdays: int = 3
    # A rating whose follow-up questions stay unanswered this long is taken as it stands.
    comment_grace: timedelta = timedelta(minutes=30)
    kinds: tuple[str, ...] = ("complaint", "report", "inquiry", "suggestion")
    max_comment_chars: int = 500
    reopen_limit: int = 1  # 重办 once; unsatisfied again → supervision order
    unsatisfied_again_level: str = SupervisionLevel.RED.value
    order_workdays: int = 5
    # WeChat customer-service messages are allowed 48 h after the user's last message; the
    # margin covers the queue and clock differences between replicas.
    wechat_window: timedelta = timedelta(hours=47)
    wechat_template_id: str = ""
    # How long after a survey ended a late rating still gets "expired" / "already answered".
    late_answer_days: int = 7

    def __post_init__(self) -> None:
        if self.in_quiet_hours(self.send_at):
            raise ValueError(f"survey time {self.send_at:%H:%M} lies in the quiet hours")
        if not 1 <= self.delay_workdays <= 30 or not 1 <= self.answer_workdays <= 30:
            raise ValueError("survey delay and answer window must be 1-30 working days")
        if self.unsatisfied_again_level not in ("yellow", "red", "listed"):
            raise ValueError(f"unknown supervision level {self.unsatisfied_again_level!r}")

    def in_quiet_hours(self, clock: time) -> bool:
        """Whether a local wall-clock time lies in the quiet hours (which may wrap midnight)."""
        start, end = self.quiet_from, self.quiet_until
        if start <= end:
            return start <= clock < end
        return clock >= start or clock < end

    def may_send(self, now: datetime, calendar: WorkCalendar) -> bool:
        """Whether a survey or reminder may go out now: a working day, outside quiet hours."""
        local = now.astimezone(calendar.tz)
        return calendar.is_workday(local.date()) and not self.in_quiet_hours(
            local.time().replace(tzinfo=None)
        )

    def first_due(self, closed_at: datetime, calendar: WorkCalendar) -> datetime:
        """When the question is due: `delay_workdays` working days on, at `send_at`."""
        due = closed_at
        for _ in range(self.delay_workdays):
            due = calendar.next_workday_at(due, self.send_at)
        return due

    def reminder_due(self, sent_at: datetime, calendar: WorkCalendar) -> datetime:
        """The one reminder: the next working day at `send_at`."""
        return calendar.next_workday_at(sent_at, self.send_at)

    def expires(self, sent_at: datetime, calendar: WorkCalendar) -> datetime:
        """The end of the answer window (23:59:59 local of its last working day)."""
        return calendar.add_workdays(sent_at, self.answer_workdays)


# ---------------------------------------------------------------- reading answers

# A short free-text answer is read by its words; a longer text is a rating only when it
# begins with one of the scale's own labels (a new complaint must not become a rating).
SHORT_ANSWER_CHARS = 12
_NEGATED = re.compile(
    r"(不|没|未|别)(太|怎么|是很|很|大|够|有)?(满意|好|行|解决|处理|管用|用|到位)"
)
_UNSATISFIED_WORDS = ("不满", "差评", "差劲", "很差", "太差", "垃圾", "失望", "糟糕", "不怎么样")
_BASIC_WORDS = (
    "基本满意",
    "比较满意",
    "还算满意",
    "还行",
    "还可以",
    "一般",
    "凑合",
    "马马虎虎",
    "还好",
    "过得去",
    "勉强",
    "将就",
    "中评",
    "基本",
)
_SATISFIED_WORDS = (
    "满意",
    "好评",
    "很好",
    "挺好",
    "不错",
    "好的",
    "谢谢",
    "感谢",
    "辛苦",
    "点赞",
    "赞",
    "满分",
    "ok",
)
# Too short to trust inside other words ("你好" is a greeting): only as the whole answer.
_SATISFIED_ALONE = frozenset({"好", "赞", "👍", "可以", "行"})
# Phrases whose negation is politeness, not a rating.
_IDIOMS = ("不好意思", "没关系", "不用谢", "不客气")
_LEADING_LABELS = (
    ("非常不满意", UNSATISFIED),
    ("很不满意", UNSATISFIED),
    ("不太满意", UNSATISFIED),
    ("不满意", UNSATISFIED),
    ("基本满意", BASIC),
    ("非常满意", SATISFIED),
    ("很满意", SATISFIED),
    ("满意", SATISFIED),
)
_SOLVED_NO = re.compile(r"(没|未|不|还没)(有)?(解决|好|办|处理|弄好)|^(没有|没|否|不是|还没|no)$")
_SOLVED_YES = re.compile(r"(解决|搞定|处理好|好了|办好)|^(是|是的|对|嗯|有|yes|ok)$")
_SKIP_WORDS = frozenset(
    {"跳过", "没有", "没了", "无", "不用", "没意见", "算了", "skip", "no", "none"}
)


def normalise_answer(raw: str) -> str:
    """Width-folded, lower-case, without spaces and punctuation: '２。' → '2'."""
    folded = unicodedata.normalize("NFKC", raw).lower()
    return "".join(ch for ch in folded if ch.isalnum() or ch == "👍")


def parse_rating(raw: str) -> str | None:
    """满意 / 基本满意 / 不满意 from a typed answer ('1', '还行吧', '不满意，没人管'); else None."""
    typed = normalise_answer(raw)
    if not typed:
        return None
    if typed in ("1", "2", "3"):
        return RATINGS[int(typed) - 1]
    for label, rating in _LEADING_LABELS:
        if typed.startswith(label):
            return rating
    if len(typed) > SHORT_ANSWER_CHARS:
        return None
    if typed in _SATISFIED_ALONE:
        return SATISFIED
    for idiom in _IDIOMS:
        typed = typed.replace(idiom, "")
    if _NEGATED.search(typed) or any(w in typed for w in _UNSATISFIED_WORDS):
        return UNSATISFIED
    if any(w in typed for w in _BASIC_WORDS):
        return BASIC
    if any(w in typed for w in _SATISFIED_WORDS):
        return SATISFIED
    return None


def parse_solved(raw: str) -> bool | None:
    """Whether a typed answer says the problem was solved ('解决了', '没有'); None if unclear."""
    typed = normalise_answer(raw)
    if not typed or len(typed) > SHORT_ANSWER_CHARS:
        return None
    if _SOLVED_NO.search(typed):
        return False
    if _SOLVED_YES.search(typed):
        return True
    return None


def is_skip(raw: str) -> bool:
    """Whether a typed answer declines to comment ('跳过', '没有', '无')."""
    return normalise_answer(raw) in _SKIP_WORDS
