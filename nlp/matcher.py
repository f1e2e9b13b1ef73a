"""Keyword matching: a character trie for literals, anchored regexes for gapped keys.

Every occurrence of every keyword is a hit (labels are independent); scoring later keeps,
per label, the heaviest of overlapping hits, so 罚款不开票 and 不开票 count once. A hit
preceded by a negator (没骂人) is dropped when jieba confirms the negator is a word of its
own: 没收 is a verb, not 没 + 收.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nlp.lexicon import Entry, Settings
from nlp.normalize import CLAUSE_BREAKS, clause_end, clause_start
from nlp.patterns import gapped_regex, needs_ascii_boundary
from nlp.tokenizer import Segmenter

# (section, label, weight, negate, key)
Target = tuple[str, str, float, bool, str]
LOOKBACK_CHARS = 6
# A negator further back than this is another clause's business (fillers are short).
QUICK_CHARS = 3


@dataclass(frozen=True, slots=True)
class Hit:
    """One keyword found in the text."""

    section: str
    label: str
    key: str
    weight: float
    start: int
    end: int


def _is_alnum_ascii(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class KeywordMatcher:
    """Finds every lexicon keyword in normalised, lower-cased text."""

    def __init__(
        self,
        entries: Iterable[Entry],
        settings: Settings,
        segmenter: Segmenter,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._segmenter = segmenter
        literal_targets: dict[str, list[Target]] = {}
        gapped: dict[str, tuple[tuple[tuple[str, ...], ...], list[Target]]] = {}
        for e in entries:
            target = (e.section, e.label, e.weight, e.negate, e.key)
            if len(e.segments) == 1:
                for literal in e.segments[0]:
                    literal_targets.setdefault(literal, []).append(target)
            else:
                gapped.setdefault(e.key, (e.segments, []))[1].append(target)
        self._gapped = [
            (gapped_regex(segments, settings.gap), tuple(targets))
            for segments, targets in gapped.values()
        ]
        # A character trie of all literals. A gapped key is tried only where one of its first
        # words starts, so most keys cost nothing on a message that lacks them.
        anchors: dict[str, list[int]] = {}
        for number, (segments, _) in enumerate(gapped.values()):
            for literal in segments[0]:
                anchors.setdefault(literal, []).append(number)
        # Nodes are [children, payload]: one dictionary lookup per character walked.
        self._trie: dict[str, list[Any]] = {}
        for literal in set(literal_targets) | set(anchors):
            children = self._trie
            node: list[Any] = []
            for ch in literal:
                node = children.setdefault(ch, [{}, None])
                children = node[0]
            node[1] = (
                tuple(literal_targets.get(literal, ())),
                needs_ascii_boundary(literal),
                tuple(anchors.get(literal, ())),
            )
        chars = "".join(re.escape(c) for c in sorted(self._trie))
        self._first = re.compile(f"[{chars}]") if chars else None
        self._aliases = aliases or {}
        self._alias_re = (
            re.compile("|".join(re.escape(a) for a in sorted(self._aliases, key=len, reverse=True)))
            if self._aliases
            else None
        )
        self._neg_chars = frozenset("".join(settings.negators))
        self._negators = frozenset(settings.negators)
        self._fillers = frozenset(settings.negation_fillers)

    def prepare(self, match_text: str) -> str:
        """Apply same-length spelling fixes (发款 -> 罚款) before matching."""
        if self._alias_re is None:
            return match_text
        return self._alias_re.sub(lambda m: self._aliases[m.group()], match_text)

    def find(self, text: str) -> list[Hit]:
        """All non-negated hits in `text` (already normalised and prepared)."""
        hits: list[Hit] = []
        if self._first is None:
            return hits
        memo: dict[int, bool] = {}  # negator verdicts by keyword start
        tried: set[tuple[int, int]] = set()
        size = len(text)
        trie = self._trie
        gapped = self._gapped
        add = self._add
        for found in self._first.finditer(text):
            i = found.start()
            children, payload = trie[text[i]]
            j = i + 1
            while True:
                if payload is not None:
                    targets, ascii_edge, anchors = payload
                    if targets and not (ascii_edge and not self._ascii_bounded(text, i, j)):
                        add(hits, text, targets, i, j, memo)
                    for number in anchors:
                        if (number, i) not in tried:
                            tried.add((number, i))
                            m = gapped[number][0].match(text, i)
                            if m is not None:
                                add(hits, text, gapped[number][1], i, m.end(), memo)
                if j >= size:
                    break
                node = children.get(text[j])
                if node is None:
                    break
                children, payload = node
                j += 1
        return hits

    @staticmethod
    def _ascii_bounded(text: str, start: int, end: int) -> bool:
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        return not _is_alnum_ascii(before) and not _is_alnum_ascii(after)

    def _add(
        self,
        hits: list[Hit],
        text: str,
        targets: tuple[Target, ...],
        start: int,
        end: int,
        memo: dict[int, bool],
    ) -> None:
        negated: bool | None = None
        for section, label, weight, negate, key in targets:
            if negate:
                if negated is None:
                    negated = self.negated(text, start, end, memo)
                if negated:
                    continue
            hits.append(Hit(section, label, key, weight, start, end))

    def negated(self, text: str, start: int, end: int, memo: dict[int, bool] | None = None) -> bool:
        """Whether a negator word stands just before text[start:end] in the same clause."""
        if self._neg_chars.isdisjoint(text[max(start - QUICK_CHARS, 0) : start]):
            return False  # the common case: no 没/不/未 right before the keyword
        verdict = memo.get(start) if memo is not None else None
        if verdict is None:
            verdict = self._negator_before(text, start)
            if memo is not None:
                memo[start] = verdict
        return verdict and not self._rhetorical(text, end)

    def _negator_before(self, text: str, start: int) -> bool:
        low = max(clause_start(text, start), start - LOOKBACK_CHARS)
        if low == start or self._neg_chars.isdisjoint(text[low:start]):
            return False
        # Two characters past the keyword's start are enough to see a word straddling it.
        tokens = self._segmenter.cut(text[low : start + 2])
        before: list[str] = []
        offset = low
        for token in tokens:
            if offset >= start:
                break
            if offset + len(token) > start:
                return False  # the negator belongs to a longer word (没收, 不错)
            before.append(token)
            offset += len(token)
        for token in reversed(before[-3:]):
            if token in self._fillers:
                continue
            return token in self._negators
        return False

    def _rhetorical(self, text: str, end: int) -> bool:
        """这不是钓鱼执法是啥 / 这不就是罚款指标吗: a negated question asserts, not denies."""
        stop = end
        while stop < len(text) and text[stop] not in CLAUSE_BREAKS - {" "}:
            stop += 1
        tail = text[end : max(stop, clause_end(text, end))]
        return any(marker in tail for marker in self._settings.rhetorical_markers)
