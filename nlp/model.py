"""Naive Bayes over character n-grams and lexicon labels: a second opinion for weak cases."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.lexicon import DATA_DIR, Settings
from nlp.normalize import CLAUSE_BREAKS

MODEL_PATH = DATA_DIR / "model.json"
MAX_N = 3
LABEL_PREFIX = "#"  # feature names of lexicon labels; n-grams never start with it
# Digits fold to 0 (罚了200 and 罚了500 are the same cue); clause breaks split n-grams.
SPLIT = str.maketrans({**{str(d): "0" for d in range(10)}, **dict.fromkeys(CLAUSE_BREAKS, " ")})
PROBLEM_KINDS = ("complaint", "report")


def features(match: str, labels: Iterable[str] = ()) -> set[str]:
    """Distinct character 1–3-grams inside clauses of the normalised text, plus label markers."""
    found: set[str] = set()
    for run in match.translate(SPLIT).split():
        # map over shifted copies keeps the n-gram loop in C: it runs on every message.
        pairs = list(map(str.__add__, run, run[1:]))
        found.update(run, pairs, map(str.__add__, pairs, run[2:]))
    found.discard(LABEL_PREFIX)
    found.update(LABEL_PREFIX + label for label in labels)
    return found


@dataclass(frozen=True, slots=True)
class Head:
    """One multinomial naive Bayes decision (kind, category or urgent) with add-alpha smoothing."""

    classes: tuple[str, ...]
    log_prior: tuple[float, ...]
    # Per class, feature -> log P(feature | class): one dict per class so that scoring a
    # message is a C-level map over its features, not a Python loop per feature.
    log_like: tuple[dict[str, float], ...]
    vocab: frozenset[str]

    @classmethod
    def from_counts(cls, body: Mapping[str, Any], alpha: float) -> Head:
        """Log-probabilities from the stored document counts and per-class feature counts."""
        classes = tuple(body["classes"])
        docs: list[int] = body["docs"]
        names: list[str] = body["features"]
        columns: list[list[int]] = body["counts"]
        vocab = len(names) + 1
        logs = {c: math.log(c + alpha) for c in {v for col in columns for v in col}}
        log_like = []
        for col in columns:
            denom = math.log(sum(col) + alpha * vocab)
            log_like.append(dict(zip(names, [logs[c] - denom for c in col], strict=True)))
        n = sum(docs)
        priors = tuple(math.log((d + 1) / (n + len(classes))) for d in docs)
        return cls(classes, priors, tuple(log_like), frozenset(names))

    def posterior(self, feats: Collection[str]) -> dict[str, float]:
        """P(class | features); unknown features are skipped (they carry no class evidence)."""
        known = self.vocab.intersection(feats)
        joint = [
            p + sum(map(d.__getitem__, known))
            for p, d in zip(self.log_prior, self.log_like, strict=True)
        ]
        top = max(joint)
        exp = [math.exp(j - top) for j in joint]
        total = sum(exp)
        return {c: e / total for c, e in zip(self.classes, exp, strict=True)}

    def reasons(self, feats: Iterable[str], label: str, against: str, top: int = 3) -> list[str]:
        """The n-grams that most favour `label` over `against` (longest first on ties)."""
        mine = self.log_like[self.classes.index(label)]
        other = self.log_like[self.classes.index(against)]
        names = [f for f in self.vocab.intersection(feats) if len(f) > 1 and f[0] != LABEL_PREFIX]
        lift = map(operator.sub, map(mine.__getitem__, names), map(other.__getitem__, names))
        ranked = sorted(zip(lift, map(len, names), names, strict=True), reverse=True)
        chosen: list[str] = []
        for gain, _, f in ranked:
            if gain <= 0 or len(chosen) == top:
                break
            if not any(f in c for c in chosen):  # '不给' adds nothing next to '不给票'
                chosen.append(f)
        return chosen


@dataclass(frozen=True, slots=True)
class Model:
    """The trained heads: 'kind', 'category' and 'urgent' (yes/no)."""

    heads: dict[str, Head]

    def head(self, name: str) -> Head | None:
        """A head by name (None when the model file lacks it)."""
        return self.heads.get(name)


def load_model(path: Path = MODEL_PATH) -> Model | None:
    """The model file, or None when there is none (the classifier then uses keywords only)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    alpha = float(data["alpha"])
    return Model({name: Head.from_counts(body, alpha) for name, body in data["heads"].items()})


def blend(keyword: Mapping[str, float], posterior: Mapping[str, float], weight: float) -> str:
    """Argmax of (1 - weight) x keyword share + weight x posterior; ties go to the keywords."""
    positive = {c: max(keyword.get(c, 0.0), 0.0) for c in posterior}
    total = sum(positive.values())
    share = {c: (v / total if total else 0.0) for c, v in positive.items()}
    mixed = {c: (1 - weight) * share[c] + weight * posterior[c] for c in posterior}
    return max(posterior, key=lambda c: (mixed[c], share[c], -list(posterior).index(c)))


@dataclass(frozen=True, slots=True)
class Opinion:
    """What the model changes: kind, category, urgent, and the n-grams that say why."""

    kind: str
    category: str
    urgent: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeywordView:
    """The keyword decision as the blend sees it."""

    kind: str
    category: str
    kind_confidence: float
    category_confidence: float
    kind_scores: Mapping[str, float]
    category_scores: Mapping[str, float]
    urgent: bool


def weak_category(view: KeywordView, settings: Settings) -> bool:
    """Keyword category evidence is weak: no strong hit, and low confidence or a fallback."""
    own = view.category_scores.get(view.category, 0.0)
    if max(view.category_scores.values(), default=0.0) >= settings.model_strong:
        return False  # a clear keyword hit is kept even with a close runner-up
    return (
        view.category_confidence < settings.model_gate
        or view.category == "other"
        or own < settings.category_min
    )


def opinion(
    model: Model, view: KeywordView, match: str, labels: Iterable[str], settings: Settings
) -> Opinion:
    """Blend where keyword evidence is weak; a strong keyword decision is returned unchanged."""
    kind, category, urgent = view.kind, view.category, view.urgent
    reasons: list[str] = []
    cache: list[set[str]] = []

    def feats() -> set[str]:
        # Built only when some head runs: most messages never need them.
        if not cache:
            cache.append(features(match, labels))
        return cache[0]

    kind_head = model.head("kind")
    if kind_head and settings.model_kind_weight > 0 and view.kind_confidence < settings.model_gate:
        posterior = kind_head.posterior(feats())
        kind = blend(view.kind_scores, posterior, settings.model_kind_weight)
        if kind != view.kind:
            reasons += kind_head.reasons(feats(), kind, view.kind)
    cat_head = model.head("category")
    if (
        cat_head
        and settings.model_weight > 0
        and kind in PROBLEM_KINDS
        and weak_category(view, settings)
    ):
        posterior = cat_head.posterior(feats())
        category = blend(view.category_scores, posterior, settings.model_weight)
        runner = max((c for c in posterior if c != category), key=posterior.__getitem__)
        reasons += cat_head.reasons(feats(), category, runner)
    urgent_head = model.head("urgent")
    # Safety first: the model may only raise a message to urgent, and only when sure.
    if (
        urgent_head
        and not urgent
        and kind in PROBLEM_KINDS
        and settings.model_urgent_min <= 1
        and urgent_head.posterior(feats()).get("yes", 0.0) >= settings.model_urgent_min
    ):
        urgent = True
        reasons += urgent_head.reasons(feats(), "yes", "no")
    return Opinion(kind, category, urgent, tuple(dict.fromkeys(reasons))[:4])
