"""The text catalog: zh and en agree, every key the code uses exists, every text renders."""

from __future__ import annotations

import ast
import functools
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handlers.catalog import DATA_DIR, LANGUAGES, keys, language_of, text
from storage.lifecycle import RejectReason, SupervisionLevel, TicketStatus

ROOT = Path(__file__).resolve().parents[2]
SCANNED_DIRS = ("handlers", "bot")

# Where a catalog key is passed: the argument position for these callables...
KEY_ARGUMENT: dict[str, int] = {
    "reply": 0,
    "text": 0,
    "choice": 0,
    "ActionRefused": 0,
    "_refuse": 0,
    "SlotAnswer": 1,
}
# ...and any `key=` keyword or assignment to a name or attribute called `key`.
KEY_NAME = "key"
# An f-string is a catalog key when it starts with a section name and a dot (not "hotspot:{}").
KEY_PATTERN_SHAPE = re.compile(r"[a-z_]+\.")

CATEGORIES = frozenset(
    {
        "profit_driven",
        "irregular",
        "rigid",
        "abusive",
        "rent_seeking",
        "service",
        "infrastructure",
        "other",
    }
)


def _tree(relative: str) -> ast.Module:
    """The parsed source of a project file (parsed, never imported)."""
    return ast.parse((ROOT / relative).read_text(encoding="utf-8"), filename=relative)


def _module_constant(relative: str, name: str) -> frozenset[str]:
    """A module-level literal (tuple, or dict keys) such as PAGE_TEXT_KEYS."""
    for node in _tree(relative).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return frozenset(ast.literal_eval(value))
    raise AssertionError(f"{name} not found in {relative}")


def _enum_values(relative: str, class_name: str) -> frozenset[str]:
    """The string values of an enum class, such as storage.staffing.Role."""
    for node in _tree(relative).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return frozenset(
                item.value.value
                for item in node.body
                if isinstance(item, ast.Assign)
                and isinstance(item.value, ast.Constant)
                and isinstance(item.value.value, str)
            )
    raise AssertionError(f"class {class_name} not found in {relative}")


def _argument_strings(relative: str, callee: str, position: int) -> frozenset[str]:
    """Every string constant in the `position` argument of calls to `callee` in a file."""
    found: set[str] = set()
    for node in ast.walk(_tree(relative)):
        if isinstance(node, ast.Call) and _callee(node) == callee and len(node.args) > position:
            found.update(
                part.value
                for part in ast.walk(node.args[position])
                if isinstance(part, ast.Constant) and isinstance(part.value, str)
            )
    if not found:
        raise AssertionError(f"no calls to {callee} in {relative}")
    return frozenset(found)


def _callee(call: ast.Call) -> str:
    """The bare name of what is called: `text` for both text(...) and catalog.text(...)."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


STAFF_COMMANDS = "handlers/staff_commands.py"
# Keys built by f-strings: the pattern (one {} per formatted value) and every value it takes.
KEY_PATTERNS: dict[str, frozenset[str]] = {
    "category.{}": CATEGORIES,
    "category_short.{}": CATEGORIES,
    "ticket_status.{}": frozenset(s.value for s in TicketStatus),
    "intake.privacy_{}": frozenset({"real_name", "anonymous", "confidential"}),
    "intake.receipt_{}": frozenset({"yes", "no", "unknown"}),
    "evidence_kind.{}": frozenset({"image", "video", "voice", "file"}),
    # handlers/slots.py slot_question_key; contact has its own keys.
    "intake.ask_{}": frozenset(
        {"occurred", "place", "accused", "amount", "receipt", "own_plate", "evidence"}
    ),
    # handlers/intake.py on_slot: a skipped slot that is not optional (REQUIRED, bar contact).
    "intake.ask_{}_again": frozenset({"place"}),
    "web.{}": _module_constant("bot/channels/webchat.py", "PAGE_TEXT_KEYS"),
    "staff.why_{}": _argument_strings("handlers/staff_actions.py", "_deny", 3),
    "staff.reject_{}": frozenset(r.value for r in RejectReason),
    "staff.bind_{}": _argument_strings("storage/staffing.py", "BindingRefused", 0),
    "staff.role_{}": _enum_values("storage/staffing.py", "Role"),
    # Commands that need a ticket number (handle_staff_message).
    "staff.usage_{}": _module_constant(STAFF_COMMANDS, "COMMAND_WORDS") - {"bind", "help", "todo"},
    "notice.level_{}": frozenset(
        lv.value for lv in SupervisionLevel if lv is not SupervisionLevel.NONE
    ),
    "notice.severity_{}": _module_constant("nlp/labels.py", "SEVERITIES"),
    # handlers/hot_spots.py spot_keys.
    "notice.spot_{}": frozenset({"unit", "station", "road", "badge"}),
}


@dataclass(frozen=True)
class KeyUse:
    """A catalog key (or f-string key pattern) found in the code, and where."""

    key: str
    where: str


def _templates(language: str) -> dict[str, str]:
    """The raw catalog file of `language`, flattened to {"section.key": template}."""
    with (DATA_DIR / f"catalog.{language}.toml").open("rb") as handle:
        raw = tomllib.load(handle)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for name, value in node.items():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, dict):
                walk(full, value)
            else:
                flat[full] = str(value)

    walk("", raw)
    return flat


def _placeholders(template: str) -> frozenset[str]:
    """The names of the {fields} in a format string."""
    names: set[str] = set()
    for _literal, field, _spec, _conversion in string.Formatter().parse(template):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return frozenset(names)


def _key_nodes(tree: ast.AST) -> list[ast.expr]:
    """The expressions in `tree` that are passed or assigned as a catalog key."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            position = KEY_ARGUMENT.get(_callee(node))
            if position is not None and len(node.args) > position:
                found.append(node.args[position])
            found.extend(kw.value for kw in node.keywords if kw.arg == KEY_NAME)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                for name, value in pairs:
                    if (isinstance(name, ast.Name) and name.id == KEY_NAME) or (
                        isinstance(name, ast.Attribute) and name.attr == KEY_NAME
                    ):
                        found.append(value)
    return found


def _pattern(node: ast.JoinedStr) -> str:
    """An f-string key as a pattern: f"category.{c}" -> "category.{}"."""
    return "".join(
        str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
    )


@functools.cache
def _uses() -> tuple[tuple[KeyUse, ...], tuple[KeyUse, ...]]:
    """Literal keys and f-string key patterns passed as catalog keys in handlers/ and bot/."""
    literals: list[KeyUse] = []
    patterns: list[KeyUse] = []
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = str(path.relative_to(ROOT))
            for node in _key_nodes(_tree(relative)):
                where = f"{relative}:{node.lineno}"
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    if "." in node.value:
                        literals.append(KeyUse(node.value, where))
                elif isinstance(node, ast.JoinedStr) and KEY_PATTERN_SHAPE.match(_pattern(node)):
                    patterns.append(KeyUse(_pattern(node), where))
    return tuple(literals), tuple(patterns)


def test_zh_and_en_have_the_same_keys() -> None:
    """Both catalogs define exactly the same keys, and no English text is empty."""
    zh, en = keys("zh"), keys("en")
    assert zh == en, f"missing in en: {sorted(zh - en)}; only in en (not in zh): {sorted(en - zh)}"
    empty = sorted(k for k, v in _templates("en").items() if not v.strip())
    assert not empty, f"empty English texts: {empty}"


def test_placeholders_match_between_languages() -> None:
    """Every key has the same {placeholders} in zh and en, all of them named."""
    zh, en = _templates("zh"), _templates("en")
    differ = {
        key: (sorted(_placeholders(zh[key])), sorted(_placeholders(en[key])))
        for key in sorted(zh.keys() & en.keys())
        if _placeholders(zh[key]) != _placeholders(en[key])
    }
    assert not differ, f"placeholders differ (zh, en): {differ}"
    unnamed = sorted(
        f"{language}:{key}"
        for language, catalog in (("zh", zh), ("en", en))
        for key, template in catalog.items()
        if any(name == "" or name.isdigit() for name in _placeholders(template))
    )
    assert not unnamed, f"positional placeholders cannot be filled by name: {unnamed}"


def test_literal_keys_used_in_code_exist() -> None:
    """Every literal key passed to reply/text/choice (or as a `key`) is in the zh catalog."""
    literals, _patterns = _uses()
    assert literals, "the scan found no catalog keys at all"
    defined = keys("zh")
    missing = sorted(f"{use.key} ({use.where})" for use in literals if use.key not in defined)
    assert not missing, "keys used in code but missing from catalog.zh.toml:\n" + "\n".join(missing)


def test_key_patterns_used_in_code_are_known() -> None:
    """Every f-string key in the code has its values listed in KEY_PATTERNS."""
    _literals, patterns = _uses()
    unknown = sorted(f"{use.key} ({use.where})" for use in patterns if use.key not in KEY_PATTERNS)
    assert not unknown, "f-string keys without expected values in KEY_PATTERNS:\n" + "\n".join(
        unknown
    )


@pytest.mark.parametrize("pattern", sorted(KEY_PATTERNS))
def test_patterned_keys_exist(pattern: str) -> None:
    """Every value an f-string key can take gives a key the zh catalog defines."""
    defined = keys("zh")
    missing = sorted(
        pattern.format(value)
        for value in KEY_PATTERNS[pattern]
        if pattern.format(value) not in defined
    )
    assert not missing, f"missing from catalog.zh.toml: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_renders(language: str) -> None:
    """Each text formats with a dummy value for each of its placeholders."""
    failed = []
    for key, template in sorted(_templates(language).items()):
        values = {name: f"<{name}>" for name in _placeholders(template)}
        try:
            rendered = text(key, language, **values)
        except (KeyError, IndexError, ValueError) as exc:
            failed.append(f"{key}: {exc!r}")
            continue
        if values:
            assert all(v in rendered for v in values.values()), key
    assert not failed, f"{language} texts that do not render: {failed}"


def test_language_of_maps_platform_codes() -> None:
    """Platform language codes map to a catalog language, zh by default."""
    assert language_of("en-US") == "en"
    assert language_of("zh-hans") == "zh"
    assert language_of(None) == "zh"
