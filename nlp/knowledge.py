"""Rights knowledge base: a driver's question matched to an answer and the article behind it."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nlp.lexicon import DATA_DIR, LexiconError
from nlp.normalize import normalize
from nlp.patterns import PatternError, gapped_regex, parse_pattern

KNOWLEDGE_PATH = DATA_DIR / "knowledge.toml"
GAP = 8  # questions are short: a slightly longer gap than the lexicon's is safe here


@dataclass(frozen=True, slots=True)
class KnowledgeAnswer:
    """One knowledge-base answer for a driver's question."""

    id: str
    question: str
    answer: str
    article: str
    score: float
    matched: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Keyword:
    source: str
    weight: float
    literals: tuple[str, ...]
    regex: re.Pattern[str] | None


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    question: str
    answer: str
    article: str
    keywords: tuple[_Keyword, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """Entries and the score an answer needs."""

    entries: tuple[_Entry, ...]
    min_score: float

    def answer(self, text: str) -> KnowledgeAnswer | None:
        """The best-scoring entry for `text`, or None when nothing scores enough."""
        low = normalize(text, max_chars=2000).match
        best: KnowledgeAnswer | None = None
        for entry in self.entries:
            score = 0.0
            found: list[str] = []
            for kw in entry.keywords:
                hit = _find(kw, low)
                if hit is not None:
                    score += kw.weight
                    found.append(hit)
            if score >= self.min_score and (best is None or score > best.score):
                best = KnowledgeAnswer(
                    entry.id, entry.question, entry.answer, entry.article, score, tuple(found)
                )
        return best


def _find(keyword: _Keyword, text: str) -> str | None:
    if keyword.regex is not None:
        m = keyword.regex.search(text)
        return m.group() if m else None
    for literal in keyword.literals:
        if literal in text:
            return literal
    return None


def _line(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def load_knowledge(path: Path = KNOWLEDGE_PATH) -> KnowledgeBase:
    """Parse and check the knowledge base file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise LexiconError(path, int(found.group(1)) if found else None, str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(path, None, f"cannot read: {exc}") from None
    entries = []
    seen: set[str] = set()
    for raw in data.get("entry", []):
        entry_id = str(raw.get("id", ""))
        where = _line(text, f'id = "{entry_id}"')
        for field_name in ("id", "question", "answer", "article"):
            if not isinstance(raw.get(field_name), str) or not raw[field_name].strip():
                raise LexiconError(path, where, f"entry {entry_id!r}: {field_name} is required")
        if entry_id in seen:
            raise LexiconError(path, where, f"duplicate entry id {entry_id!r}")
        seen.add(entry_id)
        keywords = []
        for key, weight in dict(raw.get("keywords", {})).items():
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise LexiconError(path, _line(text, key), f"{key!r}: weight must be a number")
            try:
                segments = parse_pattern(key)
            except PatternError as exc:
                raise LexiconError(path, _line(text, key), f"bad keyword {key!r}: {exc}") from None
            regex = gapped_regex(segments, GAP) if len(segments) > 1 else None
            keywords.append(_Keyword(key, float(weight), segments[0], regex))
        if not keywords:
            raise LexiconError(path, where, f"entry {entry_id!r} has no keywords")
        entries.append(
            _Entry(
                entry_id, raw["question"], raw["answer"].strip(), raw["article"], tuple(keywords)
            )
        )
    min_score = float(data.get("settings", {}).get("min_score", 3.0))
    return KnowledgeBase(tuple(entries), min_score)


@functools.cache
def default_knowledge() -> KnowledgeBase:
    """The shipped knowledge base, loaded once."""
    return load_knowledge()


def answer_question(text: str) -> KnowledgeAnswer | None:
    """The knowledge-base answer for a driver's question, if one fits."""
    return default_knowledge().answer(text)
