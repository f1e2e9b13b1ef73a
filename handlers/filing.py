"""Filing a finished intake: a new ticket with deadlines, or a merge into a repeat complaint."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from handlers.catalog import reply
from handlers.context import StepContext
from handlers.deadlines import compute_deadlines
from handlers.escalation import announce_new_ticket
from handlers.messages import Reply
from handlers.routing import route_draft
from handlers.slots import receipt_value
from storage.complainants import upsert_complainant
from storage.lifecycle import Action
from storage.models import Attachment
from storage.tickets import TicketDraft, apply_action, create_ticket, find_repeat_ticket

log = logging.getLogger(__name__)

DISCIPLINE_CATEGORIES = frozenset({"rent_seeking"})


def submit(ctx: StepContext, data: dict[str, Any]) -> list[Reply]:
    """Create the ticket (or merge into the open one on the same matter) and say so."""
    lang = ctx.language
    facts: dict[str, Any] = data.get("facts", {})
    anonymity = data.get("anonymity", "real_name")
    person = upsert_complainant(
        ctx.session,
        channel=ctx.channel,
        channel_user_id=ctx.user_key,
        anonymity=anonymity,
        now=ctx.now,
        name=facts.get("name"),
        phone=facts.get("phone"),
        own_plate=facts.get("own_plate"),
        language=lang,
    )
    assert person.id is not None
    category = data.get("category", "other")
    plates = tuple(facts.get("plates", []))
    repeat = find_repeat_ticket(
        ctx.session,
        complainant_id=person.id,
        category=category,
        now=ctx.now,
        window=ctx.rules.config.repeat_window,
        place_text=facts.get("place_text"),
        plates=plates,
    )
    if repeat is not None:
        apply_action(
            ctx.session,
            ticket_no=repeat.ticket_no,
            action=Action.MERGE,
            actor="driver",
            now=ctx.now,
            note=data.get("description", ""),
            data={"attachments": len(data.get("attachments", []))},
        )
        assert repeat.id is not None
        _attach(ctx, data, ticket_id=repeat.id)
        log.info("intake merged into %s", repeat.ticket_no)
        days = ctx.rules.config.repeat_window.days
        return [reply("intake.merged", lang, ticket_no=repeat.ticket_no, days=days)]

    kind = data.get("kind", "complaint")
    severity = data.get("severity", "normal")
    deadlines = compute_deadlines(
        received_at=ctx.now,
        kind=kind,
        severity=severity,
        calendar=ctx.rules.calendar,
        policy=ctx.rules.policy,
    )
    draft = TicketDraft(
        kind=kind,
        category=category,
        subcategory=data.get("subcategory"),
        severity=severity,
        domain=data.get("domain"),
        channel=ctx.channel,
        description=data.get("description", ""),
        complainant_id=person.id,
        anonymity=anonymity,
        sealed=category in DISCIPLINE_CATEGORIES,
        occurred_at=_parse_time(facts.get("occurred_at")),
        occurred_text=facts.get("occurred_text"),
        place_text=facts.get("place_text"),
        latitude=facts.get("latitude"),
        longitude=facts.get("longitude"),
        plates=plates,
        badges=tuple(facts.get("badges", [])),
        amount_yuan=Decimal(facts["amount_yuan"]) if facts.get("amount_yuan") else None,
        receipt_given=receipt_value(facts.get("receipt")),
        source=data.get("source"),
        classification={**data.get("classification", {}), "accused": facts.get("accused")},
        ack_due_at=deadlines.ack_due_at,
        due_at=deadlines.due_at,
        yellow_at=deadlines.yellow_at,
        escalate_at=deadlines.escalate_at,
        deadline_provisional=deadlines.provisional,
    )
    draft, decision = route_draft(ctx.session, draft=draft, data=data)
    ticket = create_ticket(ctx.session, draft=draft, actor="driver", now=ctx.now)
    announce_new_ticket(
        ctx.session, ticket=ticket, decision=decision, now=ctx.now, calendar=ctx.rules.calendar
    )
    assert ticket.id is not None
    _attach(ctx, data, ticket_id=ticket.id)
    log.info("intake filed %s (%s/%s)", ticket.ticket_no, kind, severity)
    due_local = deadlines.due_at.astimezone(ctx.rules.calendar.tz)
    replies = [
        reply(
            "intake.created",
            lang,
            ticket_no=ticket.ticket_no,
            days=ctx.rules.policy.handling_limit(kind, severity),
            due_date=f"{due_local.year}年{due_local.month}月{due_local.day}日"
            if lang == "zh"
            else due_local.strftime("%Y-%m-%d"),
        )
    ]
    if severity == "urgent":
        replies.append(reply("intake.created_urgent", lang, ticket_no=ticket.ticket_no))
    if draft.sealed:
        replies.append(reply("intake.sealed_note", lang))
    return replies


def _attach(ctx: StepContext, data: dict[str, Any], *, ticket_id: int) -> None:
    for item in data.get("attachments", []):
        ctx.session.add(
            Attachment(ticket_id=ticket_id, channel=ctx.channel, created_at=ctx.now, **item)
        )
    ctx.session.flush()


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
