"""The n-gram naive Bayes: its file, its training, and how it is blended with the keywords."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlp import Classifier
from nlp.lexicon import Settings
from nlp.model import MODEL_PATH, KeywordView, Model, blend, features, load_model, opinion
from nlp.train_model import dumps, train

# A tiny labelled sample: a fee without a receipt, and a pothole.
SAMPLE = [
    ("罚了两百不给票", {"kind": "complaint", "category": "profit_driven", "severity": "normal"}),
    ("罚了五百也不给票", {"kind": "complaint", "category": "profit_driven", "severity": "normal"}),
    ("路上有个大坑", {"kind": "complaint", "category": "infrastructure", "severity": "normal"}),
    ("大坑没人修", {"kind": "complaint", "category": "infrastructure", "severity": "normal"}),
    ("他打我 流血了", {"kind": "complaint", "category": "abusive", "severity": "urgent"}),
    ("他又打我 流血了", {"kind": "complaint", "category": "abusive", "severity": "urgent"}),
]
SETTINGS = Settings(model_weight=0.7, model_kind_weight=0.3, model_gate=0.6, model_strong=4.0)


def _tiny_model(tmp_path: Path) -> Model:
    path = tmp_path / "model.json"
    path.write_text(dumps(train([(features(t), r) for t, r in SAMPLE])), encoding="utf-8")
    model = load_model(path)
    assert model is not None
    return model


def _view(**changes: object) -> KeywordView:
    view = KeywordView(
        kind="complaint",
        category="other",
        kind_confidence=0.9,
        category_confidence=0.2,
        kind_scores={"complaint": 3.0},
        category_scores={},
        urgent=False,
    )
    return dataclasses.replace(view, **changes)  # type: ignore[arg-type]


def test_shipped_model_loads_and_is_small() -> None:
    model = load_model()
    assert model is not None
    assert set(model.heads) == {"kind", "category", "urgent"}
    assert MODEL_PATH.stat().st_size < 2_000_000
    assert json.loads(MODEL_PATH.read_text(encoding="utf-8"))["alpha"] > 0


def test_training_is_deterministic() -> None:
    first = dumps(train([(features(t), r) for t, r in SAMPLE]))
    again = dumps(train([(features(t), r) for t, r in reversed(SAMPLE)]))
    assert first == again


def test_features_are_clause_ngrams_and_labels() -> None:
    found = features("罚了200 不给票", ["profit_driven"])
    assert {"罚了0", "不给票", "#profit_driven"} <= found
    assert not any(" " in f for f in found)


def test_blend_weight_zero_keeps_keywords() -> None:
    keyword = {"abusive": 2.0, "profit_driven": 1.0}
    posterior = {"abusive": 0.05, "profit_driven": 0.95}
    assert blend(keyword, posterior, 0.0) == "abusive"
    assert blend(keyword, posterior, 0.7) == "profit_driven"


def test_weak_category_takes_the_model_and_names_ngrams(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    said = opinion(model, _view(), "罚了三百 不给票", {"complaint": []}, SETTINGS)
    assert said.category == "profit_driven"
    assert said.reasons
    assert all(r in "罚了三百 不给票" for r in said.reasons)
    assert any(r in {"不给票", "给票", "不给"} for r in said.reasons)


def test_strong_keyword_category_is_never_overridden(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    strong = _view(category="infrastructure", category_confidence=0.3)
    strong = dataclasses.replace(strong, category_scores={"infrastructure": 4.5, "irregular": 4.0})
    said = opinion(model, strong, "罚了三百 不给票", {}, SETTINGS)
    assert said.category == "infrastructure"
    sure = _view(category="infrastructure", category_confidence=0.9)
    sure = dataclasses.replace(sure, category_scores={"infrastructure": 2.5})
    assert opinion(model, sure, "罚了三百 不给票", {}, SETTINGS).category == "infrastructure"


def test_model_never_lowers_urgent_and_raises_only_when_sure(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path)
    urgent = _view(urgent=True)
    assert opinion(model, urgent, "路上有个大坑", {}, SETTINGS).urgent
    off = dataclasses.replace(SETTINGS, model_urgent_min=2.0)
    assert not opinion(model, _view(), "他打我 流血了", {}, off).urgent
    on = dataclasses.replace(SETTINGS, model_urgent_min=0.9)
    assert opinion(model, _view(), "他打我 流血了", {}, on).urgent


@pytest.fixture
def with_tiny_model(classifier: Classifier, tmp_path: Path) -> Iterator[Classifier]:
    """The session classifier with the tiny model swapped in, restored afterwards."""
    saved = classifier.model
    classifier.model = _tiny_model(tmp_path)
    try:
        yield classifier
    finally:
        classifier.model = saved


def test_classifier_keeps_strong_decisions(classifier: Classifier) -> None:
    text = "执法人员当场收红包 给钱就不罚 不给钱就扣车"
    saved = classifier.model
    try:
        classifier.model = None
        plain = classifier.classify(text)
    finally:
        classifier.model = saved
    blended = classifier.classify(text)
    assert (blended.kind, blended.category) == (plain.kind, plain.category)
    assert blended.severity == plain.severity or blended.severity == "urgent"


def test_classifier_explains_model_contribution(with_tiny_model: Classifier) -> None:
    result = with_tiny_model.classify("说不清楚 反正又罚了")
    assert result.matched.get("model")
    assert "模型：" in result.explanation
    for gram in result.matched["model"]:
        assert f"'{gram}'" in result.explanation
