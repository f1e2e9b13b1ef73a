"""The keyword lexicon: TOML data files, merged, validated, with errors that name file and line."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.labels import SECTION_CODES, SEVERITIES
from nlp.patterns import PatternError, parse_pattern

DATA_DIR = Path(__file__).parent / "data"
BASE_LEXICON_DIR = DATA_DIR / "lexicon"
USERDICT_PATH = DATA_DIR / "userdict.txt"

KEYWORD_SECTIONS = (
    "kind",
    "category",
    "subcategory",
    "domain",
    "trigger",
    "jurisdiction",
    "context",
)
TOP_LEVEL = frozenset({*KEYWORD_SECTIONS, "settings", "aliases", "tokenizer", "entities", "meta"})
TRIGGER_META = frozenset({"severity", "emergency", "call", "min_score", "requires_category"})
JURISDICTION_META = frozenset({"min_score", "channel"})


class LexiconError(Exception):
    """A lexicon file cannot be used; str() is `file:line: problem`."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Tunable numbers of the classifier; every one can be overridden in a lexicon file."""

    uncertain_threshold: float = 0.45
    gap: int = 8
    decay: float = 0.6
    context_damping: float = 0.5
    max_chars: int = 5000
    category_min: float = 1.5
    topic_min: float = 1.0
    inquiry_topic_min: float = 2.0
    rent_seeking_min: float = 2.5
    violence_abusive: float = 2.0  # abusive evidence from a fired violence/threat/restraint
    domain_min: float = 2.0
    question_weight: float = 1.5
    high_amount_yuan: float = 0.0
    long_detention_days: int = 3
    category_severity: dict[str, str] = field(default_factory=lambda: {"rent_seeking": "high"})
    negators: tuple[str, ...] = ("没", "没有", "不", "未", "别", "无")
    negation_fillers: tuple[str, ...] = ("也", "都", "并", "还", "可", "从来", "根本")
    rhetorical_markers: tuple[str, ...] = ("吗", "么", "是啥", "是什么", "?")
    model_weight: float = 0.0  # share of the n-gram model in a weak category decision
    model_kind_weight: float = 0.0  # the same for a weak kind decision
    model_gate: float = 0.45  # keyword confidence below which the model is consulted
    model_strong: float = 3.0  # a keyword category score this high is never blended
    model_urgent_min: float = 2.0  # model posterior that raises to urgent (above 1: never)


@dataclass(frozen=True, slots=True)
class Entry:
    """One keyword of one label, with where it came from."""

    section: str
    label: str
    key: str
    weight: float
    negate: bool
    segments: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Trigger:
    """A severity trigger group (injury, threat, mass incident, ...)."""

    name: str
    severity: str
    emergency: bool = False
    call: tuple[str, ...] = ()
    min_score: float = 1.0
    requires_category: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A body other than transport enforcement that a message belongs to."""

    name: str
    min_score: float = 3.0
    channel: str = ""


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Everything the classifier and the entity extractor read from data files."""

    entries: tuple[Entry, ...]
    settings: Settings
    triggers: dict[str, Trigger]
    jurisdictions: dict[str, Jurisdiction]
    aliases: dict[str, str]
    words: tuple[str, ...]
    platforms: dict[str, str]
    sources: tuple[Path, ...]


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """The line of `key` inside `[table]` (or of the table header), found by scanning."""
    current = ""
    header = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        found = header.match(line)
        if found:
            current = ".".join(p.strip().strip('"') for p in found.group(1).split("."))
            if key is None and (current == table or current.startswith(table + ".")):
                return number
            continue
        if key is not None and current == table:
            stripped = line.strip()
            if stripped.startswith((f'"{key}"', f"'{key}'", f"{key} ", f"{key}=")):
                return number
    return None


class _FileChecker:
    """Validates one parsed file, raising LexiconError with the line of the problem."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: str, key: str | None, problem: str) -> LexiconError:
        line = _line_of(self.text, table, key) or _line_of(self.text, table, None)
        return LexiconError(self.path, line, problem)

    def number(self, table: str, key: str, value: object, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(table, key, f"{key!r}: expected a number, got {value!r}")
        if not low <= float(value) <= high:
            raise self.fail(table, key, f"{key!r}: {value} is outside {low}..{high}")
        return float(value)

    def keywords(self, section: str, label: str, table: object) -> list[Entry]:
        name = f"{section}.{label}.keywords"
        if not isinstance(table, dict):
            raise self.fail(name, None, f"[{name}] must be a table of keyword = weight")
        entries = []
        for key, value in table.items():
            negate = True
            if isinstance(value, dict):
                unknown = set(value) - {"weight", "negate"}
                if unknown or "weight" not in value:
                    raise self.fail(name, key, f"{key!r}: use {{ weight = 2, negate = false }}")
                negate = value.get("negate", True)
                if not isinstance(negate, bool):
                    raise self.fail(name, key, f"{key!r}: negate must be true or false")
                value = value["weight"]
            weight = self.number(name, key, value, -10, 10)
            try:
                segments = parse_pattern(key)
            except PatternError as exc:
                raise self.fail(name, key, f"bad keyword {key!r}: {exc}") from None
            entries.append(Entry(section, label, key, weight, negate, segments))
        return entries

    def label_table(self, section: str, label: str, body: object) -> dict[str, Any]:
        codes = SECTION_CODES.get(section)
        if codes is not None and label not in codes:
            known = ", ".join(codes)
            raise self.fail(f"{section}.{label}", None, f"unknown {section} {label!r} ({known})")
        if not isinstance(body, dict):
            raise self.fail(section, label, f"[{section}.{label}] must be a table")
        allowed = (
            {"keywords"}
            | (TRIGGER_META if section == "trigger" else set())
            | (JURISDICTION_META if section == "jurisdiction" else set())
        )
        for key in body:
            if key not in allowed:
                raise self.fail(f"{section}.{label}", key, f"unknown key {key!r}")
        return body

    def trigger(self, name: str, body: dict[str, Any], old: Trigger | None) -> Trigger:
        table = f"trigger.{name}"
        base = old or Trigger(name, "")
        severity = body.get("severity", base.severity)
        if severity not in SEVERITIES[:2]:
            raise self.fail(table, "severity", f"trigger {name!r}: severity must be urgent or high")
        changes: dict[str, Any] = {"severity": severity}
        if "emergency" in body:
            changes["emergency"] = bool(body["emergency"])
        if "call" in body:
            changes["call"] = tuple(str(c) for c in body["call"])
        if "min_score" in body:
            changes["min_score"] = self.number(table, "min_score", body["min_score"], 0, 100)
        if "requires_category" in body:
            changes["requires_category"] = tuple(body["requires_category"])
        return dataclasses.replace(base, **changes)

    def settings(self, body: object, old: Settings) -> Settings:
        if not isinstance(body, dict):
            raise self.fail("settings", None, "[settings] must be a table")
        known = {f.name: f for f in dataclasses.fields(Settings)}
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if key not in known:
                raise self.fail("settings", key, f"unknown setting {key!r}")
            current = getattr(old, key)
            if isinstance(current, tuple):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise self.fail("settings", key, f"{key!r}: expected a list of strings")
                changes[key] = tuple(value)
            elif isinstance(current, dict):
                if not isinstance(value, dict) or not all(v in SEVERITIES for v in value.values()):
                    raise self.fail("settings", key, f"{key!r}: expected category = severity")
                changes[key] = dict(value)
            else:
                number = self.number("settings", key, value, 0, 1_000_000)
                changes[key] = int(number) if isinstance(current, int) else number
        return dataclasses.replace(old, **changes)


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LexiconError(path, None, f"cannot read: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise LexiconError(path, int(found.group(1)) if found else None, str(exc)) from None


def base_files() -> list[Path]:
    """The shipped lexicon files, merged in name order."""
    return sorted(BASE_LEXICON_DIR.glob("*.toml"))


def load_lexicon(extra_path: Path | None = None) -> Lexicon:
    """Load the shipped lexicon, then an administrator's file that extends or overrides it."""
    paths = base_files()
    if extra_path is not None:
        extra = Path(extra_path)
        if not extra.is_file():
            raise LexiconError(extra, None, "lexicon file not found")
        paths.append(extra)
    entries: dict[tuple[str, str, str], Entry] = {}
    settings = Settings()
    triggers: dict[str, Trigger] = {}
    jurisdictions: dict[str, Jurisdiction] = {}
    aliases: dict[str, str] = {}
    words: list[str] = []
    platforms: dict[str, str] = {}
    for path in paths:
        text, data = _read(path)
        check = _FileChecker(path, text)
        for top in data:
            if top not in TOP_LEVEL:
                raise check.fail(top, None, f"unknown table [{top}]")
        if "settings" in data:
            settings = check.settings(data["settings"], settings)
        for typo, word in dict(data.get("aliases", {})).items():
            if not isinstance(word, str) or len(word) != len(typo):
                raise check.fail("aliases", typo, f"alias {typo!r} must map to a same-length word")
            aliases[typo.lower()] = word.lower()
        tokenizer = dict(data.get("tokenizer", {}))
        words.extend(str(w) for w in tokenizer.get("words", []))
        platforms.update(
            {
                str(k).lower(): str(v)
                for k, v in dict(data.get("entities", {})).get("platforms", {}).items()
            }
        )
        for section in KEYWORD_SECTIONS:
            for label, body in dict(data.get(section, {})).items():
                table = check.label_table(section, label, body)
                if section == "trigger":
                    triggers[label] = check.trigger(label, table, triggers.get(label))
                elif section == "jurisdiction":
                    old = jurisdictions.get(label, Jurisdiction(label))
                    jurisdictions[label] = Jurisdiction(
                        label,
                        float(table.get("min_score", old.min_score)),
                        str(table.get("channel", old.channel)),
                    )
                for entry in check.keywords(section, label, table.get("keywords", {})):
                    entries[(section, label, entry.key)] = entry
    kept = tuple(e for e in entries.values() if e.weight != 0)  # weight 0 removes a keyword
    for entry in kept:
        if entry.section == "trigger" and entry.label not in triggers:
            raise LexiconError(paths[-1], None, f"trigger {entry.label!r} has no severity")
    return Lexicon(
        entries=kept,
        settings=settings,
        triggers=triggers,
        jurisdictions=jurisdictions,
        aliases=aliases,
        words=tuple(dict.fromkeys(words)),
        platforms=platforms,
        sources=tuple(paths),
    )
