"""Shared fixtures for the NLP tests: one classifier per session (jieba loads once)."""

from __future__ import annotations

from datetime import datetime

import pytest

from nlp import Classifier, get_classifier
from nlp.timeexpr import SHANGHAI


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The shipped lexicon's classifier."""
    return get_classifier()


@pytest.fixture
def now() -> datetime:
    """A fixed message time: Thursday 2025-03-20 14:00 in Shanghai."""
    return datetime(2025, 3, 20, 14, 0, tzinfo=SHANGHAI)
