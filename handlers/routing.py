"""Which unit handles a new ticket, under the conflict and confidentiality rules (DOMAIN.md §9).

Order of the rules:
1. traffic-police matters are out of jurisdiction: no unit;
2. rent_seeking and other discipline clues go to the discipline unit, sealed;
3. a complaint naming a unit (deep-link code, or a unit's name, alias or station found in the
   accused or, for enforcement categories, the place text) goes to that unit's supervising
   body, never to the unit itself;
4. routing rules that match on category, subcategory, domain, region or station, by priority;
5. the unit whose name or station appears in the place;
6. catch-all rules (no match field set): the configured default unit.
"""

from __future__ import annotations

import dataclasses
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage.lifecycle import Action
from storage.models import Ticket, Unit
from storage.models_ops import RoutingRule
from storage.staffing import active_units, routing_rules, supervising_unit
from storage.tickets import TicketDraft, apply_action

log = logging.getLogger(__name__)

ENFORCEMENT_CATEGORIES = frozenset(
    {"profit_driven", "irregular", "rigid", "abusive", "rent_seeking"}
)
DISCIPLINE_CATEGORIES = frozenset({"rent_seeking"})
DISCIPLINE_UNIT_KIND = "discipline"


@dataclass(frozen=True)
class RoutingDecision:
    """Where a ticket goes and why; `accused_unit_id` is the unit complained about."""

    unit_id: int | None
    sealed: bool
    accused_unit_id: int | None
    reason: str  # out_of_jurisdiction, discipline, conflict, rule, place, default, unrouted


def text_key(text: str | None) -> str:
    """Compare names without case, width, spaces or punctuation: 'G4 京港澳' == 'g4京港澳'."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if ch.isalnum())


class UnitIndex:
    """Units found by name, alias or patch station inside free text."""

    def __init__(self, units: list[Unit]) -> None:
        self.by_id = {u.id: u for u in units if u.id is not None}
        self.by_code = {u.code: u for u in units}
        # (key, unit, own name?) — a unit's own names beat stations listed in a patch.
        self._names: list[tuple[str, Unit, bool]] = []
        for unit in units:
            for name in (unit.name, *unit.aliases):
                if text_key(name):
                    self._names.append((text_key(name), unit, True))
            for station in unit.stations:
                if text_key(station):
                    self._names.append((text_key(station), unit, False))

    def find(self, text: str | None) -> Unit | None:
        """The unit `text` names: own names first, then the most specific, then the first."""
        haystack = text_key(text)
        if not haystack:
            return None
        for own in (True, False):
            hits: dict[int, tuple[int, int]] = {}
            for key, unit, is_own in self._names:
                at = haystack.find(key)
                if is_own == own and at >= 0 and unit.id is not None:
                    hits[unit.id] = min(hits.get(unit.id, (at, -len(key))), (at, -len(key)))
            # "支队二大队" names 支队 and 二大队: the unit meant is the one deeper in the tree.
            enclosing = {a for u in hits for a in self._ancestors(u)}
            specific = {u: pos for u, pos in hits.items() if u not in enclosing}
            if specific:
                return self.by_id[min(specific, key=lambda u: specific[u])]
        return None

    def _ancestors(self, unit_id: int) -> set[int]:
        found: set[int] = set()
        parent = self.by_id[unit_id].parent_id if unit_id in self.by_id else None
        while parent is not None and parent not in found:
            found.add(parent)
            parent = self.by_id[parent].parent_id if parent in self.by_id else None
        return found

    def discipline_unit(self) -> Unit | None:
        """The discipline inspection unit (纪检组), if configured."""
        return next((u for u in self.by_id.values() if u.kind == DISCIPLINE_UNIT_KIND), None)


def _matchers(rule: RoutingRule) -> tuple[str | None, ...]:
    return (rule.category, rule.subcategory, rule.domain, rule.region, rule.station)


def _rule_matches(rule: RoutingRule, *, facts: dict[str, str | None], place: str) -> bool:
    for field in ("category", "subcategory", "domain", "region"):
        wanted = getattr(rule, field)
        if wanted is not None and wanted != facts[field]:
            return False
    return rule.station is None or (
        bool(text_key(rule.station)) and text_key(rule.station) in place
    )


def route(
    session: Session,
    *,
    category: str,
    subcategory: str | None,
    domain: str | None,
    place_text: str | None,
    accused_text: str | None,
    source_unit_code: str | None,
    region: str | None,
    classifier_category: str | None = None,
    out_of_jurisdiction: str | None = None,
) -> RoutingDecision:
    """Decide the handling unit of a new ticket (see the module docstring for the order)."""
    if out_of_jurisdiction:
        return RoutingDecision(None, False, None, "out_of_jurisdiction")
    index = UnitIndex(active_units(session))
    enforcement = category in ENFORCEMENT_CATEGORIES
    linked = index.by_code.get(source_unit_code) if source_unit_code else None
    named = index.find(accused_text)
    at_place = linked or index.find(place_text)
    accused = named or (at_place if enforcement else None)
    accused_id = accused.id if accused is not None else None

    # The classifier's own reading counts too: a driver re-picking the category must not
    # take a bribery clue out of the discipline inspectors' hands.
    if category in DISCIPLINE_CATEGORIES or classifier_category in DISCIPLINE_CATEGORIES:
        unit = index.discipline_unit()
        if unit is None:
            log.warning("no discipline unit configured: sealed ticket left unrouted")
        return RoutingDecision(unit.id if unit else None, True, accused_id, "discipline")

    rules = routing_rules(session)
    if accused is not None and accused.id is not None:
        body = supervising_unit(session, unit_id=accused.id)
        target = body.id if body is not None else _default(rules, avoid=accused.id)
        if target is None:
            log.warning("unit %s has no supervising body: ticket left unrouted", accused.code)
            return RoutingDecision(None, False, accused_id, "unrouted")
        return RoutingDecision(target, False, accused_id, "conflict")

    facts = {
        "category": category,
        "subcategory": subcategory,
        "domain": domain,
        "region": region or (at_place.region if at_place is not None else None) or None,
    }
    place = text_key(place_text)
    for rule in rules:
        if any(m is not None for m in _matchers(rule)) and _rule_matches(
            rule, facts=facts, place=place
        ):
            return RoutingDecision(rule.unit_id, False, None, "rule")
    if at_place is not None and at_place.id is not None:
        return RoutingDecision(at_place.id, False, None, "place")
    target = _default(rules, avoid=None)
    if target is not None:
        return RoutingDecision(target, False, None, "default")
    return RoutingDecision(None, False, None, "unrouted")


def _default(rules: list[RoutingRule], *, avoid: int | None) -> int | None:
    """The first catch-all rule's unit, skipping the accused unit."""
    for rule in rules:
        if all(m is None for m in _matchers(rule)) and rule.unit_id != avoid:
            return rule.unit_id
    return None


def route_draft(
    session: Session, *, draft: TicketDraft, data: dict[str, Any]
) -> tuple[TicketDraft, RoutingDecision]:
    """Route a finished intake: the draft with its unit and seal set, and the decision."""
    facts: dict[str, Any] = data.get("facts", {})
    classification: dict[str, Any] = data.get("classification", {})
    decision = route(
        session,
        category=draft.category,
        subcategory=draft.subcategory,
        domain=draft.domain,
        place_text=draft.place_text,
        accused_text=facts.get("accused"),
        source_unit_code=data.get("unit_code"),
        region=data.get("region"),
        classifier_category=classification.get("category"),
        out_of_jurisdiction=draft.out_of_jurisdiction,
    )
    routed = dataclasses.replace(
        draft, unit_id=decision.unit_id, sealed=draft.sealed or decision.sealed
    )
    return routed, decision


def record_decision(
    session: Session, *, ticket: Ticket, decision: RoutingDecision, now: datetime
) -> Ticket:
    """Keep the accused unit on the ticket and the routing reason in its audit trail."""
    if decision.accused_unit_id is not None:
        ticket.accused_unit_id = decision.accused_unit_id
        session.add(ticket)
        session.flush()
    log.info("routed %s: %s", ticket.ticket_no, decision.reason)
    return apply_action(
        session,
        ticket_no=ticket.ticket_no,
        action=Action.ASSIGN,
        actor="system",
        now=now,
        data={
            "routing": decision.reason,
            "unit_id": decision.unit_id,
            "accused_unit_id": decision.accused_unit_id,
            "sealed": decision.sealed,
        },
    )
