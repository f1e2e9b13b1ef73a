"""Whatever a driver types, classification returns a well-formed result."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import classify, extract_entities, mask_identifiers
from nlp.labels import CATEGORIES, KINDS, SEVERITIES

DRIVER_TEXT = st.text(
    alphabet=st.sampled_from(
        list("罚款不开票没骂人扣车湘J3K921两千万吗？ 1234567890¥元块执法队G4收费站")
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), DRIVER_TEXT))
def test_never_raises(text: str) -> None:
    result = classify(text)
    assert result.kind in KINDS
    assert result.category in CATEGORIES
    assert result.severity in SEVERITIES
    assert 0.0 <= result.confidence <= 1.0
    extract_entities(text)
    assert isinstance(mask_identifiers(text), str)
