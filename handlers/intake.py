"""The guided complaint intake: privacy, description, category, facts, summary, filing."""

from __future__ import annotations

from typing import Any

from handlers.catalog import choice, reply, text
from handlers.context import StepContext
from handlers.facts import describe_facts
from handlers.filing import submit
from handlers.messages import Choice, IncomingMessage, Reply, StepResult
from handlers.slots import (
    DONE_WORDS,
    SKIP_WORDS,
    check_answer,
    facts_from_description,
    filled_slots,
    is_optional,
    slot_question_key,
    slots_for,
)
from nlp import classify

CATEGORIES = (
    "profit_driven",
    "irregular",
    "rigid",
    "abusive",
    "rent_seeking",
    "service",
    "infrastructure",
    "other",
)
PRIVACY_MODES = ("real_name", "anonymous", "confidential")
MIN_DESCRIPTION_CHARS = 4


def start(
    ctx: StepContext,
    *,
    description: str = "",
    prefill: dict[str, Any] | None = None,
    source_label: str = "",
) -> StepResult:
    """Begin a new intake; free text that started it becomes the description."""
    lang = ctx.language
    data: dict[str, Any] = {
        "description": "",
        "facts": dict(prefill or {}),
        "attachments": [],
        "replies_prefix": [],
    }
    replies = [reply("intake.start", lang)]
    if source_label:
        replies.append(reply("intake.prefill", lang, source=source_label))
    if description:
        replies.extend(_take_description(ctx, data, description))
        if data.get("aborted"):
            return StepResult(replies=replies, state="idle", data={})
    replies.append(_ask_privacy(lang))
    return StepResult(replies=replies, state="intake.privacy", data=data)


def _ask_privacy(lang: str) -> Reply:
    return reply(
        "intake.ask_privacy",
        lang,
        choices=tuple(choice(f"intake.privacy_{m}", m, lang) for m in PRIVACY_MODES),
    )


def on_privacy(ctx: StepContext, data: dict[str, Any], picked: str | None) -> StepResult:
    """Record 实名 / 匿名 / 保密, then go on to the description or its confirmation."""
    lang = ctx.language
    if picked not in PRIVACY_MODES:
        again = reply("intake.ask_privacy_again", lang, choices=_ask_privacy(lang).choices)
        return StepResult(replies=[again], state="intake.privacy", data=data)
    data["anonymity"] = picked
    if data.get("classification"):
        return _confirm_category(ctx, data)
    return StepResult(
        replies=[reply("intake.ask_description", lang)], state="intake.description", data=data
    )


def on_description(ctx: StepContext, data: dict[str, Any], message: IncomingMessage) -> StepResult:
    """Take the description, classify it and show what was understood."""
    replies = _take_description(ctx, data, message.text)
    if data.get("aborted"):
        return StepResult(replies=replies, state="idle", data={})
    if not data.get("classification"):
        return StepResult(replies=replies, state="intake.description", data=data)
    result = _confirm_category(ctx, data)
    result.replies[:0] = replies
    return result


def _take_description(ctx: StepContext, data: dict[str, Any], raw: str) -> list[Reply]:
    """Store and classify a description; sets data['aborted'] for out-of-jurisdiction text."""
    lang = ctx.language
    description = raw.strip()
    if sum(ch.isalnum() for ch in description) < MIN_DESCRIPTION_CHARS:
        return [reply("intake.description_too_short", lang)]
    replies: list[Reply] = []
    limit = ctx.rules.config.max_description_chars
    if len(description) > limit:
        description = description[:limit]
        replies.append(reply("intake.description_cut", lang, limit=limit))
    if data.get("description"):
        description = f"{data['description']}\n{description}"[:limit]
    result = classify(description, now=ctx.now)
    if result.out_of_jurisdiction == "traffic_police":
        data["aborted"] = True
        return [reply("redirect.traffic_police", lang)]
    if result.emergency:
        replies.append(reply("emergency.notice", lang))
    data["description"] = description
    data["kind"] = result.kind
    data["category"] = result.category
    data["subcategory"] = result.subcategory
    data["domain"] = result.domain
    data["severity"] = "urgent" if result.emergency else result.severity
    data["uncertain"] = result.uncertain
    data["alternatives"] = list(result.alternatives)
    data["classification"] = {
        "category": result.category,
        "kind": result.kind,
        "severity": result.severity,
        "confidence": result.confidence,
        "matched": result.matched,
        "explanation": result.explanation,
        "emergency": result.emergency,
    }
    found = facts_from_description(description, now=ctx.now)
    if result.subcategory == "fine_receipt":
        found.setdefault("receipt", "no")  # the description already says no receipt was given
    data["facts"] = {**found, **data.get("facts", {})}
    return replies


def _confirm_category(ctx: StepContext, data: dict[str, Any]) -> StepResult:
    lang = ctx.language
    if data.get("uncertain"):
        return _ask_category(ctx, data, key="intake.uncertain")
    replies = [
        reply("intake.understood", lang, category=text(f"category.{data['category']}", lang))
    ]
    facts_line = describe_facts(data.get("facts", {}), lang)
    if facts_line:
        replies.append(reply("intake.understood_facts", lang, facts=facts_line))
    replies.append(
        reply(
            "intake.ask_confirm_category",
            lang,
            choices=(
                choice("intake.confirm_yes", "yes", lang),
                choice("intake.confirm_other", "other", lang),
            ),
        )
    )
    return StepResult(replies=replies, state="intake.confirm", data=data)


def _ask_category(ctx: StepContext, data: dict[str, Any], *, key: str) -> StepResult:
    lang = ctx.language
    # The classifier's best guesses first, then the rest in the fixed order.
    ordered = list(dict.fromkeys([data.get("category", "other"), *data.get("alternatives", [])]))
    ordered += [c for c in CATEGORIES if c not in ordered]
    choices = tuple(Choice(label=text(f"category_short.{c}", lang), value=c) for c in ordered)
    return StepResult(
        replies=[reply(key, lang, choices=choices)], state="intake.category", data=data
    )


def on_confirm(ctx: StepContext, data: dict[str, Any], picked: str | None) -> StepResult:
    """The driver agrees with the category or wants to pick another."""
    if picked == "yes":
        return _begin_slots(ctx, data)
    if picked == "other":
        return _ask_category(ctx, data, key="intake.ask_category")
    result = _confirm_category(ctx, data)
    result.replies.insert(0, reply("intake.continue_hint", ctx.language))
    return result


def on_category(ctx: StepContext, data: dict[str, Any], picked: str | None) -> StepResult:
    """The driver picked a category; the correction is kept as classifier feedback."""
    if picked not in CATEGORIES:
        return _ask_category(ctx, data, key="intake.ask_category_again")
    if picked != data.get("category"):
        data["classification"] = {**data.get("classification", {}), "driver_category": picked}
        data["category"] = picked
        data["subcategory"] = None
    return _begin_slots(ctx, data)


def _begin_slots(ctx: StepContext, data: dict[str, Any]) -> StepResult:
    wanted = slots_for(
        kind=data.get("kind", "complaint"),
        category=data.get("category", "other"),
        anonymity=data.get("anonymity", "real_name"),
    )
    done = filled_slots(data.get("facts", {}))
    if data.get("attachments"):
        done.add("evidence")
    data["queue"] = [s for s in wanted if s not in done]
    return _next_slot(ctx, data)


def _next_slot(ctx: StepContext, data: dict[str, Any]) -> StepResult:
    queue: list[str] = data.get("queue", [])
    if not queue:
        return _summary(ctx, data)
    slot = queue[0]
    data["slot"] = slot
    data["retries"] = 0
    return StepResult(replies=[_slot_question(ctx, data, slot)], state="intake.slot", data=data)


def _slot_question(ctx: StepContext, data: dict[str, Any], slot: str, key: str = "") -> Reply:
    lang = ctx.language
    anonymity = data.get("anonymity", "real_name")
    key = key or slot_question_key(slot, kind=data.get("kind", "complaint"), anonymity=anonymity)
    if slot == "receipt":
        choices: tuple[Choice, ...] = tuple(
            choice(f"intake.receipt_{v}", v, lang) for v in ("yes", "no", "unknown")
        )
        return reply(key, lang, choices=choices)
    choices = ()
    if slot == "evidence":
        choices = (
            choice("common.choice_done", "done", lang),
            choice("common.choice_skip", "skip", lang),
        )
    elif is_optional(slot, anonymity=anonymity):
        choices = (choice("common.choice_skip", "skip", lang),)
    return reply(key, lang, choices=choices)


def on_slot(
    ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
) -> StepResult:
    """Check the answer to the current question; re-ask with a hint at most three times."""
    slot: str = data["slot"]
    anonymity = data.get("anonymity", "real_name")
    typed = message.text.strip()
    wants_skip = picked == "skip" or typed.lower() in SKIP_WORDS
    if slot == "evidence":
        if picked in ("done", "skip") or typed.lower() in DONE_WORDS | SKIP_WORDS:
            return _advance(ctx, data)
        return StepResult(replies=[_slot_question(ctx, data, slot)], state="intake.slot", data=data)
    if slot == "place" and message.location is not None:
        loc = message.location
        data["facts"].update(
            {
                "place_text": loc.label or f"{loc.latitude:.5f},{loc.longitude:.5f}",
                "latitude": loc.latitude,
                "longitude": loc.longitude,
            }
        )
        return _advance(ctx, data)
    if slot == "receipt" and picked in ("yes", "no", "unknown"):
        data["facts"]["receipt"] = picked
        return _advance(ctx, data)
    if wants_skip:
        if is_optional(slot, anonymity=anonymity):
            return _advance(ctx, data)
        hint = "intake.contact_required" if slot == "contact" else f"intake.ask_{slot}_again"
        return _reask(ctx, data, slot, hint)
    answer = check_answer(slot, typed, now=ctx.now)
    if answer.retry_key is None:
        data["facts"].update(answer.facts)
        return _advance(ctx, data)
    return _reask(ctx, data, slot, answer.retry_key)


def _reask(ctx: StepContext, data: dict[str, Any], slot: str, key: str) -> StepResult:
    data["retries"] = int(data.get("retries", 0)) + 1
    if data["retries"] > ctx.rules.config.max_reasks:
        result = _advance(ctx, data)
        result.replies.insert(0, reply("intake.gave_up_slot", ctx.language))
        return result
    return StepResult(
        replies=[_slot_question(ctx, data, slot, key)], state="intake.slot", data=data
    )


def _advance(ctx: StepContext, data: dict[str, Any]) -> StepResult:
    queue: list[str] = data.get("queue", [])
    if queue:
        queue.pop(0)
    data["queue"] = queue
    return _next_slot(ctx, data)


def add_evidence(ctx: StepContext, data: dict[str, Any], message: IncomingMessage) -> list[Reply]:
    """Keep attachments sent at any point of intake; refuse oversize or odd files."""
    lang = ctx.language
    config = ctx.rules.config
    replies: list[Reply] = []
    for item in message.attachments:
        if item.size > config.max_upload_bytes:
            limit_mb = config.max_upload_bytes // (1024 * 1024)
            replies.append(reply("intake.evidence_too_large", lang, limit_mb=limit_mb))
            continue
        if item.storage_path and not item.mime.startswith(config.allowed_mime_prefixes):
            replies.append(reply("intake.evidence_bad_type", lang))
            continue
        data.setdefault("attachments", []).append(
            {
                "kind": item.kind,
                "mime": item.mime,
                "size": item.size,
                "channel_file_id": item.channel_file_id,
                "sha256": item.sha256,
                "filename": item.filename,
                "storage_path": item.storage_path,
            }
        )
        count = len(data["attachments"])
        kind_label = text(f"evidence_kind.{item.kind}", lang)
        done = (
            (choice("common.choice_done", "done", lang),) if data.get("slot") == "evidence" else ()
        )
        replies.append(
            reply("intake.evidence_saved", lang, count=count, kind=kind_label, choices=done)
        )
    return replies


def _summary(ctx: StepContext, data: dict[str, Any]) -> StepResult:
    lang = ctx.language
    lines = describe_facts(data.get("facts", {}), lang, separator="\n") or text("fact.none", lang)
    summary = reply(
        "intake.summary",
        lang,
        category=text(f"category.{data.get('category', 'other')}", lang),
        lines=lines,
        privacy=text(f"intake.privacy_{data.get('anonymity', 'real_name')}", lang),
        evidence=len(data.get("attachments", [])),
    )
    ask = reply(
        "intake.ask_submit",
        lang,
        choices=(
            choice("intake.choice_submit", "submit", lang),
            choice("intake.choice_restart", "restart", lang),
            choice("common.choice_cancel", "cancel", lang),
        ),
    )
    return StepResult(replies=[summary, ask], state="intake.summary", data=data)


def on_summary(ctx: StepContext, data: dict[str, Any], picked: str | None) -> StepResult:
    """Submit, start over, or ask again."""
    lang = ctx.language
    if picked == "submit":
        return StepResult(replies=submit(ctx, data), state="idle", data={})
    if picked == "restart":
        result = start(ctx)
        result.replies.insert(0, reply("intake.restarted", lang))
        return result
    again = _summary(ctx, data)
    again.replies = [reply("intake.ask_submit_again", lang, choices=again.replies[-1].choices)]
    return again


def pending_question(ctx: StepContext, state: str, data: dict[str, Any]) -> list[Reply]:
    """The question an unfinished intake is waiting on, to ask again after a pause."""
    lang = ctx.language
    if state == "intake.privacy":
        return [_ask_privacy(lang)]
    if state == "intake.description":
        return [reply("intake.ask_description", lang)]
    if state == "intake.confirm":
        return _confirm_category(ctx, data).replies
    if state == "intake.category":
        return _ask_category(ctx, data, key="intake.ask_category").replies
    if state == "intake.slot":
        return [_slot_question(ctx, data, data["slot"])]
    return _summary(ctx, data).replies
