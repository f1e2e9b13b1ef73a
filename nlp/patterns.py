"""The small keyword pattern language used by the lexicon and the knowledge base.

A key is literal text with optional groups and gaps:

* ``(罚|扣)了(我|俺)`` — a group of alternatives; ``(了)?`` or ``(了|)`` is optional.
* ``票*(没给|不给)`` — ``*`` is a gap of up to `gap` characters inside one clause (no space,
  comma or full stop in it); ``本地**外地`` — ``**`` is a gap of up to twice that inside one
  sentence (spaces and commas allowed).

Groups are expanded into plain literals at load time, so matching stays a dictionary scan;
only keys with a gap become regular expressions.
"""

from __future__ import annotations

import itertools
import re

from nlp.normalize import to_simplified

MAX_EXPANSIONS = 400


class PatternError(ValueError):
    """A keyword cannot be parsed; the message says why."""


def _expand_segment(segment: str) -> tuple[str, ...]:
    """All literal strings one gap-free segment stands for."""
    parts: list[tuple[str, ...]] = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "(":
            close = segment.find(")", i)
            if close < 0:
                raise PatternError("unclosed '('")
            inner = segment[i + 1 : close]
            if "(" in inner:
                raise PatternError("nested groups are not supported")
            options = inner.split("|")
            i = close + 1
            if i < len(segment) and segment[i] == "?":
                options.append("")
                i += 1
            parts.append(tuple(dict.fromkeys(options)))
        elif ch in ")|":
            raise PatternError(f"unexpected '{ch}' outside a group")
        else:
            parts.append((ch,))
            i += 1
    total = 1
    for choices in parts:
        total *= len(choices)
    if total > MAX_EXPANSIONS:
        raise PatternError(f"expands to {total} variants (limit {MAX_EXPANSIONS})")
    literals = tuple(dict.fromkeys("".join(combo) for combo in itertools.product(*parts)))
    if not literals or any(not lit.strip() for lit in literals):
        raise PatternError("a variant is empty")
    return literals


def parse_pattern(key: str) -> tuple[tuple[str, ...], ...]:
    """Split a key into segments of literal alternatives; an empty tuple marks a wide gap."""
    text = to_simplified(key).lower()
    if not text.strip():
        raise PatternError("empty keyword")
    segments: list[tuple[str, ...]] = []
    for part in text.replace("**", "*\0*").split("*"):
        if part == "\0":
            segments.append(())
        elif part:
            segments.append(_expand_segment(part))
        else:
            raise PatternError("'*' needs text on both sides")
    if not segments[0] or not segments[-1]:
        raise PatternError("'*' needs text on both sides")
    return tuple(segments)


def literal_segments(segments: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """The segments that hold text (without the wide-gap markers)."""
    return [seg for seg in segments if seg]


# What a gap may contain: nothing that ends a clause (narrow) or a sentence (wide).
CLAUSE_GAP = r"[^。！？!?;；\n ,，:：、]"
SENTENCE_GAP = r"[^。！？!?;；\n]"


def gapped_regex(segments: tuple[tuple[str, ...], ...], gap: int) -> re.Pattern[str]:
    """A regular expression for a key with gaps (shortest gaps first)."""
    parts: list[str] = []
    wide = False
    for options in segments:
        if not options:
            wide = True
            continue
        if parts:
            parts.append(f"{SENTENCE_GAP}{{0,{2 * gap}}}?" if wide else f"{CLAUSE_GAP}{{0,{gap}}}?")
        wide = False
        ordered = sorted(options, key=len, reverse=True)
        parts.append("(?:" + "|".join(re.escape(opt) for opt in ordered) + ")")
    return re.compile("".join(parts))


def needs_ascii_boundary(literal: str) -> bool:
    """Literals that start or end with a Latin letter or digit must not run into more of them."""
    first, last = literal[:1], literal[-1:]
    return (first.isascii() and first.isalnum()) or (last.isascii() and last.isalnum())
