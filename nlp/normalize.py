"""Text normalisation that keeps every character at its offset (one char in, one char out).

Keeping offsets lets entity spans found in the normalised text be reported as the driver
wrote them, and lets negation look at the characters just before a keyword.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import opencc

# Sentence and clause breaks. Drivers use spaces as commas, so a space ends a clause too.
CLAUSE_BREAKS = frozenset(" ,.!?;:。，！？；：、\n…~")
SENTENCE_BREAKS = frozenset("。！？!?;；\n")


def _opencc_chars() -> dict[int, str]:
    """Traditional -> simplified, single characters only, from opencc's own dictionary."""
    path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    table: dict[int, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            source, _, targets = line.rstrip("\n").partition("\t")
            first = targets.split(" ")[0] if targets else ""
            if len(source) == 1 and len(first) == 1 and source != first:
                table[ord(source)] = first
    return table


@functools.cache
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """(display, match) translation tables, built once per process."""
    display: dict[int, str] = dict(_opencc_chars())
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII block
        display[code] = chr(code - 0xFEE0)
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA1)]:
        display[code] = " "  # control characters and NBSP become plain spaces
    for code in (0x3000, 0x1680, *range(0x2000, 0x200E), 0x2028, 0x2029, 0x202F, 0x205F, 0xFEFF):
        display[code] = " "
    for code in range(0xD800, 0xE000):
        display[code] = "\ufffd"  # lone surrogates (undecodable bytes) cannot be printed
    # Common variant forms drivers' keyboards produce.
    display.update({ord("￥"): "¥", ord("－"): "-", ord("—"): "-", ord("•"): "·"})
    display.update({ord("・"): "·", ord("．"): "."})
    match = dict(display)
    for code in range(ord("A"), ord("Z") + 1):
        match[code] = chr(code + 32)
    for code in range(0xFF21, 0xFF3B):  # full-width capitals straight to lower case
        match[code] = chr(code - 0xFEE0 + 32)
    return display, match


@dataclass(frozen=True, slots=True)
class NormalText:
    """The input in two aligned forms: `display` keeps case, `match` is lower-case."""

    raw: str
    display: str
    match: str


def normalize(text: str, *, max_chars: int | None = None) -> NormalText:
    """Full-width to half-width, traditional to simplified, controls to spaces; 1:1 offsets."""
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars]
    display_table, match_table = _tables()
    return NormalText(text, text.translate(display_table), text.translate(match_table))


def to_simplified(text: str) -> str:
    """Traditional characters to simplified (character level, as used for matching)."""
    return text.translate(_tables()[0])


def clause_start(text: str, index: int) -> int:
    """Index of the first character of the clause holding `index`."""
    i = index
    while i > 0 and text[i - 1] not in CLAUSE_BREAKS:
        i -= 1
    return i


def clause_end(text: str, index: int) -> int:
    """Index just past the clause holding `index`."""
    i = index
    while i < len(text) and text[i] not in CLAUSE_BREAKS:
        i += 1
    return i
