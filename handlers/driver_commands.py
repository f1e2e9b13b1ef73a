"""What a driver can do besides filing: status, my tickets, supplement, withdraw."""

from __future__ import annotations

import re
from typing import Any

from handlers.catalog import choice, reply, text
from handlers.context import StepContext
from handlers.messages import Choice, IncomingMessage, Reply, StepResult
from storage.complainants import find_complainant
from storage.lifecycle import Action, IllegalTransition, TicketStatus
from storage.models import Attachment, Ticket
from storage.tickets import apply_action, find_ticket, last_reply_note, tickets_of_complainant

TICKET_NO_RE = re.compile(r"TS\d{8}-\d{4,}", re.IGNORECASE)
DONE_WORDS = frozenset({"完成", "好了", "没了", "done", "ok"})


def find_ticket_no(raw: str) -> str | None:
    """The first ticket number in a text, upper-cased."""
    match = TICKET_NO_RE.search(raw)
    return match.group(0).upper() if match else None


def _own_tickets(ctx: StepContext, *, open_only: bool = False) -> list[Ticket]:
    person = find_complainant(ctx.session, channel=ctx.channel, channel_user_id=ctx.user_key)
    if person is None or person.id is None:
        return []
    return tickets_of_complainant(
        ctx.session, complainant_id=person.id, limit=10, open_only=open_only
    )


def _own_ticket(ctx: StepContext, ticket_no: str) -> Ticket | None:
    """The ticket if it belongs to this user; others' tickets look exactly like unknown ones."""
    person = find_complainant(ctx.session, channel=ctx.channel, channel_user_id=ctx.user_key)
    ticket = find_ticket(ctx.session, ticket_no=ticket_no)
    if person is None or ticket is None or ticket.complainant_id != person.id:
        return None
    return ticket


def _due_text(ctx: StepContext, ticket: Ticket) -> str:
    if ticket.due_at is None:
        return text("status.due_none", ctx.language)
    return ticket.due_at.astimezone(ctx.rules.calendar.tz).strftime("%Y-%m-%d")


def status(ctx: StepContext, ticket_no: str | None) -> list[Reply]:
    """One own ticket in detail, or the list when no number is given."""
    lang = ctx.language
    if ticket_no is None:
        return mine(ctx)
    ticket = _own_ticket(ctx, ticket_no)
    if ticket is None:
        return [reply("status.not_found", lang, ticket_no=ticket_no)]
    assert ticket.id is not None
    created = ticket.created_at.astimezone(ctx.rules.calendar.tz).strftime("%Y-%m-%d %H:%M")
    replies = [
        reply(
            "status.detail",
            lang,
            ticket_no=ticket.ticket_no,
            category=text(f"category_short.{ticket.category}", lang),
            status=text(f"ticket_status.{ticket.status}", lang),
            created=created,
            due=_due_text(ctx, ticket),
        )
    ]
    note = last_reply_note(ctx.session, ticket_id=ticket.id)
    if note:
        replies.append(reply("status.reply_line", lang, reply=note))
    return replies


def mine(ctx: StepContext) -> list[Reply]:
    """The driver's recent tickets, one line each."""
    lang = ctx.language
    tickets = _own_tickets(ctx)
    if not tickets:
        return [reply("status.none", lang)]
    lines = [
        text(
            "status.line",
            lang,
            ticket_no=t.ticket_no,
            category=text(f"category_short.{t.category}", lang),
            status=text(f"ticket_status.{t.status}", lang),
            due=_due_text(ctx, t),
        )
        for t in tickets
    ]
    header = text("status.mine_header", lang, count=len(tickets))
    return [Reply(text="\n".join([header, *lines]), key="status.mine_header")]


def _pick_ticket(ctx: StepContext, key: str, action: str) -> StepResult:
    """Offer the driver's open tickets as choices for `action`."""
    tickets = _own_tickets(ctx, open_only=True)
    if not tickets:
        return StepResult(replies=[reply("status.none", ctx.language)], state="idle")
    choices = tuple(Choice(label=t.ticket_no, value=t.ticket_no) for t in tickets)
    return StepResult(
        replies=[reply(key, ctx.language, choices=choices)],
        state=f"{action}.pick",
        data={},
    )


def begin_supplement(ctx: StepContext, ticket_no: str | None) -> StepResult:
    """Start adding material to an open ticket (asks which one when not given)."""
    if ticket_no is None:
        tickets = _own_tickets(ctx, open_only=True)
        if len(tickets) != 1:
            return _pick_ticket(ctx, "supplement.ask_which", "supplement")
        ticket_no = tickets[0].ticket_no
    ticket = _own_ticket(ctx, ticket_no)
    lang = ctx.language
    if ticket is None:
        return StepResult(replies=[reply("status.not_found", lang, ticket_no=ticket_no)])
    if ticket.status in (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.WITHDRAWN):
        return StepResult(replies=[reply("supplement.closed", lang, ticket_no=ticket_no)])
    choices = (choice("common.choice_done", "done", lang),)
    return StepResult(
        replies=[reply("supplement.ask_content", lang, ticket_no=ticket_no, choices=choices)],
        state="supplement.content",
        data={"ticket_no": ticket_no, "added": 0},
    )


def on_supplement(
    ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
) -> StepResult:
    """Append text or files to the ticket as a `supplement` event; 完成 ends."""
    lang = ctx.language
    ticket_no: str = data["ticket_no"]
    typed = message.text.strip()
    if picked == "done" or typed.lower() in DONE_WORDS:
        key = "supplement.saved" if data.get("added") else "supplement.empty"
        return StepResult(replies=[reply(key, lang, ticket_no=ticket_no)])
    ticket = _own_ticket(ctx, ticket_no)
    if ticket is None or ticket.id is None:
        return StepResult(replies=[reply("status.not_found", lang, ticket_no=ticket_no)])
    limit = ctx.rules.config.max_description_chars
    try:
        apply_action(
            ctx.session,
            ticket_no=ticket_no,
            action=Action.SUPPLEMENT,
            actor="driver",
            now=ctx.now,
            note=typed[:limit],
            data={"attachments": len(message.attachments)},
        )
    except IllegalTransition:
        return StepResult(replies=[reply("supplement.closed", lang, ticket_no=ticket_no)])
    for item in message.attachments:
        if item.size <= ctx.rules.config.max_upload_bytes:
            ctx.session.add(
                Attachment(
                    ticket_id=ticket.id,
                    channel=ctx.channel,
                    kind=item.kind,
                    mime=item.mime,
                    size=item.size,
                    channel_file_id=item.channel_file_id,
                    sha256=item.sha256,
                    filename=item.filename,
                    storage_path=item.storage_path,
                    created_at=ctx.now,
                )
            )
    data["added"] = int(data.get("added", 0)) + 1
    done = (choice("common.choice_done", "done", lang),)
    return StepResult(
        replies=[reply("supplement.saved", lang, ticket_no=ticket_no, choices=done)],
        state="supplement.content",
        data=data,
    )


def begin_withdraw(ctx: StepContext, ticket_no: str | None) -> StepResult:
    """Ask to confirm withdrawing an own ticket (asks which one when not given)."""
    lang = ctx.language
    if ticket_no is None:
        return _pick_ticket(ctx, "withdraw.ask_which", "withdraw")
    ticket = _own_ticket(ctx, ticket_no)
    if ticket is None:
        return StepResult(replies=[reply("status.not_found", lang, ticket_no=ticket_no)])
    choices = (
        choice("withdraw.choice_confirm", "confirm", lang),
        choice("withdraw.choice_keep", "keep", lang),
    )
    return StepResult(
        replies=[reply("withdraw.ask_confirm", lang, ticket_no=ticket_no, choices=choices)],
        state="withdraw.confirm",
        data={"ticket_no": ticket_no},
    )


def on_withdraw(ctx: StepContext, data: dict[str, Any], picked: str | None) -> StepResult:
    """Withdraw on confirmation; the lifecycle decides whether the state allows it."""
    lang = ctx.language
    ticket_no: str = data["ticket_no"]
    if picked != "confirm":
        return StepResult(replies=[reply("withdraw.kept", lang, ticket_no=ticket_no)])
    ticket = _own_ticket(ctx, ticket_no)
    if ticket is None:
        return StepResult(replies=[reply("status.not_found", lang, ticket_no=ticket_no)])
    try:
        apply_action(
            ctx.session, ticket_no=ticket_no, action=Action.WITHDRAW, actor="driver", now=ctx.now
        )
    except IllegalTransition as exc:
        label = text(f"ticket_status.{exc.status.value}", lang)
        return StepResult(
            replies=[reply("withdraw.not_allowed", lang, ticket_no=ticket_no, status=label)]
        )
    return StepResult(replies=[reply("withdraw.done", lang, ticket_no=ticket_no)])
