"""Scores of predictions against labelled lines (the dev set format): pure functions."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nlp.labels import CATEGORIES, KINDS, SEVERITIES

ENFORCEMENT_KINDS = ("complaint", "report")
TOPIC_KINDS = ("inquiry", "suggestion", "praise")


@dataclass(frozen=True, slots=True)
class LabelScore:
    """Precision, recall and F1 of one label."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Report:
    """All numbers `complaintbot classify --eval` prints."""

    total: int
    kind_accuracy: float
    kind_scores: dict[str, LabelScore]
    category_scores: dict[str, LabelScore]
    category_macro_f1: float
    category_accuracy: float
    topic_category_accuracy: dict[str, tuple[float, int]]
    severity_scores: dict[str, LabelScore]
    urgent_recall: float
    entity_rates: dict[str, dict[str, float]]
    category_confusion: dict[str, dict[str, int]]
    kind_confusion: dict[str, dict[str, int]]
    errors: list[str] = field(default_factory=list)


def label_scores(
    gold: Sequence[str], pred: Sequence[str], labels: Iterable[str]
) -> dict[str, LabelScore]:
    """Per-label precision, recall and F1."""
    out = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = LabelScore(precision, recall, f1, tp + fn)
    return out


def macro_f1(scores: Mapping[str, LabelScore], gold: Sequence[str], pred: Sequence[str]) -> float:
    """Mean F1 over the labels that occur in gold or predictions."""
    present = set(gold) | set(pred)
    values = [s.f1 for label, s in scores.items() if label in present]
    return sum(values) / len(values) if values else 0.0


def confusion(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, int]]:
    """counts[gold][pred]."""
    counts = Counter(zip(gold, pred, strict=True))
    return {g: {p: counts[(g, p)] for p in labels} for g in labels}


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of equal pairs (0 for no pairs)."""
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold) if gold else 0.0


def normalize_plate(value: str) -> str:
    """湘J·3K921, 湘j 3k921 -> 湘J3K921."""
    return re.sub(r"[\s·.\-•・]", "", str(value)).upper()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _same(key: str, a: Any, b: Any) -> bool:
    if key == "plate":
        return normalize_plate(a) == normalize_plate(b)
    try:
        return abs(float(a) - float(b)) < 0.005
    except (TypeError, ValueError):
        return False


def entity_rates(
    golds: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, Any]], key: str
) -> dict[str, float]:
    """exact: the first (most salient) value equals the labelled one; found: it is among them."""
    exact = found = labelled = spurious = unlabelled = 0
    for gold, pred in zip(golds, preds, strict=True):
        want = _as_list(gold.get(key))
        got = _as_list(pred.get(key))
        if not want:
            unlabelled += 1
            spurious += bool(got)
            continue
        labelled += 1
        exact += bool(got) and _same(key, got[0], want[0])
        found += any(_same(key, g, w) for g in got for w in want)
    return {
        "labelled": labelled,
        "exact": exact / labelled if labelled else 1.0,
        "found": found / labelled if labelled else 1.0,
        "spurious": spurious / unlabelled if unlabelled else 0.0,
    }


def evaluate(
    records: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]
) -> Report:
    """Compare contract objects with labelled records (same order)."""
    kinds_g = [str(r["kind"]) for r in records]
    kinds_p = [str(p["kind"]) for p in predictions]
    enforcement = [i for i, k in enumerate(kinds_g) if k in ENFORCEMENT_KINDS]
    cat_g = [str(records[i]["category"]) for i in enforcement]
    cat_p = [str(predictions[i]["category"]) for i in enforcement]
    cat_scores = label_scores(cat_g, cat_p, CATEGORIES)
    topic = {}
    for kind in TOPIC_KINDS:
        idx = [i for i, k in enumerate(kinds_g) if k == kind]
        golds = [str(records[i]["category"]) for i in idx]
        preds = [str(predictions[i]["category"]) for i in idx]
        topic[kind] = (accuracy(golds, preds), len(idx))
    sev_g = [str(r["severity"]) for r in records]
    sev_p = [str(p["severity"]) for p in predictions]
    sev_scores = label_scores(sev_g, sev_p, SEVERITIES)
    ents_g = [dict(r.get("entities") or {}) for r in records]
    ents_p = [dict(p.get("entities") or {}) for p in predictions]
    errors = []
    for r, p in zip(records, predictions, strict=True):
        wrong = [
            f"{key}={r[key]}->{p[key]}"
            for key in ("kind", "category", "severity")
            if r[key] != p[key]
        ]
        if wrong:
            errors.append(f"{r.get('id')}: {', '.join(wrong)}  | {str(r.get('text', ''))[:40]}")
    return Report(
        total=len(records),
        kind_accuracy=accuracy(kinds_g, kinds_p),
        kind_scores=label_scores(kinds_g, kinds_p, KINDS),
        category_scores=cat_scores,
        category_macro_f1=macro_f1(cat_scores, cat_g, cat_p),
        category_accuracy=accuracy(cat_g, cat_p),
        topic_category_accuracy=topic,
        severity_scores=sev_scores,
        urgent_recall=sev_scores["urgent"].recall if sev_scores["urgent"].support else 1.0,
        entity_rates={key: entity_rates(ents_g, ents_p, key) for key in ("plate", "amount_yuan")},
        category_confusion=confusion(cat_g, cat_p, CATEGORIES),
        kind_confusion=confusion(kinds_g, kinds_p, KINDS),
        errors=errors,
    )


def _table(title: str, scores: Mapping[str, LabelScore]) -> list[str]:
    lines = [title, f"  {'label':<16}{'prec':>7}{'recall':>8}{'f1':>7}{'n':>5}"]
    for label, s in scores.items():
        lines.append(f"  {label:<16}{s.precision:7.2f}{s.recall:8.2f}{s.f1:7.2f}{s.support:5d}")
    return lines


def _matrix(title: str, counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    labels = list(counts)
    short = [label[:6] for label in labels]
    lines = [title + " (rows: labelled, columns: predicted)"]
    lines.append("  " + " " * 16 + "".join(f"{s:>7}" for s in short))
    for label in labels:
        lines.append(f"  {label:<16}" + "".join(f"{counts[label][p]:7d}" for p in labels))
    return lines


def format_report(report: Report, *, show_errors: bool = False) -> str:
    """The report as plain text."""
    lines = [f"lines: {report.total}", f"kind accuracy: {report.kind_accuracy:.3f}"]
    lines.append(
        f"category macro-F1 (complaint+report): {report.category_macro_f1:.3f}"
        f"  accuracy: {report.category_accuracy:.3f}"
    )
    for kind, (acc, n) in report.topic_category_accuracy.items():
        lines.append(f"category accuracy for {kind}: {acc:.3f} (n={n})")
    lines.append(f"urgent recall: {report.urgent_recall:.3f}")
    for key, rates in report.entity_rates.items():
        lines.append(
            f"{key}: exact {rates['exact']:.3f}  found {rates['found']:.3f}"
            f"  (labelled {int(rates['labelled'])}; spurious on unlabelled {rates['spurious']:.3f})"
        )
    lines += _table("kind", report.kind_scores)
    lines += _table("category (complaint+report)", report.category_scores)
    lines += _table("severity", report.severity_scores)
    lines += _matrix("category confusion", report.category_confusion)
    lines += _matrix("kind confusion", report.kind_confusion)
    if show_errors:
        lines.append("errors:")
        lines += [f"  {e}" for e in report.errors]
    return "\n".join(lines)
