"""Driving the intake conversation in tests: answer whatever is asked until the summary."""

from __future__ import annotations

from collections.abc import Mapping

from handlers.messages import Reply

# A plausible answer to each question, keyed by the slot in the question's catalog key.
DEFAULT_ANSWERS: Mapping[str, str] = {
    "occurred": "昨天下午三点",
    "place": "G4京港澳高速长沙北收费站",
    "accused": "市交通运输综合执法支队二大队，执法证号 HN12345",
    "amount": "两千",
    "own_plate": "湘A3K921",
    "contact": "13812345678",
}


def asked_slot(reply_key: str) -> str | None:
    """'intake.ask_place' → 'place'; None for keys that are not slot questions."""
    prefix = "intake.ask_"
    if not reply_key.startswith(prefix):
        return None
    slot = reply_key[len(prefix) :].removesuffix("_optional").removesuffix("_praise")
    return None if slot in ("privacy", "description", "confirm_category", "submit") else slot


def answer_until_summary(
    chat: object,
    replies: list[Reply],
    *,
    answers: Mapping[str, str] = DEFAULT_ANSWERS,
    limit: int = 20,
) -> tuple[list[str], list[Reply]]:
    """Answer slot questions (pressing 跳过 where no answer is given) until the summary."""
    asked: list[str] = []
    for _ in range(limit):
        last = replies[-1]
        if last.key == "intake.ask_submit":
            return asked, replies
        slot = asked_slot(last.key)
        if slot is None and last.key in ("intake.ask_receipt_again",):
            slot = "receipt"
        assert slot is not None, f"unexpected question {last.key}: {last.text}"
        asked.append(slot)
        if slot == "receipt":
            replies = chat.press("no")  # type: ignore[attr-defined]
        elif slot == "evidence":
            replies = chat.press("skip")  # type: ignore[attr-defined]
        elif slot in answers:
            replies = chat.send(answers[slot])  # type: ignore[attr-defined]
        else:
            replies = chat.press("skip")  # type: ignore[attr-defined]
    raise AssertionError(f"no summary after {limit} answers: asked {asked}")


def keys(replies: list[Reply]) -> list[str]:
    """The catalog keys of replies, for compact assertions."""
    return [r.key for r in replies]
