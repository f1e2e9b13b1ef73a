"""Chinese and Arabic numerals as drivers write them: 两千, 一千二, 伍佰, 1.5万, 2k, 四十多万."""

from __future__ import annotations

DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "幺": 1, "二": 2, "贰": 2, "两": 2, "俩": 2,
    "三": 3, "叁": 3, "仨": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6,
    "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}  # fmt: skip
SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000}
MULTIPLIERS = {"k": 1000, "千": 1000, "w": 10_000, "万": 10_000}

CN_NUMERAL_CHARS = "".join(DIGITS) + "".join(SMALL_UNITS) + "".join(BIG_UNITS)
MAGNITUDE_CHARS = frozenset("十拾百佰千仟万萬亿")


def parse_chinese(text: str) -> int | None:
    """Value of a Chinese numeral; a trailing digit after a unit is the next unit down (一千二)."""
    total = 0
    section = 0
    number: int | None = None
    last_unit = 1
    zero_seen = False
    for ch in text:
        if ch in DIGITS:
            if number is not None and not zero_seen and ch != "零":
                return None  # 二三: a range or a list, not one number
            digit = DIGITS[ch]
            zero_seen = digit == 0 and ch in "零〇"
            number = digit
        elif ch in SMALL_UNITS:
            unit = SMALL_UNITS[ch]
            section += (number if number is not None else 1) * unit
            number = None
            last_unit = unit
            zero_seen = False
        elif ch in BIG_UNITS:
            big = BIG_UNITS[ch]
            section += number or 0
            total += (section or 1) * big
            section = 0
            number = None
            last_unit = big
            zero_seen = False
        else:
            return None
    if number is not None:
        if last_unit >= 100 and not zero_seen and text[-2:-1] not in ("零", "〇"):
            section += number * (last_unit // 10)
        else:
            section += number
    return total + section


def parse_arabic(text: str) -> float | None:
    """Value of `1,500` or `1.5`; None when it does not parse."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def as_number(value: float) -> int | float:
    """An int when the value is whole (2000 rather than 2000.0)."""
    return int(value) if float(value).is_integer() else round(value, 2)
