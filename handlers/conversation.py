"""The driver conversation: commands, then the step for the current state."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from handlers import driver_commands, intake, staff_commands, survey_answers
from handlers.catalog import choice, reply
from handlers.choices import remember_choices, resolve_choice
from handlers.context import StepContext
from handlers.messages import IncomingMessage, Reply, StepResult
from nlp import answer_question, classify
from storage.models import Unit

# Words and slash commands that mean the same thing on every channel.
COMMAND_WORDS: dict[str, tuple[str, ...]] = {
    "cancel": ("取消", "/cancel", "cancel", "算了"),
    "help": ("帮助", "/help", "help", "菜单", "?", "？"),
    "status": ("查询", "/status", "查进度", "进度"),
    "mine": ("我的投诉", "/mine", "我的工单"),
    "supplement": ("补充", "/add", "补充材料"),
    "withdraw": ("撤回", "/withdraw"),
    "start": ("/start", "投诉", "我要投诉", "举报", "我要举报", "/new", "/complain"),
}
_WORD_TO_COMMAND = {w: c for c, words in COMMAND_WORDS.items() for w in words}
_COMMAND_RE = re.compile(r"^\s*(\S+?)(?:[\s@](.*))?\s*$", re.DOTALL)
GREETING_MAX_CHARS = 8
# Phrasings of a question, so "我可以拒绝交吗" gets the rights answer even when it also
# reads like a complaint.
QUESTION_RE = re.compile(
    r"(吗|么|嘛|呢)\s*[？?!！。]*\s*$|[？?]\s*$|能不能|可不可以|是否|怎么办|如何|多久|多长时间|有没有权"
)


def parse_command(raw: str) -> tuple[str, str] | None:
    """('status', 'TS…') for '查询 TS…' or '/status TS…'; None for ordinary text."""
    match = _COMMAND_RE.match(raw)
    if not match:
        return None
    head = match.group(1).lower()
    rest = (match.group(2) or "").strip()
    if head.startswith("/") and "@" in head:  # /status@ComplaintBot in Telegram groups
        head = head.split("@", 1)[0]
    command = _WORD_TO_COMMAND.get(head)
    if command is None:
        # "查询TS20261123-0001" without a space still asks for that ticket.
        for word, name in _WORD_TO_COMMAND.items():
            if name in ("status", "supplement", "withdraw") and raw.strip().startswith(word):
                tail = raw.strip()[len(word) :]
                if driver_commands.find_ticket_no(tail):
                    return name, tail.strip()
        return None
    return command, rest


def handle_message(
    ctx: StepContext, state: str, data: dict[str, Any], message: IncomingMessage
) -> StepResult:
    """Decide the replies and the next state for one incoming message."""
    result = _route(ctx, state, dict(data), message)
    remember_choices(result.data, result.replies, same_question=result.state == state)
    return result


def _route(
    ctx: StepContext, state: str, data: dict[str, Any], message: IncomingMessage
) -> StepResult:
    lang = ctx.language
    staff = staff_commands.handle_staff_message(ctx, message)
    if staff is not None:  # a staff command never disturbs the sender's own driver dialogue
        return StepResult(replies=staff.replies, state=state, data=data)
    if message.event == "unsubscribe":
        return StepResult(state="idle", data={})
    if message.event == "subscribe" and not message.deep_link:
        return StepResult(replies=[reply("common.help", lang)], state="idle", data={})
    if message.deep_link and state == "idle":
        return _start_from_link(ctx, message.deep_link, message.text)

    picked = resolve_choice(message, data)
    command = None if picked else parse_command(message.text)
    if command is not None:
        return _command(ctx, state, data, message, *command)
    answered = survey_answers.survey_reply(ctx, state, data, message)
    if answered is not None:  # a callback answer, typed while idle or a survey button
        return answered

    evidence: list[Reply] = []
    if message.attachments:
        if state == "idle":
            data = intake.start(ctx).data
            state = "intake.privacy"
            evidence = intake.add_evidence(ctx, data, message)
            return StepResult(
                replies=[*evidence, reply("intake.start", lang), intake._ask_privacy(lang)],
                state=state,
                data=data,
            )
        if state.startswith("intake."):
            evidence = intake.add_evidence(ctx, data, message)
            if not message.text.strip() and not picked:
                return StepResult(replies=evidence, state=state, data=data)
    if message.location is not None and state.startswith("intake.") and state != "intake.slot":
        loc = message.location
        data.setdefault("facts", {}).setdefault(
            "place_text", loc.label or f"{loc.latitude:.5f},{loc.longitude:.5f}"
        )
        data["facts"].update({"latitude": loc.latitude, "longitude": loc.longitude})

    step = STATE_STEPS.get(state)
    result = _idle(ctx, message) if step is None else step(ctx, data, message, picked)
    result.replies[:0] = evidence
    return result


def _command(
    ctx: StepContext,
    state: str,
    data: dict[str, Any],
    message: IncomingMessage,
    command: str,
    argument: str,
) -> StepResult:
    lang = ctx.language
    ticket_no = driver_commands.find_ticket_no(argument)
    if command == "cancel":
        key = "common.cancelled" if state != "idle" else "common.nothing_to_cancel"
        return StepResult(replies=[reply(key, lang)], state="idle", data={})
    if command == "help":
        return StepResult(replies=[reply("common.help", lang)], state=state, data=data)
    if command == "status":
        return StepResult(replies=driver_commands.status(ctx, ticket_no), state=state, data=data)
    if command == "mine":
        return StepResult(replies=driver_commands.mine(ctx), state=state, data=data)
    if command == "supplement":
        return driver_commands.begin_supplement(ctx, ticket_no)
    if command == "withdraw":
        return driver_commands.begin_withdraw(ctx, ticket_no)
    # start
    if argument and message.text.strip().startswith("/start"):
        return _start_from_link(ctx, argument, "")
    if state.startswith("intake."):
        return _resume(ctx, state, data)
    return intake.start(ctx, description=argument)


def _resume(ctx: StepContext, state: str, data: dict[str, Any]) -> StepResult:
    """Repeat the pending question of an unfinished intake."""
    questions = intake.pending_question(ctx, state, data)
    return StepResult(
        replies=[reply("common.resume", ctx.language), *questions], state=state, data=data
    )


def _start_from_link(ctx: StepContext, payload: str, description: str) -> StepResult:
    """A QR code or start link names a unit or station: pre-fill it and begin."""
    payload = payload.strip()[:64]
    prefill: dict[str, Any] = {}
    label = ""
    code = payload.split("-", 1)[1] if payload.startswith(("u-", "st-")) else ""
    unit = (
        ctx.session.exec(select(Unit).where(Unit.code == code, Unit.active)).first()
        if code
        else None
    )
    if unit is not None:
        label = unit.name
        prefill["accused"] = unit.name
        if unit.kind == "station":
            prefill["place_text"] = unit.name
    result = intake.start(ctx, description=description, prefill=prefill, source_label=label)
    if result.state != "idle":
        result.data["source"] = payload
        if unit is not None:
            result.data["unit_code"] = unit.code
    return result


def _idle(ctx: StepContext, message: IncomingMessage) -> StepResult:
    """Free text outside any flow: answer a rights question, redirect, greet, or start."""
    lang = ctx.language
    typed = message.text.strip()
    if not typed:
        key = "common.empty" if not message.location else "common.greeting"
        return StepResult(replies=[reply(key, lang)])
    if not any(ch.isalnum() for ch in typed):
        return StepResult(replies=[reply("common.empty", lang)])
    result = classify(typed, now=ctx.now)
    if result.out_of_jurisdiction == "traffic_police":
        return StepResult(replies=[reply("redirect.traffic_police", lang)])
    asks = result.kind == "inquiry" or bool(QUESTION_RE.search(typed))
    answer = answer_question(typed) if asks and not result.emergency else None
    if answer is not None:
        # A rights question often hides a complaint: answer at once, offer to file.
        offer = (choice("rights.choice_complain", "complain", lang),)
        return StepResult(
            replies=[
                reply(
                    "rights.answer", lang, answer=answer.answer, basis=answer.article, choices=offer
                )
            ],
            state="inquiry.answered",
            data={"question": typed},
        )
    if result.kind == "inquiry" and not result.emergency:
        days = ctx.rules.policy.handling_limit("inquiry", "low")
        choices = (
            choice("rights.choice_forward", "forward", lang),
            choice("rights.choice_no_thanks", "no", lang),
        )
        return StepResult(
            replies=[reply("rights.no_answer", lang, days=days, choices=choices)],
            state="inquiry.forward",
            data={"question": typed},
        )
    if result.category == "other" and len(typed) <= GREETING_MAX_CHARS and not result.emergency:
        return StepResult(replies=[reply("common.greeting", lang)])
    return intake.start(ctx, description=typed)


def _on_forward(
    ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
) -> StepResult:
    if picked in ("forward", "complain"):
        return intake.start(ctx, description=data.get("question", ""))
    if picked == "no":
        return StepResult(replies=[reply("common.greeting", ctx.language)])
    return _idle(ctx, message)


Step = Callable[[StepContext, dict[str, Any], IncomingMessage, str | None], StepResult]


def _pick_then(begin: Callable[[StepContext, str | None], StepResult]) -> Step:
    def step(
        ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
    ) -> StepResult:
        ticket_no = picked or driver_commands.find_ticket_no(message.text)
        if ticket_no is None:
            return _idle(ctx, message)
        return begin(ctx, ticket_no)

    return step


STATE_STEPS: dict[str, Step] = {
    "intake.privacy": lambda ctx, data, msg, picked: intake.on_privacy(ctx, data, picked),
    "intake.description": lambda ctx, data, msg, picked: intake.on_description(ctx, data, msg),
    "intake.confirm": lambda ctx, data, msg, picked: intake.on_confirm(ctx, data, picked),
    "intake.category": lambda ctx, data, msg, picked: intake.on_category(ctx, data, picked),
    "intake.slot": intake.on_slot,
    "intake.summary": lambda ctx, data, msg, picked: intake.on_summary(ctx, data, picked),
    "supplement.pick": _pick_then(driver_commands.begin_supplement),
    "supplement.content": driver_commands.on_supplement,
    "withdraw.pick": _pick_then(driver_commands.begin_withdraw),
    "withdraw.confirm": lambda ctx, data, msg, picked: driver_commands.on_withdraw(
        ctx, data, picked
    ),
    "inquiry.forward": _on_forward,
    "inquiry.answered": _on_forward,
    **survey_answers.STEPS,
}
