"""The Telegram sender and update translation, against the fake Bot API and PTB objects."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update
from telegram.request import HTTPXRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from telegram_bot_api import TOKEN, FakeBotAPI, TelegramUser

from bot.channels.telegram import file_base_url
from bot.channels.telegram_inbound import translate
from bot.channels.telegram_sender import (
    MAX_TEXT_CHARS,
    PartialSend,
    SendLimiter,
    TelegramSender,
    render,
)
from bot.outbox import SendError

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def payload(*replies: tuple[str, list[tuple[str, str]]]) -> dict[str, Any]:
    """An outbox payload as the dispatcher stores it."""
    return {
        "replies": [
            {"text": body, "choices": [{"label": lb, "value": v} for lb, v in choices]}
            for body, choices in replies
        ]
    }


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API."""
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def sender(api: FakeBotAPI) -> AsyncIterator[TelegramSender]:
    """A sender with a short read timeout and no pacing."""
    bot = Bot(TOKEN, base_url=api.base_url, request=HTTPXRequest(read_timeout=0.5))
    await bot.initialize()
    limiter = SendLimiter(chat_per_second=1000, chat_burst=1000)
    sent = TelegramSender(bot, limiter=limiter)
    sent.open = True
    yield sent
    await bot.shutdown()


def test_keyboard_rows_and_fallbacks() -> None:
    short = render(payload(("选?", [("是", "yes"), ("否", "no"), ("跳过", "skip")])))
    assert [[b.callback_data for b in row] for row in short[0][1].inline_keyboard] == [  # type: ignore[union-attr]
        ["yes", "no"],
        ["skip"],
    ]
    long = render(payload(("选?", [("逐利执法、以罚代管", "profit"), ("其他", "other")])))
    assert len(long[0][1].inline_keyboard) == 2  # type: ignore[union-attr]
    # A value too long for callback data: numbered lines the conversation understands.
    numbered = render(payload(("选?", [("甲", "x" * 65), ("乙", "y")])))
    assert numbered == [("选?\n1. 甲\n2. 乙", None)]
    # Longer than Telegram's limit: split, the keyboard on the last part.
    parts = render(payload(("长" * (MAX_TEXT_CHARS + 10), [("是", "yes")])))
    assert [len(p[0]) for p in parts] == [MAX_TEXT_CHARS, 10]
    assert parts[0][1] is None and parts[1][1] is not None


def test_file_base_url_sits_beside_the_api_base() -> None:
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert (
        file_base_url("http://tg.local:8081/bot{token}") == "http://tg.local:8081/file/bot{token}"
    )


async def test_blocked_and_missing_chats_are_permanent(
    sender: TelegramSender, api: FakeBotAPI
) -> None:
    api.blocked.add(42)
    with pytest.raises(SendError) as blocked:
        await sender.send(recipient="42", payload=payload(("hi", [])))
    assert blocked.value.permanent
    with pytest.raises(SendError) as bad:
        await sender.send(recipient="not-a-chat", payload=payload(("hi", [])))
    assert bad.value.permanent


async def test_flood_wait_is_waited_out_once(sender: TelegramSender, api: FakeBotAPI) -> None:
    api.retry_after[43] = 1
    await sender.send(recipient="43", payload=payload(("hi", [])))
    assert [m.text for m in api.messages(43)] == ["hi"]
    assert api.count("sendMessage") == 2


async def test_timeout_is_an_unknown_outcome_not_a_send_error(
    sender: TelegramSender, api: FakeBotAPI
) -> None:
    api.hang_sends = True
    with pytest.raises(Exception) as raised:
        await sender.send(recipient="44", payload=payload(("hi", [])))
    assert not isinstance(raised.value, SendError)  # the row goes to review, not retry
    api.release_hung_sends()


async def test_failure_after_part_of_a_payload_is_not_retried(
    sender: TelegramSender, api: FakeBotAPI
) -> None:
    async def block_after_first() -> None:
        while not api.messages(45):
            await asyncio.sleep(0.001)
        api.retry_after_seconds = 60  # longer than the sender sits out
        api.retry_after[45] = 1

    watcher = asyncio.create_task(block_after_first())
    with pytest.raises(PartialSend):
        await sender.send(recipient="45", payload=payload(("one", []), ("two", [])))
    await watcher
    assert [m.text for m in api.messages(45)] == ["one"]


async def test_a_stopped_sender_refuses_before_sending(sender: TelegramSender) -> None:
    await sender.close(timeout=1)
    with pytest.raises(SendError) as refused:
        await sender.send(recipient="46", payload=payload(("hi", [])))
    assert not refused.value.permanent


async def test_per_chat_pacing_does_not_hold_up_other_chats() -> None:
    limiter = SendLimiter(chat_per_second=5, chat_burst=1)
    await limiter.wait(1)
    slow = asyncio.create_task(limiter.wait(1))  # has to wait a fifth of a second
    await asyncio.wait_for(limiter.wait(2), 0.05)
    assert not slow.done()
    await asyncio.wait_for(slow, 2)


def _update(body: dict[str, Any]) -> Update:
    return Update.de_json({"update_id": 1, **body}, None)


def test_translate_media_location_and_links(api: FakeBotAPI) -> None:
    user = TelegramUser(api, chat_id=77)
    doc = user.message(
        document={
            "file_id": "D1",
            "file_unique_id": "d1",
            "file_name": "../收据.pdf",
            "mime_type": "application/pdf",
            "file_size": 2048,
        },
        caption="罚款单",
    )
    inbound = translate(_update(doc), now=NOW)
    assert inbound.action == "dispatch" and inbound.message is not None
    assert inbound.message.text == "罚款单"
    (attachment,) = inbound.message.attachments
    assert (attachment.kind, attachment.filename, attachment.size) == ("file", "收据.pdf", 2048)
    video = user.message(
        video={"file_id": "V1", "file_unique_id": "v", "width": 1, "height": 1, "duration": 2}
    )
    assert translate(_update(video), now=NOW).message.attachments[0].kind == "video"  # type: ignore[union-attr]
    venue = user.message(
        venue={
            "location": {"latitude": 28.2, "longitude": 112.9},
            "title": "望城治超站",
            "address": "G5513",
        }
    )
    place = translate(_update(venue), now=NOW).message.location  # type: ignore[union-attr]
    assert place is not None and place.label == "望城治超站 G5513"
    link = translate(_update(user.text("/start u-4301")), now=NOW).message
    assert link is not None and (link.deep_link, link.text) == ("u-4301", "")
    odd = translate(_update(user.text("/start 不是载荷")), now=NOW).message
    assert odd is not None and (odd.deep_link, odd.text) == (None, "/start 不是载荷")
    assert translate(_update(user.sticker()), now=NOW).action == "unsupported"
    joined = user.message(new_chat_title="x")
    assert translate(_update(joined), now=NOW).action == "ignore"
    edited = {"edited_message": user.text("改了")["message"]}
    assert translate(_update(edited), now=NOW).action == "ignore"
