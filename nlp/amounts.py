"""Amounts of money in yuan: ¥300, 2000元, 两千, 一千二, 伍佰, 1.5万, 2k, 四十多万.

A bare number only counts as money when the message talks about money at all and the number
is not followed by another unit (吨, 公里, 天, 个...). Amounts come back most salient first:
what the driver was fined or paid, before rates (一天一百五) and earnings (挣三百).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.normalize import CLAUSE_BREAKS, clause_start
from nlp.numbers import (
    CN_NUMERAL_CHARS,
    MAGNITUDE_CHARS,
    MULTIPLIERS,
    as_number,
    parse_arabic,
    parse_chinese,
)

_CN_START = "一二两俩三四五六七八九十壹贰叁肆伍陆柒捌玖拾"
AMOUNT_RE = re.compile(
    r"(?P<cur>¥|rmb|人民币)?\s?"
    r"(?:(?P<ar>\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?(?P<armul>[kw千万](?![a-z]))?"
    rf"|(?P<cn>[{_CN_START}][{CN_NUMERAL_CHARS}]*))"
    r"(?P<approx>多|来|余|几)?(?P<mul2>[千万](?![a-z]))?"
    r"(?P<unit>元|块钱|块|圆|rmb)?",
    re.IGNORECASE,
)
# A number followed by one of these counts something other than money.
NON_MONEY_UNITS = (
    "吨", "公斤", "斤", "kg", "公里", "km", "里", "米", "m", "公分", "厘米", "cm", "毫米", "个",
    "次", "回", "遍", "趟", "天", "日", "号", "月", "年", "岁", "点", "时", "小时", "钟", "分",
    "秒", "辆", "台", "人", "位", "名", "单", "件", "箱", "包", "条", "张", "本", "页", "轴", "轮",
    "层", "楼", "度", "%", "倍", "成", "码", "档", "项", "家", "处", "座", "批", "份", "头", "只",
    "升", "l", "方", "平", "亩", "周", "星期", "礼拜", "期", "级", "路", "t", "h", "多公里",
    "多天", "多个", "多吨", "多米", "几", "来天", "来个", "余天", "多次", "多趟", "多辆", "多单",
)  # fmt: skip
MEASURE_AFTER_ONE = frozenset("台辆车个次人天吨单趟")
# A clause that talks about speed or size limits holds no money (限速从80变成40).
LIMIT_CLAUSE_RE = re.compile(r"限速|时速|车速|速度|限重|限高|限宽|限载|载重|排量|码数")
MONEY_CUE_RE = re.compile(
    r"罚|钱|费|交|收|元|块钱|[\d十百千万]块|扣|付|赔|退|转账|转(?:他|她|给|了)|押金|工资|价|款|票"
    r"|现金|红包|¥|花了|挣|赚|收入|给|塞|送|包办|掏"
    r"|每(?:次|回|趟|辆|车|单)|(?:说|讲|谈)好|加钱|拍了"
    r"|一(?:吨|车|趟|人|次|回|辆|台|单|位|个人|方|件|箱)(?=[一二两三四五六七八九十百\d])"
)
# Measure words that after a sum of hundreds or more are more likely a verb (五千包你出来).
AMBIGUOUS_UNITS = frozenset("包条张本方平成度头只份家处项")
PAYMENT_CUES = re.compile(r"罚|交|收|扣|转|付|给|赔|退|要|花|讹|塞|包|缴|款|费|价|押金")
RATE_CUES = re.compile(r"一天|每天|一晚|每晚|一宿|每小时|一小时|天天")
EARNING_CUES = re.compile(r"挣|赚|到手|收入|工资|营业额")
SELF_CUES = re.compile(r"我|俺|咱")
WINDOW = 6
SENTENCE_PUNCT = CLAUSE_BREAKS - {" "}  # the salience window may cross a space, not a comma
SERVICE_NUMBERS = frozenset({"110", "119", "120", "122", "12328", "12345", "12315", "12306"})


@dataclass(frozen=True, slots=True)
class Amount:
    """A money amount with its position and how sure we are it is the one that matters."""

    value: int | float
    start: int
    end: int
    salience: int


def _value(m: re.Match[str], following: str) -> tuple[float | None, int]:
    """Numeric value of a match and how many trailing characters to give back (两千一台)."""
    multiplier = 1
    for group in ("armul", "mul2"):
        if m.group(group):
            multiplier *= MULTIPLIERS[m.group(group).lower()]
    if m.group("ar"):
        number = parse_arabic(m.group("ar"))
        return (None if number is None else number * multiplier), 0
    cn = m.group("cn")
    back = 0
    if (
        len(cn) >= 2
        and cn[-1] == "一"
        and cn[-2] in MAGNITUDE_CHARS
        and not m.group("approx")
        and not m.group("mul2")
        and following[:1] in MEASURE_AFTER_ONE
    ):
        cn, back = cn[:-1], 1  # 两千一台 is 2000 for one truck, not 2100
    number = parse_chinese(cn)
    for cut in range(1, len(cn) - 1):
        if number is not None:
            break
        if set(cn[cut:]) & MAGNITUDE_CHARS:
            number = parse_chinese(cn[cut:])  # 七七八八三千多: the sum is the tail
    return (None if number is None else float(number * multiplier)), back


def find_amounts(text: str) -> list[Amount]:
    """Money amounts in lower-cased text whose other numbers (phones, plates...) are masked."""
    has_money_talk = MONEY_CUE_RE.search(text) is not None
    found: dict[float, Amount] = {}
    for m in AMOUNT_RE.finditer(text):
        if m.group("approx") == "几":
            continue  # 十几万: too vague to record
        end = m.end()
        value, back = _value(m, text[end : end + 1])
        end -= back
        explicit = bool(m.group("cur")) or (m.group("unit") or "") in ("元", "块钱", "圆", "rmb")
        cn = m.group("cn")
        if m.group("unit") == "块" and not back:
            explicit = explicit or bool(m.group("ar")) or bool(cn and set(cn) & MAGNITUDE_CHARS)
        if value is None or value <= 0 or not _plausible(m, text, end, explicit, has_money_talk):
            continue
        start = m.start()
        window = text[max(start - WINDOW, 0) : start]
        for cut in range(len(window) - 1, -1, -1):
            if window[cut] in SENTENCE_PUNCT:
                window = window[cut + 1 :]
                break
        salience = int(explicit)
        salience += 2 * bool(PAYMENT_CUES.search(window))
        salience -= 2 * bool(RATE_CUES.search(window))
        salience -= 3 * bool(EARNING_CUES.search(window))
        salience += bool(SELF_CUES.search(window))
        amount = Amount(as_number(value), start, end, salience)
        old = found.get(value)
        if old is None or amount.salience > old.salience:
            found[value] = amount
    return sorted(found.values(), key=lambda a: (-a.salience, a.start))


def _plausible(m: re.Match[str], text: str, end: int, explicit: bool, money_talk: bool) -> bool:
    start = m.start("ar") if m.group("ar") else m.start("cn")
    before = text[start - 1] if start > 0 else " "
    per_unit = before in "米吨" and text[start - 2 : start - 1] in ("一", "每")  # 一吨三百
    if (before.isascii() and before.isalnum()) or (before in "第之.点:/-米吨#" and not per_unit):
        return False  # part of a code, an ordinal, 百分之十, 2米5
    if m.group("ar"):
        digits = m.group("ar").replace(",", "").split(".")[0]
        if digits in SERVICE_NUMBERS or len(digits) >= 7 or (digits[0] == "0" and len(digits) > 1):
            return False
    cn = m.group("cn")
    if cn and cn[0] == "拾" and before in "收捡":
        return False  # 收拾, 捡拾: a verb, not ten
    if cn and not (set(cn) & MAGNITUDE_CHARS) and not m.group("mul2") and not explicit:
        return False  # 一, 两, 三: counts, not sums
    if before == "几" or (before == "好" and text[start - 2 : start - 1] not in "说讲谈定约"):
        return False  # 几十万, 好几千: too vague to record
    if not explicit:
        if text.startswith(NON_MONEY_UNITS, end) and not (
            text[end : end + 1] in AMBIGUOUS_UNITS and _at_least_hundreds(m)
        ):
            return False
        # 2k, 3w, 2万: chat money (a distance or weight would carry its unit)
        shorthand = (m.group("armul") or "").lower() in ("k", "w", "万")
        if not money_talk and not shorthand:
            return False
        bare = m.group("ar") and not m.group("armul") and not m.group("mul2")
        if bare and (parse_arabic(m.group("ar")) or 0) < 10:
            return False
        if LIMIT_CLAUSE_RE.search(text, clause_start(text, start), end):
            return False
    return True


def _at_least_hundreds(m: re.Match[str]) -> bool:
    cn = m.group("cn") or ""
    return (
        bool(set(cn) & frozenset("百佰千仟万萬"))
        or bool(m.group("armul") or m.group("mul2"))
        or (bool(m.group("ar")) and (parse_arabic(m.group("ar")) or 0) >= 100)
    )
