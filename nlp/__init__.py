"""Keyword NLP for drivers' messages: classification, entities, rights answers (no platforms)."""

from nlp.classifier import Classification, Classifier, classify, get_classifier
from nlp.entities import Entities, extract_entities, mask_identifiers, mask_phone
from nlp.knowledge import KnowledgeAnswer, answer_question
from nlp.lexicon import Lexicon, LexiconError, load_lexicon

__all__ = [
    "Classification",
    "Classifier",
    "Entities",
    "KnowledgeAnswer",
    "Lexicon",
    "LexiconError",
    "answer_question",
    "classify",
    "extract_entities",
    "get_classifier",
    "load_lexicon",
    "mask_identifiers",
    "mask_phone",
]
