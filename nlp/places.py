"""Place-like spans: routes (G4, S12, 107国道), named expressways, stations, units, spots.

Names are found from their suffix (…收费站, …执法大队, …高速) by walking back over the
characters that can belong to a name, stopping at function words (在, 的, 那个...). Spans
that touch are merged, so 长沙绕城高速 + 李家塘站口 is reported as one location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUTE_CODE_RE = re.compile(r"(?<![A-Za-z0-9])[GSXYgsxy]\d{1,4}(?![0-9])")
NUMBERED_ROAD_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:[GSXYgsxy]?\d{1,4}|[一二三四五六七八九十零〇百]{2,5})(?:国道|省道|县道|乡道)"
)
HIGHWAY_RE = re.compile(r"(?:绕城|环城)?高速(?:公路)?|快速路|国道|省道")

# suffix -> (kind, longest name before it, whether it may stand alone)
SUFFIXES: dict[str, tuple[str, int, bool]] = {
    **{s: ("station", 8, False) for s in (
        "超限检测站", "超限检查站", "超限站", "治超站", "治超检测站", "检测站", "检查站",
        "收费站口", "收费站", "服务区", "停车区", "检查点", "卡点", "卡口", "物流园", "货运站",
        "停车场", "加油站",
    )},
    **{s: ("station", 8, True) for s in ("客运站", "汽车站", "火车站", "高铁站", "机场", "码头")},
    **{s: ("spot", 6, False) for s in (
        "站口", "下道口", "出站口", "出口", "入口", "路口", "匝道口", "门口", "广场", "大桥",
        "隧道", "镇", "乡", "村",
    )},
    "段": ("segment", 6, False),  # S12滨州段: only right after a road
    **{s: ("unit", 10, False) for s in (
        "交通运输综合执法大队", "交通运输执法大队", "交通执法大队", "交通执法支队", "交通执法队",
        "综合执法大队", "综合执法支队", "执法大队", "执法支队", "执法中队",
        "执法队", "路政大队", "路政中队", "运管所", "运管处", "运管局", "交通局", "交通运输局",
        "运输局", "公路局", "公路段", "海事局", "海事处", "治超办", "大队", "中队", "支队",
    )},
}  # fmt: skip
SUFFIX_RE = re.compile("|".join(sorted(map(re.escape, SUFFIXES), key=len, reverse=True)))
NAME_STOP = frozenset(
    "在从到去往走跑上下过的了是个那这就都也还又我俺你他她它们车说被让给把一有没不和跟与及或等"
    "啥咋哪么呢吗啊吧呀着得很太最更再才刚已对向于由当为要会能可想看叫拦查罚扣收交停开举报诉"
    "后前边旁附近里外面头天点号月年时分钟每整条辆段口进议"
)
# Short spots need a real name: 那个出口 is no place, 唐港高速出口 is.
MIN_NAME = {"station": 1, "spot": 2, "unit": 2, "highway": 2, "segment": 99}


@dataclass(frozen=True, slots=True)
class Place:
    """One place-like span in the normalised text."""

    kind: str  # route, highway, station, spot, unit
    start: int
    end: int


def _name_start(text: str, start: int, floor: int, longest: int) -> int:
    """Walk back from `start` over name characters, not past `floor`."""
    i = start
    while i > floor and start - i < longest:
        ch = text[i - 1]
        if ch in NAME_STOP or not (ch.isalnum() or ch == "某"):
            break
        if ch.isascii() and ch.isdigit():
            break
        i -= 1
    return i


def find_places(text: str, taken: list[tuple[int, int]]) -> list[Place]:
    """Routes, expressways, stations, units and spots; `taken` spans (plates...) are skipped."""
    places: list[Place] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken) and all(
            end <= p.start or start >= p.end for p in places
        )

    for regex, kind in ((NUMBERED_ROAD_RE, "route"), (ROUTE_CODE_RE, "route")):
        for m in regex.finditer(text):
            if free(m.start(), m.end()):
                places.append(Place(kind, m.start(), m.end()))
    for m in HIGHWAY_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        floor = max([p.end for p in places if p.end <= m.start()], default=0)
        start = _name_start(text, m.start(), floor, 6)
        named = m.start() - start >= MIN_NAME["highway"]
        if named or (start == floor and _touches(places, start)):
            places.append(Place("highway", start, m.end()))
    ordered = sorted(places, key=lambda p: p.start)
    rejected: list[int] = []  # ends of suffixes without a name: a later name cannot reach past
    for m in SUFFIX_RE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        kind, longest, alone = SUFFIXES[m.group()]
        floor = max([p.end for p in ordered if p.end <= m.start()], default=0)
        floor = max([floor, *rejected] + [b for a, b in taken if b <= m.start()])
        start = _name_start(text, m.start(), floor, longest)
        named = m.start() - start >= MIN_NAME[kind]
        touching = kind != "unit" and start == floor and _touches(ordered, start)
        if named or alone or touching:
            place = Place(kind, start, m.end())
            places.append(place)
            ordered = sorted([*ordered, place], key=lambda p: p.start)
        else:
            rejected.append(m.end())
    return sorted(places, key=lambda p: p.start)


def _touches(places: list[Place], start: int) -> bool:
    return any(p.end == start for p in places)


def merge_places(places: list[Place]) -> list[tuple[int, int]]:
    """Spans of touching places joined into one location each."""
    merged: list[list[int]] = []
    for place in sorted(places, key=lambda p: p.start):
        if merged and place.start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], place.end)
        else:
            merged.append([place.start, place.end])
    return [(a, b) for a, b in merged]
