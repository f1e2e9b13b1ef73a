"""Turning what a user typed or pressed into one of the choices last offered."""

from __future__ import annotations

from typing import Any

from handlers.messages import Choice, IncomingMessage, Reply

LAST_CHOICES = "_choices"


def remember_choices(
    data: dict[str, Any], replies: list[Reply], *, same_question: bool = False
) -> None:
    """Keep the last offered choices, so "1" or a label typed on WeChat maps to a value.

    With `same_question` (the state did not move, e.g. a photo was acknowledged) replies
    without choices keep the earlier ones, so "1" still picks from the pending question.
    """
    offered = [c for r in replies for c in r.choices]
    if offered:
        data[LAST_CHOICES] = [[c.label, c.value] for c in offered]
    elif not same_question:
        data.pop(LAST_CHOICES, None)


def resolve_choice(message: IncomingMessage, data: dict[str, Any]) -> str | None:
    """The value of the choice the message picks, by button, number or label; else None."""
    offered: list[list[str]] = data.get(LAST_CHOICES) or []
    values = [value for _label, value in offered]
    if message.choice is not None:
        return message.choice if message.choice in values or not offered else None
    typed = message.text.strip().rstrip("。.!！").lower()
    if not typed or not offered:
        return None
    if typed.isdigit() and 1 <= int(typed) <= len(offered):
        return offered[int(typed) - 1][1]
    for label, value in offered:
        if typed == label.lower() or typed == value.lower():
            return value
    return None


def numbered(choices: tuple[Choice, ...]) -> str:
    """Choices as numbered lines, for channels without buttons."""
    return "\n".join(f"{i}. {c.label}" for i, c in enumerate(choices, start=1))
