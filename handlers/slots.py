"""Which facts intake asks for, per kind and category, and how each answer is checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from nlp import extract_entities

ENFORCEMENT = ("profit_driven", "irregular", "rigid", "abusive", "rent_seeking")

# Order matters: it is the order of the questions.
SLOTS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "profit_driven": ("occurred", "place", "accused", "amount", "receipt", "own_plate"),
    "rent_seeking": ("occurred", "place", "accused", "amount", "receipt", "own_plate"),
    "irregular": ("occurred", "place", "accused", "own_plate"),
    "rigid": ("occurred", "place", "accused", "amount", "own_plate"),
    "abusive": ("occurred", "place", "accused", "own_plate"),
    "service": ("occurred", "place", "accused", "amount"),
    "infrastructure": ("place", "occurred"),
    "other": ("occurred", "place"),
}
SLOTS_BY_KIND: dict[str, tuple[str, ...]] = {
    "inquiry": (),
    "suggestion": (),
    "praise": ("accused",),
}
# Slots that "跳过" cannot skip (re-asked up to the limit, then left for staff to follow up).
REQUIRED = frozenset({"place"})
SKIP_WORDS = frozenset({"跳过", "略过", "不知道", "不清楚", "没有", "无", "skip", "none", "no"})
DONE_WORDS = frozenset({"完成", "好了", "没了", "没有了", "发完了", "就这些", "done", "ok"})

PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")


@dataclass(frozen=True)
class SlotAnswer:
    """A checked answer: the facts it sets, or the catalog key of the hint to re-ask with."""

    facts: dict[str, Any]
    retry_key: str | None = None


def slots_for(*, kind: str, category: str, anonymity: str) -> tuple[str, ...]:
    """The questions to ask for this kind of request, evidence and contact last."""
    middle = SLOTS_BY_KIND.get(kind, SLOTS_BY_CATEGORY.get(category, ("occurred", "place")))
    if anonymity == "anonymous":
        # The own plate identifies an anonymous driver; do not collect it.
        middle = tuple(s for s in middle if s != "own_plate")
    tail = ("evidence", "contact") if kind != "inquiry" else ("contact",)
    return (*middle, *tail)


def slot_question_key(slot: str, *, kind: str, anonymity: str) -> str:
    """The catalog key of the question that asks for `slot`."""
    if slot == "accused" and kind == "praise":
        return "intake.ask_accused_praise"
    if slot == "contact":
        return "intake.ask_contact_optional" if anonymity == "anonymous" else "intake.ask_contact"
    return f"intake.ask_{slot}"


def is_optional(slot: str, *, anonymity: str) -> bool:
    """Whether 跳过 may skip `slot`."""
    if slot == "contact":
        return anonymity == "anonymous"
    return slot not in REQUIRED


def facts_from_description(text: str, *, now: datetime) -> dict[str, Any]:
    """The facts a description already gives, so intake does not ask for them again."""
    found = extract_entities(text, now=now)
    facts: dict[str, Any] = {}
    past = [d for d in found.datetimes if d <= now]
    if past:
        facts["occurred_at"] = past[0].isoformat()
        facts["occurred_text"] = found.datetime_texts[0] if found.datetime_texts else ""
    places = [*found.stations, *found.routes, *found.locations]
    if places:
        facts["place_text"] = _unique_join(places)
    accused = [*found.units, *found.badges]
    if accused:
        facts["accused"] = _unique_join(accused)
    if found.badges:
        facts["badges"] = list(dict.fromkeys(found.badges))
    if found.amounts_yuan:
        facts["amount_yuan"] = str(found.amounts_yuan[0])
    if found.plates:
        facts["plates"] = list(dict.fromkeys(found.plates))
    if found.phones:
        facts["phone"] = found.phones[0]
    return facts


def filled_slots(facts: dict[str, Any]) -> set[str]:
    """Slots whose answer is already among the facts."""
    filled = set()
    for slot, fact in (
        ("occurred", "occurred_text"),
        ("place", "place_text"),
        ("accused", "accused"),
        ("amount", "amount_yuan"),
        ("receipt", "receipt"),
        ("own_plate", "own_plate"),
        ("contact", "phone"),
    ):
        if fact in facts:
            filled.add(slot)
    return filled


def check_answer(slot: str, answer: str, *, now: datetime) -> SlotAnswer:
    """Validate a typed answer to `slot`."""
    answer = answer.strip()
    if slot == "occurred":
        return _check_occurred(answer, now=now)
    if slot == "place":
        if len(answer) < 2:
            return SlotAnswer({}, "intake.ask_place_again")
        return SlotAnswer({"place_text": answer[:300]})
    if slot == "accused":
        found = extract_entities(answer, now=now)
        facts: dict[str, Any] = {"accused": answer[:300]}
        if found.badges:
            facts["badges"] = list(dict.fromkeys(found.badges))
        return SlotAnswer(facts)
    if slot == "own_plate":
        plates = extract_entities(answer, now=now).plates
        if not plates:
            return SlotAnswer({}, "intake.ask_own_plate_again")
        return SlotAnswer({"own_plate": plates[0]})
    if slot == "amount":
        return _check_amount(answer, now=now)
    if slot == "receipt":
        return _check_receipt(answer)
    if slot == "contact":
        match = PHONE_RE.search(answer.replace(" ", ""))
        if not match:
            return SlotAnswer({}, "intake.ask_contact_again")
        return SlotAnswer({"phone": match.group(1)})
    raise ValueError(f"unknown slot {slot!r}")


def _check_occurred(answer: str, *, now: datetime) -> SlotAnswer:
    found = extract_entities(answer, now=now)
    if found.datetimes:
        when = found.datetimes[0]
        if when > now:
            return SlotAnswer({}, "intake.occurred_future")
        return SlotAnswer({"occurred_at": when.isoformat(), "occurred_text": answer[:200]})
    if any(ch.isdigit() for ch in answer) or any(w in answer for w in ("前", "昨", "今", "上周")):
        # A time we cannot resolve is still a fact worth keeping as the driver wrote it.
        return SlotAnswer({"occurred_text": answer[:200]})
    return SlotAnswer({}, "intake.ask_occurred_again")


def _check_amount(answer: str, *, now: datetime) -> SlotAnswer:
    # Asked for an amount, a bare "两千" or "2000" is one, though in free text it may not be.
    amounts = (
        extract_entities(answer, now=now).amounts_yuan
        or extract_entities(f"{answer}元", now=now).amounts_yuan
    )
    if amounts:
        return SlotAnswer({"amount_yuan": str(amounts[0])})
    numbers = re.findall(r"\d+(?:\.\d+)?", answer.replace(",", ""))
    if len(numbers) != 1:  # "500 yuan" is an amount; "2 or 3 hundred" is not one we can keep
        return SlotAnswer({}, "intake.ask_amount_again")
    try:
        value = Decimal(numbers[0])
    except InvalidOperation:
        return SlotAnswer({}, "intake.ask_amount_again")
    if value < 0 or value > Decimal("100000000"):
        return SlotAnswer({}, "intake.ask_amount_again")
    return SlotAnswer({"amount_yuan": str(value)})


RECEIPT_WORDS = {
    "yes": ("开了", "有", "给了", "开票", "有票", "yes"),
    "no": ("没开", "没有", "没给", "不给", "不开", "白条", "无", "no"),
    "unknown": (
        "不清楚",
        "不知道",
        "忘了",
        "unknown",
        "not sure",
        "unsure",
        "don't know",
        "dont know",
    ),
}


def _check_receipt(answer: str) -> SlotAnswer:
    lowered = answer.lower()
    # Check the negative words first: "没有" contains "有".
    for value in ("unknown", "no", "yes"):
        if any(word in lowered for word in RECEIPT_WORDS[value]):
            return SlotAnswer({"receipt": value})
    return SlotAnswer({}, "intake.ask_receipt_again")


def _unique_join(values: list[str]) -> str:
    """Join distinct values, dropping any that another value already contains."""
    distinct = list(dict.fromkeys(v for v in values if v))
    kept = [v for v in distinct if not any(v != other and v in other for other in distinct)]
    return "、".join(kept)[:300]


def receipt_value(receipt: str | None) -> bool | None:
    """The stored form of the receipt answer."""
    return {"yes": True, "no": False}.get(receipt or "")
