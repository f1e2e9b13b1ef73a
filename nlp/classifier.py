"""Classify a driver's message: kind, category, subcategory, severity, domain, and why."""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nlp.entities import Entities, EntityExtractor, install_default
from nlp.labels import (
    CATEGORY_LABELS,
    ENFORCEMENT_CATEGORIES,
    KIND_LABELS,
    SEVERITY_LABELS,
    SUBCATEGORY_FITS,
)
from nlp.lexicon import Lexicon, load_lexicon
from nlp.matcher import KeywordMatcher
from nlp.model import KeywordView, Model, load_model, opinion
from nlp.normalize import normalize
from nlp.scoring import (
    Scores,
    aggregate,
    decide_category,
    decide_kind,
    detention_days,
    first_person,
    question_clauses,
)
from nlp.tokenizer import Segmenter

CJK_RE = re.compile(r"[\u4e00-\u9fff]")
LONG_TEXT_CHARS = 16  # Chinese characters that make a message a story rather than a greeting
# Severity triggers that describe what an officer did to the driver: abusive evidence too.
ABUSE_TRIGGERS = ("violence", "threat", "restraint")
LABEL_ORDER = ("kind", "category", "subcategory", "domain", "trigger", "jurisdiction")
# "context" hits only steer scores; they are not reported as labels.


@dataclass(frozen=True)
class Classification:
    """What a message is about, how serious, how sure we are, and the evidence."""

    kind: str
    category: str
    subcategory: str | None
    severity: str
    domain: str | None
    confidence: float
    uncertain: bool
    matched: dict[str, list[str]]
    entities: Entities
    emergency: bool = False
    emergency_calls: tuple[str, ...] = ()
    out_of_jurisdiction: str | None = None
    jurisdiction_channel: str | None = None
    explanation: str = ""
    alternatives: tuple[str, ...] = ()
    category_scores: dict[str, float] = field(default_factory=dict)
    kind_scores: dict[str, float] = field(default_factory=dict)

    def to_contract(self, id: str | None = None) -> dict[str, Any]:
        """The CLI / external JSON object (ARCHITECTURE.md, external contract)."""
        out: dict[str, Any] = {
            "id": id,
            "kind": self.kind,
            "category": self.category,
            "subcategory": self.subcategory,
            "severity": self.severity,
            "confidence": round(self.confidence, 3),
            "matched": self.matched,
            "entities": self.entities.to_contract(),
        }
        if self.uncertain:
            out["uncertain"] = True
        return out


def _short(label: str) -> str:
    return label.split("（")[0]


class Classifier:
    """A lexicon, a jieba segmenter and an entity extractor, ready to classify."""

    def __init__(
        self, lexicon: Lexicon, cache_dir: Path | None = None, model: Model | None = None
    ) -> None:
        self.lexicon = lexicon
        self.model = model
        self.segmenter = Segmenter(lexicon.words, cache_dir)
        self.matcher = KeywordMatcher(
            lexicon.entries, lexicon.settings, self.segmenter, lexicon.aliases
        )
        self.extractor = EntityExtractor(lexicon)

    def classify(self, text: str, *, now: datetime | None = None) -> Classification:
        """Classify one message; `now` anchors relative times (昨天下午三点)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        settings = self.lexicon.settings
        norm = normalize(text, max_chars=settings.max_chars)
        match = self.matcher.prepare(norm.match)
        entities = self.extractor.extract(norm, now)
        if not match.strip():
            return self._empty(entities)
        scores = aggregate(self.matcher.find(match), norm.display, settings.decay)
        self._abuse_from_triggers(scores)
        jurisdiction = None
        for name, spec in self.lexicon.jurisdictions.items():
            if scores.get("jurisdiction", name) >= spec.min_score:
                jurisdiction = name
                break
        enforcement_context = scores.get("context", "enforcement") >= 1
        if jurisdiction and scores.get("context", "transport_actor") < 1:
            # Another body's own doings (交警扣分, 城管拖车) are out of our categories.
            enforcement_context = False
            for label in ENFORCEMENT_CATEGORIES:
                if ("category", label) in scores.totals:
                    scores.totals[("category", label)] *= settings.context_damping
        if enforcement_context:
            # Platform and road words in an enforcement story are scenery, not the grievance.
            for label in ("service", "infrastructure", "other"):
                if ("category", label) in scores.totals:
                    scores.totals[("category", label)] *= settings.context_damping
        narrative = 0.75 * min(
            2,
            sum(
                bool(v)
                for v in (
                    entities.datetime_texts,
                    entities.locations,
                    entities.amounts_yuan,
                    entities.plates,
                )
            ),
        )
        long_text = len(CJK_RE.findall(match, 0, 200)) >= LONG_TEXT_CHARS
        kind = decide_kind(
            scores,
            question_clauses(match),
            settings.question_weight,
            narrative,
            long_text,
            first_person(match),
        )
        cat = decide_category(
            scores,
            kind.kind,
            category_min=settings.category_min,
            topic_min=settings.topic_min,
            inquiry_topic_min=settings.inquiry_topic_min,
            rent_seeking_min=settings.rent_seeking_min,
            enforcement_context=enforcement_context,
            other_body=jurisdiction is not None,
        )
        subcategory = self._subcategory(scores, cat.category)
        severity, emergency, calls, fired = self._severity(
            scores, kind.kind, cat.category, entities, match, cat.scores, jurisdiction
        )
        domain = self._best(scores, "domain", settings.domain_min)
        confidence = (
            min(kind.confidence, cat.confidence)
            if kind.kind in ("complaint", "report")
            else kind.confidence
        )
        matched = self._matched(scores, fired)
        final_kind, category = kind.kind, cat.category
        if self.model is not None:
            view = KeywordView(
                kind.kind,
                cat.category,
                kind.confidence,
                cat.confidence,
                kind.scores,
                cat.scores,
                severity == "urgent",
            )
            said = opinion(self.model, view, match, matched, settings)
            if (said.kind, said.category) != (kind.kind, cat.category):
                final_kind, category = said.kind, said.category
                subcategory = self._subcategory(scores, category)
                if severity != "urgent":  # a keyword-urgent message stays urgent
                    severity, emergency, calls, fired = self._severity(
                        scores, final_kind, category, entities, match, cat.scores, jurisdiction
                    )
                    matched = self._matched(scores, fired)
            if said.urgent and severity != "urgent" and final_kind in ("complaint", "report"):
                severity = "urgent"
            if said.reasons:
                matched["model"] = list(said.reasons)
        result = Classification(
            kind=final_kind,
            category=category,
            subcategory=subcategory,
            severity=severity,
            domain=domain,
            confidence=confidence,
            uncertain=confidence < settings.uncertain_threshold,
            matched=matched,
            entities=entities,
            emergency=emergency,
            emergency_calls=calls,
            out_of_jurisdiction=jurisdiction,
            jurisdiction_channel=(
                self.lexicon.jurisdictions[jurisdiction].channel if jurisdiction else None
            ),
            alternatives=tuple(c for c in (cat.category, *cat.alternatives) if c != category)[:3]
            if category != cat.category
            else cat.alternatives,
            category_scores={k: round(v, 2) for k, v in cat.scores.items() if v},
            kind_scores={k: round(v, 2) for k, v in kind.scores.items() if v},
        )
        return _with_explanation(result)

    def _abuse_from_triggers(self, scores: Scores) -> None:
        """Blows, threats and restraint name the abusive category even in unlisted words."""
        bonus = self.lexicon.settings.violence_abusive
        triggers = self.lexicon.triggers
        if bonus and any(
            name in triggers and scores.get("trigger", name) >= triggers[name].min_score
            for name in ABUSE_TRIGGERS
        ):
            scores.totals[("category", "abusive")] += bonus

    def _empty(self, entities: Entities) -> Classification:
        result = Classification(
            kind="inquiry",
            category="other",
            subcategory=None,
            severity="low",
            domain=None,
            confidence=0.0,
            uncertain=True,
            matched={},
            entities=entities,
        )
        return _with_explanation(result)

    @staticmethod
    def _best(scores: Scores, section: str, minimum: float) -> str | None:
        found = [(v, label) for (s, label), v in scores.totals.items() if s == section]
        if not found:
            return None
        value, label = max(found)
        return label if value >= minimum else None

    @staticmethod
    def _subcategory(scores: Scores, category: str) -> str | None:
        options = [
            (v, label)
            for (s, label), v in scores.totals.items()
            if s == "subcategory" and v >= 1.5 and category in SUBCATEGORY_FITS[label]
        ]
        return max(options)[1] if options else None

    def _severity(
        self,
        scores: Scores,
        kind: str,
        category: str,
        entities: Entities,
        match: str,
        cat_scores: dict[str, float],
        jurisdiction: str | None = None,
    ) -> tuple[str, bool, tuple[str, ...], list[str]]:
        settings = self.lexicon.settings
        fired = []
        for name, trigger in self.lexicon.triggers.items():
            if scores.get("trigger", name) < trigger.min_score:
                continue
            if trigger.requires_category and category not in trigger.requires_category:
                continue
            fired.append(name)
        if kind == "praise":
            return "low", False, (), []
        levels = {self.lexicon.triggers[name].severity for name in fired}
        emergency = [self.lexicon.triggers[n] for n in fired if self.lexicon.triggers[n].emergency]
        calls = tuple(dict.fromkeys(c for t in emergency for c in t.call))
        if "urgent" in levels:
            return "urgent", bool(emergency), calls, fired
        problem = kind in ("complaint", "report") and category != "other"
        big_amount = settings.high_amount_yuan > 0 and any(
            a >= settings.high_amount_yuan for a in entities.amounts_yuan
        )
        if (
            "high" in levels
            or (problem and settings.category_severity.get(category) == "high")
            or (problem and big_amount)
            or (
                kind in ("complaint", "report")
                and detention_days(match) >= settings.long_detention_days
            )
        ):
            return "high", False, (), fired
        if kind in ("inquiry", "suggestion") or (category == "other" and not scores.totals):
            return "low", False, (), fired
        if category == "other" and kind == "complaint" and jurisdiction:
            return "normal", False, (), fired  # a real grievance, for another body
        if category == "other":
            evidence = max((v for c, v in cat_scores.items() if c != "other"), default=0.0)
            if evidence < settings.category_min and scores.get("kind", "complaint") < 2:
                return "low", False, (), fired  # chit-chat or an opener with nothing in it
        return "normal", False, (), fired

    def _matched(self, scores: Scores, fired: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for section in LABEL_ORDER:
            for (s, label), found in scores.keywords.items():
                if s != section or scores.totals[(s, label)] <= 0:
                    continue
                if section == "trigger" and label not in fired:
                    continue
                name = label
                if section == "trigger":
                    name = self.lexicon.triggers[label].severity
                words = out.setdefault(name, [])
                words.extend(w for w, _ in found if w not in words)
        return out


def _with_explanation(result: Classification) -> Classification:
    """Attach a short zh-CN sentence saying what was decided and why."""
    parts = [
        f"判断为{_short(KIND_LABELS[result.kind])}，类别：{_short(CATEGORY_LABELS[result.category])}"
    ]
    words = result.matched.get(result.category) or result.matched.get(result.kind) or []
    if words:
        parts.append("（依据：" + "、".join(f"“{w}”" for w in words[:4]) + "）")
    parts.append(f"；严重程度：{_short(SEVERITY_LABELS[result.severity])}")
    if result.matched.get("model"):
        parts.append("；模型：" + " ".join(f"'{w}'" for w in result.matched["model"]))
    if result.uncertain:
        parts.append("；把握不大，请您确认类别")
    if result.emergency:
        parts.append("；可能危及人身安全，请立即拨打" + "/".join(result.emergency_calls))
    if result.out_of_jurisdiction and result.jurisdiction_channel:
        parts.append(f"；此事可能不归交通运输部门管理（{result.jurisdiction_channel}）")
    return dataclasses.replace(result, explanation="".join(parts) + "。")


_lock = threading.Lock()
_cache: dict[tuple[Path | None, Path | None], Classifier] = {}
_active: Classifier | None = None


def get_classifier(extra_lexicon: Path | None = None, cache_dir: Path | None = None) -> Classifier:
    """The cached classifier for a lexicon; the last one asked for becomes the default."""
    global _active
    key = (
        Path(extra_lexicon).resolve() if extra_lexicon else None,
        Path(cache_dir).expanduser() if cache_dir else None,
    )
    with _lock:
        classifier = _cache.get(key)
        if classifier is None:
            classifier = Classifier(load_lexicon(key[0]), key[1], load_model())
            _cache[key] = classifier
        if extra_lexicon is not None or _active is None:
            _active = classifier
            install_default(classifier.extractor)
        return classifier


def classify(text: str, *, now: datetime | None = None) -> Classification:
    """Classify with the default classifier (the one start-up configured, else the shipped one)."""
    return (_active or get_classifier()).classify(text, now=now)
