"""Facts in a driver's message: plates, money, phones, officer numbers, places, times, ..."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nlp.amounts import find_amounts
from nlp.lexicon import Lexicon, load_lexicon
from nlp.normalize import NormalText, normalize
from nlp.numbers import as_number, parse_arabic, parse_chinese
from nlp.places import find_places, merge_places
from nlp.timeexpr import find_times

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # plate letters: I and O are never used
PLATE_RE = re.compile(
    rf"(?P<p>[{PROVINCES}])(?P<l>[{_L}])\s?[·.\-]?\s?"
    rf"(?P<body>[DF][{_L}0-9]\d{{4}}|\d{{5}}[DF]|[{_L}0-9]{{4}}[{_L}0-9挂学警港澳])(?![A-Za-z0-9])",
    re.IGNORECASE,
)
MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)[-\s]?(\d{4})[-\s]?(\d{4})(?!\d)")
LANDLINE_RE = re.compile(
    r"(?<![\d-])\(?(0\d{2,3})\)?[-\s]?(\d{7,8})(?!\d)|(?<!\d)([48]00)-?(\d{3})-?(\d{4})(?!\d)"
)
ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
BADGE_CODE_RE = re.compile(
    rf"(?<![A-Za-z0-9])[{PROVINCES}]交(?:通)?(?:运)?执(?:法)?[A-Z0-9]{{3,18}}(?![A-Za-z0-9])",
    re.IGNORECASE,
)
BADGE_KEY_RE = re.compile(
    r"(?:执法证号|执法证编号|执法编号|证件号|证件编号|执法证|工号|胸牌号|胸牌编号|胸牌|警号|编号|证号)"
    r"(?:码)?(?:是|为|:|\s)*(?P<code>[A-Z0-9][A-Z0-9-]{3,19})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
DECISION_RE = re.compile(
    r"[\u4e00-\u9fffA-Za-z]{1,10}[〔\[(（【]\s*(?:19|20)\d{2}\s*[〕\])）】]\s*第?\s*[A-Za-z0-9-]{1,12}\s*号"
    r"|(?<=决定书)(?:编号|文号|号)?[:\s是为]*[A-Za-z0-9][A-Za-z0-9-]{5,39}"
)
DECISION_PREFIX_RE = re.compile(r"^(?:行政)?(?:处罚)?决定书(?:编号|文号|号码|号)?[:\s是为]*")
TONNAGE_RE = re.compile(
    r"(?P<n>\d+(?:\.\d+)?|[零一二两三四五六七八九十百]+(?:点[零一二三四五六七八九])?)\s?(?:吨|t(?![a-z]))"
)
AXLE_RE = re.compile(r"(?P<n>[2-9]|[二两三四五六七八九])\s?轴")
NUMBER_HINT_RE = re.compile(r"[\d一二两俩三四五六七八九十壹贰叁肆伍陆柒捌玖拾]")
MAX_CHARS = 20_000  # a flood of text is cut here; nobody types more in one message
CN_DIGIT = dict(zip("零一二两三四五六七八九", (0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))


@dataclass(frozen=True, slots=True)
class Entities:
    """Everything extracted from one message; tuples in order of importance or appearance."""

    plates: tuple[str, ...] = ()
    amounts_yuan: tuple[int | float, ...] = ()
    phones: tuple[str, ...] = ()
    badges: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    datetimes: tuple[datetime, ...] = ()
    datetime_texts: tuple[str, ...] = ()
    decision_numbers: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    tonnages: tuple[float, ...] = ()
    axles: tuple[int, ...] = ()

    def to_contract(self) -> dict[str, Any]:
        """The CLI's entity object: one value when one was found, a list when several."""
        out: dict[str, Any] = {}
        for key, values in (
            ("plate", self.plates),
            ("amount_yuan", self.amounts_yuan),
            ("phone", self.phones),
            ("badge", self.badges),
            ("location", self.locations),
            ("datetime_text", self.datetime_texts),
        ):
            if values:
                out[key] = values[0] if len(values) == 1 else list(values)
        return out


def _spans_free(start: int, end: int, taken: list[tuple[int, int]]) -> bool:
    return all(end <= a or start >= b for a, b in taken)


class EntityExtractor:
    """Extracts entities; holds the platform names from the lexicon."""

    def __init__(self, lexicon: Lexicon) -> None:
        names = sorted(lexicon.platforms, key=len, reverse=True)
        self._platforms = lexicon.platforms
        self._platform_re = (
            re.compile(
                "|".join(
                    rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])" if n.isascii() else re.escape(n)
                    for n in names
                )
            )
            if names
            else None
        )

    def extract(self, text: NormalText, now: datetime | None = None) -> Entities:
        """Entities of one normalised message."""
        shown, low = text.display, text.match
        taken: list[tuple[int, int]] = []
        phones = []
        for m in MOBILE_RE.finditer(shown):
            phones.append("".join(m.groups()))
            taken.append(m.span())
        for m in LANDLINE_RE.finditer(shown):
            if _spans_free(*m.span(), taken):
                parts = [g for g in m.groups() if g]
                phones.append("-".join(parts))
                taken.append(m.span())
        plates = []
        for m in PLATE_RE.finditer(shown):
            body = m.group("body").upper()
            if len(body) == 5 and sum(c.isdigit() for c in body) < 2:
                continue  # 湘ABCDE is a word, not a plate
            plates.append(m.group("p") + m.group("l").upper() + body)
            taken.append(m.span())
        badges = []
        for m in BADGE_CODE_RE.finditer(shown):
            if _spans_free(*m.span(), taken):
                badges.append(m.group().upper())
                taken.append(m.span())
        for m in BADGE_KEY_RE.finditer(shown):
            if _spans_free(*m.span("code"), taken):
                badges.append(m.group("code").upper())
                taken.append(m.span("code"))
        decisions = []
        for m in DECISION_RE.finditer(shown):
            if _spans_free(*m.span(), taken):
                decisions.append(DECISION_PREFIX_RE.sub("", m.group()).strip(" :是为"))
                taken.append(m.span())
        times = find_times(shown, now)
        time_spans = [(t.start, t.end) for t in times]
        places = find_places(shown, taken + time_spans)
        amounts = []
        if NUMBER_HINT_RE.search(low):
            masked = list(low)
            for a, b in [
                *taken,
                *time_spans,
                *((p.start, p.end) for p in places if p.kind == "route"),
            ]:
                masked[a:b] = "#" * (b - a)
            amounts = find_amounts("".join(masked))
        return Entities(
            plates=tuple(dict.fromkeys(plates)),
            amounts_yuan=tuple(a.value for a in amounts),
            phones=tuple(dict.fromkeys(phones)),
            badges=tuple(dict.fromkeys(badges)),
            routes=_unique(shown[p.start : p.end].upper() for p in places if p.kind == "route"),
            stations=_unique(shown[p.start : p.end] for p in places if p.kind == "station"),
            units=_unique(shown[p.start : p.end] for p in places if p.kind == "unit"),
            locations=_unique(shown[a:b] for a, b in merge_places(places)),
            datetimes=tuple(t.value for t in times if t.value is not None),
            datetime_texts=_unique(t.text for t in times),
            decision_numbers=tuple(dict.fromkeys(decisions)),
            platforms=self._find_platforms(low),
            tonnages=_unique(_tons(m.group("n")) for m in TONNAGE_RE.finditer(low))
            if "吨" in low or "t" in low
            else (),
            axles=_unique(_axles(m.group("n")) for m in AXLE_RE.finditer(low))
            if "轴" in low
            else (),
        )

    def _find_platforms(self, low: str) -> tuple[str, ...]:
        if self._platform_re is None:
            return ()
        return _unique(self._platforms[m.group()] for m in self._platform_re.finditer(low))


def _unique(values: Any) -> tuple[Any, ...]:
    found = [v for v in values if v is not None and v != ""]
    return tuple(dict.fromkeys(found)) if found else ()


def _tons(text: str) -> float | None:
    if text[0].isdigit():
        return parse_arabic(text)
    whole, _, frac = text.partition("点")
    number = parse_chinese(whole) if whole else 0
    if number is None:
        return None
    digits = "".join(str(CN_DIGIT.get(c, "")) for c in frac)
    return float(as_number(float(f"{number}.{digits or 0}")))


def _axles(text: str) -> int | None:
    return int(text) if text.isdigit() else CN_DIGIT.get(text)


_default: EntityExtractor | None = None


@functools.cache
def _fallback_extractor() -> EntityExtractor:
    return EntityExtractor(load_lexicon())


def install_default(extractor: EntityExtractor) -> None:
    """Make `extract_entities` use an extractor built from the configured lexicon."""
    global _default
    _default = extractor


def extract_entities(text: str, *, now: datetime | None = None) -> Entities:
    """Entities of a raw message (normalised here); times resolve against `now`."""
    extractor = _default or _fallback_extractor()
    return extractor.extract(normalize(text, max_chars=MAX_CHARS), now)


def _mask_span(value: str, keep_head: int, keep_tail: int) -> str:
    hidden = max(len(value) - keep_head - keep_tail, 1)
    return value[:keep_head] + "*" * min(hidden, 4) + value[len(value) - keep_tail :]


def mask_phone(text: str) -> str:
    """Mask phone numbers: 13812345678 -> 138****5678, 0731-88886666 -> 0731-****6666."""
    shown = normalize(text).display
    pieces: list[str | None] = list(text)
    for m in MOBILE_RE.finditer(shown):
        digits = "".join(m.groups())
        _replace(pieces, m.start(), m.end(), _mask_span(digits, 3, 4))
    for m in LANDLINE_RE.finditer(shown):
        parts = [g for g in m.groups() if g]
        masked = parts[0] + "-" + "****" + "".join(parts[1:])[-4:]
        _replace(pieces, m.start(), m.end(), masked)
    return "".join(p for p in pieces if p is not None)


def mask_identifiers(text: str) -> str:
    """Mask phones, plates (湘J3K921 -> 湘J***21) and ID-card numbers for logs and unit views."""
    shown = normalize(text).display
    pieces: list[str | None] = list(text)
    for m in ID_CARD_RE.finditer(shown):
        _replace(pieces, m.start(), m.end(), _mask_span(m.group(), 3, 4))
    for m in PLATE_RE.finditer(shown):
        plate = m.group("p") + m.group("l").upper() + m.group("body").upper()
        _replace(pieces, m.start(), m.end(), plate[:2] + "***" + plate[-2:])
    return mask_phone("".join(p for p in pieces if p is not None))


def _replace(pieces: list[Any], start: int, end: int, value: str) -> None:
    if any(p is None for p in pieces[start:end]):
        return  # already replaced by an earlier, overlapping mask
    pieces[start] = value
    for i in range(start + 1, end):
        pieces[i] = None
