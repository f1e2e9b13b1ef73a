"""The facts gathered during intake, as short labelled phrases for the driver to check."""

from __future__ import annotations

from typing import Any

from handlers.catalog import text

FACT_ORDER = (
    "occurred_text",
    "place_text",
    "accused",
    "plates",
    "amount_yuan",
    "receipt",
    "own_plate",
    "phone",
)
FACT_KEYS = {
    "occurred_text": "fact.occurred",
    "place_text": "fact.place",
    "accused": "fact.accused",
    "plates": "fact.plates",
    "amount_yuan": "fact.amount",
    "receipt": "fact.receipt",
    "own_plate": "fact.own_plate",
    "phone": "fact.contact",
}


def describe_facts(facts: dict[str, Any], lang: str, *, separator: str = "") -> str:
    """The known facts as short labelled phrases, for the driver to check."""
    parts = []
    for name in FACT_ORDER:
        value = facts.get(name)
        if value in (None, "", []):
            continue
        if name == "plates":
            value = "、".join(value)
        elif name == "receipt":
            value = text(f"intake.receipt_{value}", lang)
        parts.append(text(FACT_KEYS[name], lang, value=value))
    return (separator or text("fact.separator", lang)).join(parts)
