"""From keyword hits to scores per label, with the rules of DOMAIN.md §3–4 applied."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from nlp.labels import (
    CATEGORIES,
    CROSS_CUTTING_LEANS,
    ENFORCEMENT_CATEGORIES,
    KINDS,
    SUBCATEGORY_VOTES,
)
from nlp.matcher import Hit
from nlp.numbers import parse_chinese

QUESTION_END_RE = re.compile(r"(?:吗|么|嘛|呢|[?]+|(?<=[\u4e00-\u9fff]{2})不)\s*(?:[ ,.!。，！]|$)")
# 车被扣 … 到现在都十天了: a running count of days once a detention is mentioned.
DURATION_RE = re.compile(
    r"(?P<n>\d+|[一二两三四五六七八九十半]+)(?:多)?(?P<u>天|日|个多月|个月|个礼拜|个星期|周)了"
)
DETAINED_RE = re.compile(
    r"扣(?:了)?(?:车|证|押|我车|俺车)|车(?:被)?扣|被扣|扣着|押着"
    r"|(?:证|证件|正件|驾驶证|行驶证|本子|车)(?:被)?(?:收走|拿走|没收|开走|拖走)"
)
DETENTION_RE = re.compile(
    r"扣(?:了|车|押|住|下)?[^\s,.，。!?]{0,4}?(?P<n>\d+|[一二两三四五六七八九十半]+)"
    r"(?:多)?(?P<u>天|日|个多月|个月|个礼拜|个星期|周)"
)
FIRST_PERSON_RE = re.compile(r"我|俺|咱|本人|自己|偶")
THIRD_PARTY_REPORT = 1.5
PROBLEM_CATEGORIES = tuple(c for c in CATEGORIES if c != "other")
LEAN_PREFIX = "lean_"
LEAN_FACTOR = 0.5


@dataclass
class Scores:
    """Summed weights per label, and the keywords that made them."""

    totals: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    keywords: dict[tuple[str, str], list[tuple[str, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def get(self, section: str, label: str) -> float:
        """Score of one label (0 when nothing matched)."""
        return self.totals.get((section, label), 0.0)

    def section(self, section: str, labels: Iterable[str]) -> dict[str, float]:
        """Scores of several labels of one section."""
        return {label: self.get(section, label) for label in labels}


DECAYING_SECTIONS = frozenset({"category", "subcategory", "domain"})


def aggregate(hits: list[Hit], text: str, decay: float = 1.0) -> Scores:
    """Sum hit weights per label: overlapping hits count once (the heaviest), and each further
    hit of a label counts `decay` times the one before, so evidence saturates."""
    by_label: dict[tuple[str, str], list[Hit]] = defaultdict(list)
    for hit in hits:
        by_label[(hit.section, hit.label)].append(hit)
        if hit.section == "subcategory":
            parent = SUBCATEGORY_VOTES.get(hit.label)
            if parent:
                by_label[("category", parent)].append(hit)
    scores = Scores()
    for key, label_hits in by_label.items():
        taken: list[tuple[int, int]] = []
        seen: set[str] = set()
        factor = 1.0
        step = decay if key[0] in DECAYING_SECTIONS else 1.0
        for hit in sorted(label_hits, key=lambda h: (-abs(h.weight), h.start)):
            if hit.key in seen or any(hit.start < b and a < hit.end for a, b in taken):
                continue
            seen.add(hit.key)
            taken.append((hit.start, hit.end))
            if hit.weight > 0:
                scores.totals[key] += hit.weight * factor
                factor *= step
            else:
                scores.totals[key] += hit.weight
            scores.keywords[key].append((text[hit.start : hit.end], hit.start))
    for found in scores.keywords.values():
        found.sort(key=lambda item: item[1])
    return scores


def first_person(text: str) -> bool:
    """Whether the writer speaks of themself (我, 俺, 咱...), as a complainant does."""
    return FIRST_PERSON_RE.search(text) is not None


def question_clauses(text: str) -> int:
    """How many clauses end like a question (…吗, …么, …不, ？)."""
    return len(QUESTION_END_RE.findall(text))


def detention_days(text: str) -> int:
    """The longest 扣了N天 / 扣车N个月 in the text, in days (0 when none)."""
    longest = 0
    found = list(DETENTION_RE.finditer(text))
    if DETAINED_RE.search(text):
        found += DURATION_RE.finditer(text)
    for m in found:
        raw = m.group("n")
        number = 0.5 if raw == "半" else (int(raw) if raw.isdigit() else parse_chinese(raw) or 0)
        unit = m.group("u")
        factor = 30 if "月" in unit else 7 if unit in ("个礼拜", "个星期", "周") else 1
        longest = max(longest, int(number * factor))
    return longest


@dataclass(frozen=True, slots=True)
class KindDecision:
    """The chosen kind, its confidence, and the evidence numbers behind it."""

    kind: str
    confidence: float
    scores: dict[str, float]


def decide_kind(
    scores: Scores,
    questions: int,
    question_weight: float,
    narrative: float = 0.0,
    long_text: bool = False,
    first_person: bool = True,
) -> KindDecision:
    """Kind from kind keywords weighed against the problem the message describes.

    `narrative` is evidence that something happened (a time, a place, a sum, a plate):
    questions rarely carry it, complaints usually do.
    """
    k = scores.section("kind", KINDS)
    k["inquiry"] += question_weight * min(questions, 2)
    problem = max(scores.section("category", PROBLEM_CATEGORIES).values())
    road = scores.get("category", "infrastructure") >= problem > 0  # roads hurt everyone alike
    if not first_person and k["report"] >= 1 and not road:
        k["report"] += THIRD_PARTY_REPORT  # a witness's account: nobody says what happened to me
    harm = k["complaint"] + 0.5 * problem + narrative
    evidence = {
        "complaint": harm + (1.0 if problem >= 1.5 or k["complaint"] > 0 else 0.0),
        "report": k["report"] + (0.5 * problem if k["report"] > 0 else 0.0),
        "inquiry": k["inquiry"],
        "suggestion": k["suggestion"],
        "praise": k["praise"],
    }
    # Praise suppresses complaint routing: problem words in a thank-you name its topic.
    if k["praise"] >= 2.5 and k["praise"] > k["complaint"] + k["report"] + 0.35 * problem:
        kind = "praise"
    elif k["suggestion"] >= 2.5 and k["suggestion"] >= k["complaint"] + 0.5 * problem:
        kind = "suggestion"
    elif k["report"] >= 2.5 and k["report"] >= k["complaint"]:
        kind = "report"
    elif k["inquiry"] >= 2.5 and k["inquiry"] > harm:
        kind = "inquiry"
    elif k["inquiry"] >= 1.5 and k["inquiry"] >= harm + 0.5:
        kind = "inquiry"  # a short question with little harm in it (必须开记录仪吗)
    elif evidence["complaint"] > 0:
        kind = "complaint"
    elif long_text and not questions and scores.get("category", "other") == 0:
        kind = "complaint"  # a story told without a question is a grievance we cannot name yet
        evidence["complaint"] = 0.5
    else:
        kind = "inquiry"  # greetings, tests, nothing to go on: ask what they need
    chosen = max(evidence[kind], 0.0)
    runner = max((v for name, v in evidence.items() if name != kind), default=0.0)
    confidence = _confidence(chosen, runner, scale=2.5) if chosen > 0 else 0.3
    return KindDecision(kind, confidence, evidence)


@dataclass(frozen=True, slots=True)
class CategoryDecision:
    """The chosen category, its confidence and the runners-up."""

    category: str
    confidence: float
    alternatives: tuple[str, ...]
    scores: dict[str, float]


def decide_category(
    scores: Scores,
    kind: str,
    *,
    category_min: float,
    topic_min: float,
    inquiry_topic_min: float,
    rent_seeking_min: float,
    enforcement_context: bool = False,
    other_body: bool = False,
) -> CategoryDecision:
    """Category: best score, rent_seeking first among enforcement, 'other' below the minimum."""
    cat = scores.section("category", CATEGORIES)
    ranked = sorted(PROBLEM_CATEGORIES, key=lambda c: (-cat[c], CATEGORIES.index(c)))
    best = ranked[0]
    floor = {"complaint": category_min, "report": category_min, "inquiry": inquiry_topic_min}.get(
        kind, topic_min
    )
    if cat["rent_seeking"] >= rent_seeking_min and (
        best in ENFORCEMENT_CATEGORIES or cat["rent_seeking"] >= 0.6 * cat[best]
    ):
        best = "rent_seeking"  # money to skip the procedure outranks the procedure's faults
    if cat[best] < floor or cat["other"] > cat[best]:
        best = "other"
        if kind in ("complaint", "report") and cat["other"] < floor and not other_body:
            best = _nearest(scores, cat, floor, enforcement_context)
    s1 = cat[best] if best != "other" else max(cat["other"], floor - cat[ranked[0]])
    s2 = max((cat[c] for c in CATEGORIES if c != best), default=0.0)
    confidence = _confidence(s1, s2, scale=3.0) if s1 > 0 else 0.2
    alternatives = tuple(c for c in ranked if c != best and cat[c] > 0)[:3]
    return CategoryDecision(best, confidence, alternatives, cat)


def lean(scores: Scores, category: str) -> float:
    """Weak evidence for a category (an actor, an object, a typical verb): it only resolves
    messages that name no category outright (lexicon `[context.lean_<category>]`)."""
    return scores.get("context", LEAN_PREFIX + category)


def _nearest(scores: Scores, cat: dict[str, float], floor: float, enforcement: bool) -> str:
    """A grievance that names no category: the nearest one by weak cues, else other.

    In an enforcement story any cue decides among the enforcement categories; elsewhere
    the evidence and the weak cues must add up to the floor. Named evidence, however weak,
    counts twice as much as a lean cue.
    """
    options = ENFORCEMENT_CATEGORIES if enforcement else PROBLEM_CATEGORIES
    weak = {c: cat[c] + LEAN_FACTOR * lean(scores, c) for c in options}
    if enforcement:
        for sub, leaning in CROSS_CUTTING_LEANS.items():
            weak[leaning] += 0.5 * scores.get("subcategory", sub)
    guess = max(sorted(weak), key=lambda c: (weak[c], -CATEGORIES.index(c)))
    enough = weak[guess] > 0 if enforcement else weak[guess] >= floor
    return guess if enough else "other"


def _confidence(best: float, runner: float, *, scale: float) -> float:
    """Saturating in the winner's evidence, shrinking with a close runner-up."""
    strength = 1 - math.exp(-best / scale)
    margin = best / (best + max(runner, 0.0))
    return round(max(0.0, min(1.0, strength * margin)), 3)
