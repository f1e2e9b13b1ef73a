"""Evaluation metrics on hand-made predictions."""

from __future__ import annotations

from typing import Any

import pytest

from nlp.evaluation import evaluate, format_report, label_scores, macro_f1, normalize_plate


def rec(kind: str, category: str, severity: str, **entities: Any) -> dict[str, Any]:
    return {"id": "x", "text": "t", "kind": kind, "category": category, "severity": severity,
            "entities": entities}  # fmt: skip


def test_label_scores_and_macro_f1() -> None:
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", "b"]
    scores = label_scores(gold, pred, ["a", "b", "c"])
    assert scores["a"].precision == 1.0 and scores["a"].recall == 0.5
    assert scores["b"].precision == pytest.approx(2 / 3) and scores["b"].recall == 1.0
    assert scores["c"].support == 0
    # c occurs nowhere, so it does not drag the mean down.
    assert macro_f1(scores, gold, pred) == pytest.approx((2 / 3 + 0.8) / 2)


def test_report() -> None:
    records = [
        rec("complaint", "profit_driven", "normal", amount_yuan=2000, plate="湘J·3K921"),
        rec("report", "rent_seeking", "high"),
        rec("complaint", "abusive", "urgent"),
        rec("inquiry", "other", "low"),
        rec("praise", "abusive", "low"),
    ]
    predictions = [
        {"kind": "complaint", "category": "profit_driven", "severity": "normal",
         "entities": {"amount_yuan": [2000, 300], "plate": "湘J3K921"}},
        {"kind": "complaint", "category": "rent_seeking", "severity": "high", "entities": {}},
        {"kind": "complaint", "category": "abusive", "severity": "high", "entities": {}},
        {"kind": "inquiry", "category": "other", "severity": "low",
         "entities": {"plate": "京A12345"}},
        {"kind": "praise", "category": "other", "severity": "low", "entities": {}},
    ]  # fmt: skip
    report = evaluate(records, predictions)
    assert report.kind_accuracy == pytest.approx(0.8)
    assert report.category_macro_f1 == 1.0
    assert report.topic_category_accuracy["praise"] == (0.0, 1)
    assert report.topic_category_accuracy["inquiry"] == (1.0, 1)
    assert report.urgent_recall == 0.0
    assert report.entity_rates["amount_yuan"]["exact"] == 1.0
    assert report.entity_rates["plate"]["exact"] == 1.0
    assert report.entity_rates["plate"]["spurious"] == 0.25
    assert report.category_confusion["abusive"]["abusive"] == 1
    text = format_report(report, show_errors=True)
    assert "category macro-F1" in text and "urgent recall: 0.000" in text
    assert "confusion" in text


def test_plate_normalisation() -> None:
    assert normalize_plate("湘j·3k921") == normalize_plate("湘J 3K921") == "湘J3K921"
