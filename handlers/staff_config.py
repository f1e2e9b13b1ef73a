"""The city configuration file: units, staff and routing rules (see docs/city.sample.toml).

`load_config` reads and checks the whole file first and reports every problem as
`file:line: problem`; `apply_config` then writes it in the caller's one transaction, so a bad
file changes nothing. Units and staff missing from the file are deactivated (the file is the
whole truth: someone who left loses access), never deleted. Chat ids bound with
`staff bind` are kept when the file does not name them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from nlp.labels import CATEGORIES, DOMAINS, SUBCATEGORIES
from storage.models import Staff, Unit
from storage.staffing import (
    Role,
    RuleSpec,
    apply_fields,
    deactivate_missing,
    replace_routing_rules,
    unit_by_code,
    upsert_staff,
    upsert_unit,
)

UNIT_KINDS = ("city", "brigade", "squadron", "station", "legal", "discipline", "office", "unit")
CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
TOP_KEYS = frozenset({"routing", "units", "staff", "rules"})
UNIT_KEYS = frozenset(
    {"code", "name", "kind", "parent", "supervising", "region", "aliases", "stations", "active"}
)
STAFF_KEYS = frozenset(
    {"username", "name", "role", "unit", "telegram_chat_id", "wechat_openid", "on_duty", "active"}
)
RULE_KEYS = frozenset(
    {"priority", "unit", "category", "subcategory", "domain", "region", "station"}
)


class ConfigError(Exception):
    """The configuration file is not usable; `problems` are 'file:line: problem' lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class CityConfig:
    """A checked configuration, ready to apply."""

    units: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    default_unit: str | None = None


@dataclass
class ImportReport:
    """What an import changed, per kind of row: created/updated/unchanged/deactivated."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        """Count `n` rows of `kind` with `outcome`."""
        bucket = self.counts.setdefault(kind, {})
        bucket[outcome] = bucket.get(outcome, 0) + n

    @property
    def changed(self) -> bool:
        """Whether the import wrote anything."""
        return any(n for c in self.counts.values() for k, n in c.items() if k != "unchanged")


class _Lines:
    """Line numbers of array entries and their keys, found in the raw text (tomllib has none)."""

    def __init__(self, raw: str) -> None:
        self.keys: dict[tuple[str, int], dict[str, int]] = {("", 0): {}}
        self.heads: dict[tuple[str, int], int] = {}
        seen: dict[str, int] = {}
        current = ("", 0)
        for number, line in enumerate(raw.splitlines(), start=1):
            stripped = line.strip()
            if match := re.match(r"\[\[\s*([A-Za-z_]+)\s*\]\]", stripped):
                name = match.group(1)
                current = (name, seen.get(name, 0))
                seen[name] = current[1] + 1
            elif match := re.match(r"\[\s*([A-Za-z_]+)\s*\]", stripped):
                current = (match.group(1), 0)
            elif match := re.match(r"([A-Za-z_][A-Za-z0-9_-]*)\s*=", stripped):
                self.keys.setdefault(current, {}).setdefault(match.group(1), number)
                continue
            else:
                continue
            self.heads.setdefault(current, number)
            self.keys.setdefault(current, {})

    def at(self, table: str, index: int = 0, key: str | None = None) -> int:
        """The line of `key` in the index-th `[[table]]` (or of its header)."""
        found = self.keys.get((table, index), {})
        return found.get(key or "", self.heads.get((table, index), 1))


def load_config(path: Path) -> CityConfig:
    """Read and check a configuration file; raises ConfigError listing every problem."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}:1: cannot read the file ({exc})"]) from None
    return parse_config(raw, source=str(path))


def parse_config(raw: str, *, source: str) -> CityConfig:
    """Check the text of a configuration file; raises ConfigError listing every problem."""
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError([f"{source}:{match.group(1) if match else 1}: {exc}"]) from None
    lines = _Lines(raw)
    problems: list[str] = []

    def bad(line: int, message: str) -> None:
        """Collect one problem: every problem is reported, not just the first."""
        problems.append(f"{source}:{line}: {message}")

    for key in sorted(set(data) - TOP_KEYS):
        bad(lines.at("", 0, key), f"unknown section {key!r}; expected {sorted(TOP_KEYS)}")
    config = CityConfig()
    units = _entries(data, "units", UNIT_KEYS, lines, bad)
    codes: dict[str, int] = {}
    for i, unit in units:
        code = unit.get("code")
        if not isinstance(code, str) or not CODE_RE.fullmatch(code):
            bad(lines.at("units", i, "code"), f"unit code {code!r} must be 1-64 letters/digits/-_")
            continue
        if code in codes:
            bad(
                lines.at("units", i, "code"),
                f"duplicate unit code {code!r} (first on line "
                f"{lines.at('units', codes[code], 'code')})",
            )
            continue
        codes[code] = i
        if not isinstance(unit.get("name"), str) or not unit["name"].strip():
            bad(lines.at("units", i), f"unit {code!r} needs a name")
        if unit.get("kind", "unit") not in UNIT_KINDS:
            bad(
                lines.at("units", i, "kind"),
                f"unknown unit kind {unit.get('kind')!r}; expected one of {', '.join(UNIT_KINDS)}",
            )
        for list_key in ("aliases", "stations"):
            value = unit.get(list_key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                bad(lines.at("units", i, list_key), f"{list_key} must be a list of names")
        config.units.append(unit)
    for i, unit in units:
        for ref in ("parent", "supervising"):
            target = unit.get(ref)
            if target is not None and target not in codes:
                bad(lines.at("units", i, ref), f"unknown unit {target!r} in {ref}")
            elif target is not None and target == unit.get("code"):
                bad(lines.at("units", i, ref), f"unit {target!r} cannot be its own {ref}")
    _check_cycles(units, codes, lines, bad)

    usernames: dict[str, int] = {}
    accounts: dict[tuple[str, str], str] = {}
    for i, person in _entries(data, "staff", STAFF_KEYS, lines, bad):
        name = person.get("username")
        if not isinstance(name, str) or not USERNAME_RE.fullmatch(name):
            bad(lines.at("staff", i, "username"), f"bad or missing username {name!r}")
            continue
        if name in usernames:
            bad(lines.at("staff", i, "username"), f"duplicate username {name!r}")
            continue
        usernames[name] = i
        role = person.get("role")
        if role not in {r.value for r in Role}:
            bad(
                lines.at("staff", i, "role"),
                f"unknown role {role!r}; expected one of {', '.join(r.value for r in Role)}",
            )
        home = person.get("unit")
        if home is None and role != Role.ADMIN:
            bad(lines.at("staff", i), f"staff {name!r} needs a unit")
        elif home is not None and home not in codes:
            bad(lines.at("staff", i, "unit"), f"unknown unit {home!r} for staff {name!r}")
        for channel, key in (("telegram", "telegram_chat_id"), ("wechat", "wechat_openid")):
            account = person.get(key)
            if account is None:
                continue
            if isinstance(account, bool) or not isinstance(account, int | str) or not str(account):
                bad(lines.at("staff", i, key), f"{key} must be a number or text")
                continue
            person[key] = str(account)
            holder = accounts.setdefault((channel, str(account)), name)
            if holder != name:
                bad(lines.at("staff", i, key), f"{key} already belongs to {holder!r}")
        for flag in ("on_duty", "active"):
            if not isinstance(person.get(flag, False), bool):
                bad(lines.at("staff", i, flag), f"{flag} must be true or false")
        config.staff.append(person)

    for i, rule in _entries(data, "rules", RULE_KEYS, lines, bad):
        if rule.get("unit") not in codes:
            bad(lines.at("rules", i, "unit"), f"unknown unit {rule.get('unit')!r} in rule")
        checks = (("category", CATEGORIES), ("subcategory", SUBCATEGORIES), ("domain", DOMAINS))
        for key, allowed in checks:
            if key in rule and rule[key] not in allowed:
                bad(lines.at("rules", i, key), f"unknown {key} {rule[key]!r}")
        rule.setdefault("priority", (i + 1) * 10)
        if isinstance(rule["priority"], bool) or not isinstance(rule["priority"], int):
            bad(lines.at("rules", i, "priority"), "priority must be a whole number")
        config.rules.append(rule)

    routing = data.get("routing", {})
    if not isinstance(routing, dict):
        bad(lines.at("routing"), "[routing] must be a table")
    else:
        for key in sorted(set(routing) - {"default_unit"}):
            bad(lines.at("routing", 0, key), f"unknown routing setting {key!r}")
        config.default_unit = routing.get("default_unit")
        if config.default_unit is not None and config.default_unit not in codes:
            bad(lines.at("routing", 0, "default_unit"), f"unknown unit {config.default_unit!r}")
    if problems:
        raise ConfigError(problems)
    return config


def _entries(
    data: dict[str, Any], table: str, allowed: frozenset[str], lines: _Lines, bad: Any
) -> list[tuple[int, dict[str, Any]]]:
    value = data.get(table, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        bad(lines.at("", 0, table), f"{table} must be written as [[{table}]] tables")
        return []
    for i, entry in enumerate(value):
        for key in sorted(set(entry) - allowed):
            bad(lines.at(table, i, key), f"unknown key {key!r} in [[{table}]]")
    return list(enumerate(value))


def _check_cycles(
    units: list[tuple[int, dict[str, Any]]], codes: dict[str, int], lines: _Lines, bad: Any
) -> None:
    parents = {u.get("code"): u.get("parent") for _, u in units}
    for i, unit in units:
        seen, code = set(), unit.get("code")
        while code is not None and code not in seen:
            seen.add(code)
            code = parents.get(code)
        if code is not None and code == unit.get("code"):
            bad(lines.at("units", i, "parent"), f"unit {code!r} is inside itself (parent cycle)")


def apply_config(session: Session, *, config: CityConfig, now: datetime) -> ImportReport:
    """Write a checked configuration in the caller's transaction and count what changed."""
    report = ImportReport()
    ids: dict[str, int] = {}
    outcomes: dict[str, str] = {}
    # Two passes: units first, then the links between them (a parent may come later).
    for unit in config.units:
        values = {
            "name": unit["name"].strip(),
            "kind": unit.get("kind", "unit"),
            "region": unit.get("region", ""),
            "aliases": list(unit.get("aliases", [])),
            "stations": list(unit.get("stations", [])),
            "active": unit.get("active", True),
        }
        row, outcomes[unit["code"]] = upsert_unit(session, code=unit["code"], values=values)
        assert row.id is not None
        ids[unit["code"]] = row.id
    for unit in config.units:
        stored = unit_by_code(session, code=unit["code"])
        assert stored is not None
        links = {
            "parent_id": ids.get(unit.get("parent", "")),
            "supervising_unit_id": ids.get(unit.get("supervising", "")),
        }
        if apply_fields(stored, links) and outcomes[unit["code"]] == "unchanged":
            outcomes[unit["code"]] = "updated"
        report.add("units", outcomes[unit["code"]])
    session.flush()
    for person in config.staff:
        fields: dict[str, Any] = {
            "display_name": person.get("name") or person["username"],
            "role": person["role"],
            "unit_id": ids.get(person.get("unit", "")),
            "on_duty": person.get("on_duty", False),
            "active": person.get("active", True),
        }
        for key in ("telegram_chat_id", "wechat_openid"):
            if key in person:
                fields[key] = person[key]
        _, outcome = upsert_staff(session, username=person["username"], values=fields)
        report.add("staff", outcome)
    report.add("units", "deactivated", deactivate_missing(session, model=Unit, keep=ids))
    keep = [p["username"] for p in config.staff]
    report.add("staff", "deactivated", deactivate_missing(session, model=Staff, keep=keep))
    specs = [
        RuleSpec(
            priority=r["priority"],
            unit_id=ids[r["unit"]],
            **{k: r.get(k) for k in ("category", "subcategory", "domain", "region", "station")},
        )
        for r in config.rules
    ]
    if config.default_unit is not None:
        # The default is a catch-all rule tried after every specific rule and the place.
        specs.append(RuleSpec(priority=1_000_000, unit_id=ids[config.default_unit]))
    created, removed, unchanged = replace_routing_rules(session, rules=specs, now=now)
    report.add("rules", "created", created)
    report.add("rules", "removed", removed)
    report.add("rules", "unchanged", unchanged)
    session.flush()
    return report
