"""Staff text commands in the chat: bind an account, then 签收 / 回复 / 办结 … by ticket number.

Returns None for anything that is not a staff command from a bound staff member, so the
driver conversation carries on untouched. Each command runs in a savepoint: a refusal rolls
back whatever it might have written, and is answered with a clear sentence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from handlers import escalation, staff_actions
from handlers.catalog import reply, text
from handlers.context import StepContext
from handlers.driver_commands import TICKET_NO_RE
from handlers.messages import IncomingMessage, Reply, StepResult
from handlers.notify import category_label, local_date
from storage.errors import ConflictError, TicketNotFound
from storage.lifecycle import FINAL_STATES, IllegalTransition, RejectReason
from storage.models import Staff, Ticket
from storage.staffing import (
    BindingRefused,
    Role,
    jurisdiction,
    redeem_binding_code,
    staff_by_channel,
)

log = logging.getLogger(__name__)

COMMAND_WORDS: dict[str, tuple[str, ...]] = {
    "bind": ("绑定", "/bind"),
    "sign": ("签收", "/sign"),
    "handle": ("办理", "/handle"),
    "reply": ("回复", "答复", "/reply"),
    "close": ("办结", "/close"),
    "transfer": ("转办", "/transfer"),
    "accept": ("接收", "/accept"),
    "return": ("退回", "/return"),
    "extend": ("申请延期", "/extend"),
    "approve": ("批准延期", "/approve"),
    "reject": ("不予受理", "/reject"),
    "supervise": ("督办", "/supervise"),
    "todo": ("待办", "/todo"),
    "help": ("工作帮助", "/staffhelp"),
}
_WORDS = sorted(((w, c) for c, ws in COMMAND_WORDS.items() for w in ws), key=lambda p: -len(p[0]))
REJECT_WORDS = {"1": "not_transport", "2": "no_facts", "3": "other_procedure"}
LEVEL_WORDS = {"黄牌": "yellow", "红牌": "red", "挂牌": "listed"}
TODO_LIMIT = 10


def parse_staff_command(raw: str) -> tuple[str, str] | None:
    """('sign', 'TS…') for '签收 TS…' or '/sign@Bot TS…'; None when no command word leads."""
    typed = raw.strip()
    for word, command in _WORDS:
        if typed.lower().startswith(word):
            rest = typed[len(word) :]
            if word.startswith("/") and rest.startswith("@"):  # /sign@ComplaintBot in groups
                rest = rest.split(maxsplit=1)[1] if " " in rest else ""
            elif rest and word.startswith("/") and not rest[0].isspace():
                continue  # /signal is not /sign
            return command, rest.strip()
    return None


def handle_staff_message(ctx: StepContext, message: IncomingMessage) -> StepResult | None:
    """The answer to a staff command, or None when the message is not one."""
    parsed = parse_staff_command(message.choice or message.text or "")
    if parsed is None:
        return None
    command, rest = parsed
    if command == "bind":
        return StepResult(replies=[_bind(ctx, rest)])
    person = staff_by_channel(ctx.session, channel=ctx.channel, channel_user_id=ctx.user_key)
    if person is None or person.id is None:
        return None  # a driver who typed 回复 …: ordinary text for the driver flow
    if command == "help":
        return StepResult(replies=[reply("staff.help")])
    if command == "todo":
        return StepResult(replies=[_todo(ctx, person)])
    match = TICKET_NO_RE.search(rest)
    if match is None:
        return StepResult(replies=[reply(f"staff.usage_{command}")])
    ticket_no = match.group(0).upper()
    tail = rest[match.end() :].strip()
    try:
        with ctx.session.begin_nested():
            answer = COMMANDS[command](ctx, person.id, ticket_no, tail)
    except staff_actions.StaffActionError as exc:
        fields: dict[str, Any] = {"ticket_no": ticket_no, "reason": "", **exc.values}
        answer = reply(exc.key, **fields)
    except IllegalTransition as exc:
        status = text(f"ticket_status.{exc.status.value}")
        answer = reply("staff.illegal", ticket_no=ticket_no, status=status)
    except TicketNotFound:
        answer = reply("staff.not_found", ticket_no=ticket_no)
    except ConflictError:
        answer = reply("staff.conflict", ticket_no=ticket_no)
    return StepResult(replies=[answer])


def _bind(ctx: StepContext, rest: str) -> Reply:
    code = re.sub(r"\s", "", rest)
    if not code.isdigit():
        return reply("staff.bind_usage")
    try:
        with ctx.session.begin_nested():
            person = redeem_binding_code(
                ctx.session,
                code=code,
                channel=ctx.channel,
                channel_user_id=ctx.user_key,
                now=ctx.now,
            )
    except BindingRefused as exc:
        log.warning("binding refused on %s: %s", ctx.channel, exc.reason)
        return reply(f"staff.bind_{exc.reason}")
    return reply("staff.bind_ok", name=person.display_name, role=text(f"staff.role_{person.role}"))


def _todo(ctx: StepContext, person: Staff) -> Reply:
    """The open tickets this person may act on, oldest deadline first."""
    query = select(Ticket).where(col(Ticket.status).not_in([s.value for s in FINAL_STATES]))
    if person.role == Role.DISCIPLINE:
        query = query.where(col(Ticket.sealed).is_(True))
    elif person.role != Role.ADMIN:
        units = {person.unit_id or 0}
        if person.role == Role.SUPERVISOR and person.unit_id is not None:
            units = jurisdiction(ctx.session, unit_id=person.unit_id)
        query = query.where(col(Ticket.sealed).is_(False), col(Ticket.unit_id).in_(units))
    tickets = ctx.session.exec(
        query.order_by(col(Ticket.due_at), col(Ticket.id)).limit(TODO_LIMIT)
    ).all()
    if not tickets:
        return reply("staff.todo_none")
    lines = [
        text(
            "staff.todo_line",
            ticket_no=t.ticket_no,
            category=category_label(t),
            status=text(f"ticket_status.{t.status}"),
            due=local_date(t.due_at, ctx.rules.calendar),
        )
        for t in tickets
    ]
    return Reply(text="\n".join([text("staff.todo_header"), *lines]), key="staff.todo_header")


Command = Callable[[StepContext, int, str, str], Reply]


def _sign(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.sign(ctx.session, staff_id=staff_id, ticket_no=ticket_no, now=ctx.now)
    return reply("staff.done_sign", ticket_no=ticket_no)


def _handle(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.start_handling(ctx.session, staff_id=staff_id, ticket_no=ticket_no, now=ctx.now)
    return reply("staff.done_handle", ticket_no=ticket_no)


def _reply(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.reply_to_driver(
        ctx.session, staff_id=staff_id, ticket_no=ticket_no, message=tail, now=ctx.now
    )
    return reply("staff.done_reply", ticket_no=ticket_no)


def _close(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.close(ctx.session, staff_id=staff_id, ticket_no=ticket_no, now=ctx.now, note=tail)
    return reply("staff.done_close", ticket_no=ticket_no)


def _transfer(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    unit, _, reason = tail.partition(" ")
    staff_actions.transfer(
        ctx.session,
        staff_id=staff_id,
        ticket_no=ticket_no,
        to_unit=unit.strip(),
        reason=reason,
        now=ctx.now,
        calendar=ctx.rules.calendar,
    )
    return reply("staff.done_transfer", ticket_no=ticket_no, unit=unit.strip())


def _accept(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.accept_transfer(ctx.session, staff_id=staff_id, ticket_no=ticket_no, now=ctx.now)
    return reply("staff.done_accept", ticket_no=ticket_no)


def _return(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.return_transfer(
        ctx.session, staff_id=staff_id, ticket_no=ticket_no, reason=tail, now=ctx.now
    )
    return reply("staff.done_return", ticket_no=ticket_no)


def _extend(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    staff_actions.request_extension(
        ctx.session,
        staff_id=staff_id,
        ticket_no=ticket_no,
        reason=tail,
        now=ctx.now,
        calendar=ctx.rules.calendar,
    )
    return reply("staff.done_extend", ticket_no=ticket_no)


def _approve(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    ticket = staff_actions.approve_extension(
        ctx.session,
        staff_id=staff_id,
        ticket_no=ticket_no,
        now=ctx.now,
        calendar=ctx.rules.calendar,
        policy=ctx.rules.policy,
    )
    due = local_date(ticket.due_at, ctx.rules.calendar)
    return reply("staff.done_approve", ticket_no=ticket_no, due=due)


def _reject(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    code, _, note = tail.partition(" ")
    reason = REJECT_WORDS.get(code.strip(), code.strip())
    if reason not in {r.value for r in RejectReason}:
        return reply("staff.usage_reject")
    staff_actions.reject(
        ctx.session, staff_id=staff_id, ticket_no=ticket_no, reason=reason, note=note, now=ctx.now
    )
    return reply("staff.done_reject", ticket_no=ticket_no)


def _supervise(ctx: StepContext, staff_id: int, ticket_no: str, tail: str) -> Reply:
    parts = tail.split(maxsplit=2)
    if len(parts) < 3 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 60:
        return reply("staff.usage_supervise")
    level = LEVEL_WORDS.get(parts[0], parts[0].lower())
    deadline = ctx.rules.calendar.add_workdays(ctx.now, int(parts[1]))
    escalation.issue_supervision_order(
        ctx.session,
        staff_id=staff_id,
        ticket_no=ticket_no,
        level=level,
        note=parts[2],
        deadline=max(deadline, ctx.now + timedelta(hours=1)),
        now=ctx.now,
        calendar=ctx.rules.calendar,
    )
    return reply(
        "staff.done_supervise", ticket_no=ticket_no, due=local_date(deadline, ctx.rules.calendar)
    )


COMMANDS: dict[str, Command] = {
    "sign": _sign,
    "handle": _handle,
    "reply": _reply,
    "close": _close,
    "transfer": _transfer,
    "accept": _accept,
    "return": _return,
    "extend": _extend,
    "approve": _approve,
    "reject": _reject,
    "supervise": _supervise,
}
