"""Survey answers in the driver's conversation: rating, "solved?", then an optional comment.

The question arrives through the outbox, so the driver's conversation is usually idle when
the answer comes. `survey_reply` recognises it there: a pressed survey button in any state
(its value names the survey), or a short typed rating ('1', '满意', '还行吧') while idle and a
survey of this driver is open. Intake in progress is never interrupted by typed text.

Bad input gets a clear reply and changes nothing else: a button of someone else's survey
(looks unknown), an expired survey, a repeated answer, a survey whose ticket was reopened
meanwhile (the survey is cancelled; the next closing brings a new one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from handlers.catalog import choice, reply
from handlers.context import StepContext
from handlers.messages import IncomingMessage, Reply, StepResult
from handlers.survey_effects import Outcome, finalise, is_current, survey_event
from handlers.survey_policy import (
    RATINGS,
    SurveyPolicy,
    is_skip,
    normalise_answer,
    parse_rating,
    parse_solved,
)
from storage.complainants import find_complainant
from storage.errors import ConflictError
from storage.lifecycle import IllegalTransition
from storage.models import Survey, Ticket
from storage.surveys import OPEN_STATUSES, load_survey, move_survey, recent_surveys_of

POLICY = SurveyPolicy()
BUTTON_PREFIX = "survey:"
# A typed rating this long says more than the rating ('不满意，还是没人管'): kept as a comment.
COMMENT_MIN_CHARS = 7
OUTCOME_KEYS = {
    "thanks": "survey.thanks",
    "stale": "survey.thanks",
    "reopened": "survey.thanks_reopened",
    "supervised": "survey.thanks_supervised",
}


def survey_reply(
    ctx: StepContext, state: str, data: dict[str, Any], message: IncomingMessage
) -> StepResult | None:
    """Handle a message that answers a survey question; None when it is not one."""
    pressed = message.choice or ""
    if pressed.startswith(BUTTON_PREFIX):
        return _button(ctx, state, data, pressed)
    if state != "idle":
        return None
    rating = parse_rating(message.text)
    if rating is None:
        return None
    own = _own_surveys(ctx)
    if not own:
        return None
    # The newest open survey; else the newest that ended lately, for a clear "too late".
    survey, ticket = next(((s, t) for s, t in own if s.status in OPEN_STATUSES), own[0])
    return _rate(ctx, survey, ticket, rating, message.text, state, data)


def _own_surveys(ctx: StepContext) -> list[tuple[Survey, Ticket]]:
    person = find_complainant(ctx.session, channel=ctx.channel, channel_user_id=ctx.user_key)
    if person is None or person.id is None:
        return []
    since = ctx.now - timedelta(days=POLICY.late_answer_days + 30)
    return recent_surveys_of(ctx.session, complainant_id=person.id, since=since)


def _button(ctx: StepContext, state: str, data: dict[str, Any], pressed: str) -> StepResult:
    """A survey button: 'survey:<id>:<rating>'."""
    parts = pressed.split(":")
    rating = parts[2] if len(parts) == 3 else ""
    found = None
    if parts[1:2] and parts[1].isdigit() and rating in RATINGS:
        found = next((pair for pair in _own_surveys(ctx) if pair[0].id == int(parts[1])), None)
    if found is None:
        # Someone else's survey, or a forged value: the same answer as for no survey at all.
        return _keep(state, data, reply("survey.not_found", ctx.language))
    return _rate(ctx, found[0], found[1], rating, "", state, data)


def _keep(state: str, data: dict[str, Any], *replies: Reply) -> StepResult:
    """Reply without disturbing whatever the driver was doing."""
    return StepResult(replies=list(replies), state=state, data=data)


def _rate(
    ctx: StepContext,
    survey: Survey,
    ticket: Ticket,
    rating: str,
    typed: str,
    state: str,
    data: dict[str, Any],
) -> StepResult:
    lang, ticket_no = ctx.language, ticket.ticket_no
    late = ctx.now - timedelta(days=POLICY.late_answer_days)
    if survey.status in ("answering", "answered"):
        return _keep(state, data, reply("survey.already_answered", lang, ticket_no=ticket_no))
    if survey.status == "cancelled" and ticket.status != "closed":
        return _keep(state, data, reply("survey.cancelled_reopened", lang, ticket_no=ticket_no))
    expired = survey.expires_at is not None and survey.expires_at <= ctx.now
    if survey.status not in OPEN_STATUSES or expired:
        if survey.status in OPEN_STATUSES or (survey.expires_at or ctx.now) >= late:
            return _keep(state, data, reply("survey.expired", lang, ticket_no=ticket_no))
        return _keep(state, data, reply("survey.not_found", lang))
    assert survey.id is not None
    if not is_current(survey, ticket):
        if move_survey(
            ctx.session,
            survey_id=survey.id,
            from_statuses=OPEN_STATUSES,
            values={"status": "cancelled"},
        ):
            survey_event(
                ctx.session,
                ticket=ticket,
                survey=survey,
                step="cancelled",
                now=ctx.now,
                reason="ticket_moved",
            )
        return _keep(state, data, reply("survey.cancelled_reopened", lang, ticket_no=ticket_no))
    comment = _comment_in(typed)
    moved = move_survey(
        ctx.session,
        survey_id=survey.id,
        from_statuses=OPEN_STATUSES,
        values={"status": "answering", "satisfaction": rating, "answered_at": ctx.now}
        | ({"comment": comment} if comment else {}),
    )
    if not moved:  # answered a moment ago through another message
        return _keep(state, data, reply("survey.already_answered", lang, ticket_no=ticket_no))
    choices = (
        choice("survey.choice_solved_yes", "yes", lang),
        choice("survey.choice_solved_no", "no", lang),
    )
    return StepResult(
        replies=[reply("survey.ask_solved", lang, choices=choices)],
        state="survey.solved",
        data={"survey_id": survey.id},
    )


def _comment_in(typed: str) -> str | None:
    """A typed rating with more to say keeps the whole text as a comment."""
    cleaned = typed.strip()
    if len(normalise_answer(cleaned)) < COMMENT_MIN_CHARS:
        return None
    return cleaned[: POLICY.max_comment_chars]


def _answering(ctx: StepContext, data: dict[str, Any]) -> Survey | None:
    survey_id = data.get("survey_id")
    survey = load_survey(ctx.session, survey_id=survey_id) if isinstance(survey_id, int) else None
    return survey if survey is not None and survey.status == "answering" else None


def on_solved(
    ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
) -> StepResult:
    """ "Is the problem solved?" — then ask for a comment; free text is taken as the comment."""
    survey = _answering(ctx, data)
    if survey is None or survey.id is None:
        return StepResult(replies=[reply("survey.thanks", ctx.language)])
    solved = {"yes": True, "no": False}.get(picked or "")
    if solved is None:
        solved = parse_solved(message.text)
    if solved is None and message.text.strip():
        return _finish(ctx, survey, comment=message.text)
    move_survey(
        ctx.session, survey_id=survey.id, from_statuses=("answering",), values={"solved": solved}
    )
    skip = (choice("survey.choice_skip", "skip", ctx.language),)
    return StepResult(
        replies=[reply("survey.ask_comment", ctx.language, choices=skip)],
        state="survey.comment",
        data={"survey_id": survey.id},
    )


def on_comment(
    ctx: StepContext, data: dict[str, Any], message: IncomingMessage, picked: str | None
) -> StepResult:
    """The optional comment ('跳过' declines), then the survey is finished."""
    survey = _answering(ctx, data)
    if survey is None:
        return StepResult(replies=[reply("survey.thanks", ctx.language)])
    typed = "" if picked == "skip" or is_skip(message.text) else message.text
    return _finish(ctx, survey, comment=typed)


def _finish(ctx: StepContext, survey: Survey, *, comment: str) -> StepResult:
    assert survey.id is not None
    cleaned = comment.strip()
    if cleaned:
        joined = f"{survey.comment}；{cleaned}" if survey.comment else cleaned
        move_survey(
            ctx.session,
            survey_id=survey.id,
            from_statuses=("answering",),
            values={"comment": joined[: POLICY.max_comment_chars]},
        )
    outcome: Outcome | None = None
    try:
        with ctx.session.begin_nested():
            outcome = finalise(
                ctx.session,
                survey_id=survey.id,
                now=ctx.now,
                calendar=ctx.rules.calendar,
                policy=POLICY,
                deadlines=ctx.rules.policy,
            )
    except (ConflictError, IllegalTransition):
        # The ticket changed this very moment: the answer is kept ('answering') and the
        # survey job finishes it within minutes; the driver is thanked either way.
        outcome = None
    key = OUTCOME_KEYS[outcome.kind] if outcome else "survey.thanks"
    ticket_no = outcome.ticket_no if outcome else ""
    return StepResult(replies=[reply(key, ctx.language, ticket_no=ticket_no)])


Step = Callable[[StepContext, dict[str, Any], IncomingMessage, str | None], StepResult]
STEPS: dict[str, Step] = {"survey.solved": on_solved, "survey.comment": on_comment}
