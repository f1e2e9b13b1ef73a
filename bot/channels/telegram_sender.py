"""Sending outbox payloads to Telegram: inline keyboards, rate limits, error mapping.

What a failure means for the outbox row (see bot/outbox.py):

- `Forbidden` (the user blocked the bot) and `BadRequest` (chat not found, text refused)
  → `SendError(permanent=True)`: the row fails once and is never retried.
- `RetryAfter`: waited out in place when short (the message certainly did not go out),
  otherwise `SendError(permanent=False)`; so are connection failures and HTTP 5xx answers.
- `TimedOut` and network errors after the request was written → re-raised as they are: the
  request may have reached Telegram, so the row stays 'sending' and the stale sweep flags
  it for review instead of sending it twice.
- A payload of several messages that fails after the first went out raises `PartialSend`
  (not a `SendError`) for the same reason: retrying would repeat what the driver already saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.outbox import SendError
from handlers.choices import numbered
from handlers.messages import Choice

log = logging.getLogger(__name__)

# PTB 22 is moving time periods (RetryAfter.retry_after, durations) from int seconds to
# timedelta and warns on every access, even while building a RetryAfter itself, unless the
# new behaviour is chosen. We choose it (the documented opt-in); this code reads both.
os.environ.setdefault("PTB_TIMEDELTA", "true")

# Telegram's documented limits: about 30 messages a second per bot, about one a second per
# chat (short bursts are tolerated).
GLOBAL_PER_SECOND = 30.0
CHAT_PER_SECOND = 1.0
CHAT_BURST = 3
# A flood wait longer than this goes back to the outbox (with its own backoff) instead of
# holding a delivery worker.
MAX_INLINE_WAIT_SECONDS = 10.0
RETRY_AFTER_ATTEMPTS = 3
CALLBACK_DATA_MAX_BYTES = 64
# Labels this short fit two to a row on a phone.
SHORT_LABEL_CHARS = 8
MAX_TEXT_CHARS = int(MessageLimit.MAX_TEXT_LENGTH)


class PartialSend(Exception):
    """Some messages of a payload went out and a later one failed: outcome for review."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class SendLimiter:
    """Token buckets for outgoing messages: one for the bot, one per chat.

    In memory and per process: replicas each apply it, so N replicas may reach N times the
    global rate; Telegram then answers 429 and `RetryAfter` slows everyone down.
    """

    def __init__(
        self,
        *,
        global_per_second: float = GLOBAL_PER_SECOND,
        chat_per_second: float = CHAT_PER_SECOND,
        chat_burst: int = CHAT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_per_second = global_per_second
        self.chat_per_second = chat_per_second
        self.chat_burst = chat_burst
        self.clock = clock
        self._global = _Bucket(tokens=global_per_second, updated=clock())
        self._chats: dict[int, _Bucket] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Send nothing for a while (Telegram asked us to wait)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _refill(self, bucket: _Bucket, rate: float, capacity: float, now: float) -> None:
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now

    def _wait_needed(self, chat_id: int, now: float) -> float:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) > 10_000:
                self._forget_full(now)
            chat = self._chats[chat_id] = _Bucket(tokens=float(self.chat_burst), updated=now)
        self._refill(chat, self.chat_per_second, float(self.chat_burst), now)
        self._refill(self._global, self.global_per_second, self.global_per_second, now)
        waits = [self._paused_until - now]
        if chat.tokens < 1.0:
            waits.append((1.0 - chat.tokens) / self.chat_per_second)
        if self._global.tokens < 1.0:
            waits.append((1.0 - self._global.tokens) / self.global_per_second)
        wait = max(waits)
        if wait <= 0:
            chat.tokens -= 1.0
            self._global.tokens -= 1.0
        return wait

    def _forget_full(self, now: float) -> None:
        full_after = self.chat_burst / self.chat_per_second
        for key in [k for k, b in self._chats.items() if now - b.updated >= full_after]:
            del self._chats[key]

    async def wait(self, chat_id: int) -> None:
        """Return when one more message to `chat_id` is within the limits."""
        # No lock across the sleep: a chat waiting for its own bucket never holds up others.
        # A chat's messages keep their order because the channel sends them one at a time.
        while (delay := self._wait_needed(chat_id, self.clock())) > 0:
            await asyncio.sleep(delay)


def retry_after_seconds(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def certainly_unsent(exc: NetworkError) -> bool:
    """Whether a network error proves the request never reached Telegram."""
    cause = exc.__cause__
    if cause is None:
        return True  # Telegram answered with an HTTP error (5xx): it refused the request
    # Connecting failed: nothing was sent. A read or protocol error after the request was
    # written leaves the outcome unknown.
    return isinstance(cause, httpx.ConnectError)


def keyboard(choices: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
    """Choices as inline buttons (two per row when all labels are short); None if none fit."""
    if not choices:
        return None
    if any(len(str(c["value"]).encode()) > CALLBACK_DATA_MAX_BYTES for c in choices):
        return None
    buttons = [
        InlineKeyboardButton(str(c["label"]), callback_data=str(c["value"])) for c in choices
    ]
    per_row = 2 if all(len(str(c["label"])) <= SHORT_LABEL_CHARS for c in choices) else 1
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(rows)


def render(payload: dict[str, Any]) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """The messages for a payload {"replies": [{"text", "choices"}]}, in order."""
    messages: list[tuple[str, InlineKeyboardMarkup | None]] = []
    for item in payload.get("replies", []):
        body = str(item.get("text", ""))
        choices = list(item.get("choices") or [])
        markup = keyboard(choices)
        if choices and markup is None:
            # A value too long for callback data: offer numbers, which the conversation
            # maps back to the choice (handlers/choices.py).
            body += "\n" + numbered(
                tuple(Choice(str(c["label"]), str(c["value"])) for c in choices)
            )
        parts = [body[i : i + MAX_TEXT_CHARS] for i in range(0, len(body), MAX_TEXT_CHARS)]
        for index, part in enumerate(parts or [""]):
            last = index == len(parts) - 1
            if part.strip():
                messages.append((part, markup if last else None))
    return messages


class TelegramSender:
    """Implements `bot.outbox.Sender` for Telegram chats (recipient = chat id)."""

    def __init__(self, bot: Bot, *, limiter: SendLimiter | None = None) -> None:
        self.bot = bot
        self.limiter = limiter or SendLimiter()
        # False until the bot is initialised and again once the channel stops: sends then
        # fail before reaching Telegram, so their rows simply wait for the next attempt.
        self.open = False
        self.unfetchable: set[int] = set()  # attachment rows whose file Telegram won't give
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """Send every reply of the payload as one message each."""
        if not self.open:
            raise SendError("telegram channel not running")
        try:
            chat_id = int(recipient)
        except ValueError:
            raise SendError("not a Telegram chat id", permanent=True) from None
        messages = render(payload)
        self._inflight += 1
        self._idle.clear()
        try:
            for index, (body, markup) in enumerate(messages):
                try:
                    await self._send_one(chat_id, body, markup, first=not index)
                except SendError as exc:
                    if index and not exc.permanent:
                        raise PartialSend(f"{index} of {len(messages)} sent, then: {exc}") from exc
                    raise
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def close(self, *, timeout: float) -> None:
        """Refuse new sends and wait for those under way, so none is cut off mid-payload."""
        self.open = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _send_one(
        self, chat_id: int, body: str, markup: InlineKeyboardMarkup | None, *, first: bool
    ) -> None:
        for attempt in range(1, RETRY_AFTER_ATTEMPTS + 1):
            await self.limiter.wait(chat_id)
            if first and not self.open:
                # Stopping while this payload waited its turn: nothing went out, so the row
                # can simply be tried again later.
                raise SendError("telegram channel stopping")
            try:
                await self.bot.send_message(chat_id=chat_id, text=body, reply_markup=markup)
                return
            except RetryAfter as exc:
                delay = retry_after_seconds(exc)
                self.limiter.pause(delay)
                if delay > MAX_INLINE_WAIT_SECONDS or attempt == RETRY_AFTER_ATTEMPTS:
                    raise SendError(f"flood control: retry after {delay:.0f} s") from exc
                log.warning("telegram: flood control, waiting %.1f s", delay)
                await asyncio.sleep(delay)
            except Forbidden as exc:
                raise SendError(f"forbidden: {exc.message}", permanent=True) from exc
            except (BadRequest, ChatMigrated) as exc:
                raise SendError(f"bad request: {exc.message}", permanent=True) from exc
            except TimedOut:
                raise  # may have been delivered: outcome unknown (module docstring)
            except NetworkError as exc:
                if not certainly_unsent(exc):
                    raise
                raise SendError(f"network error: {exc.message}") from exc
            except TelegramError as exc:
                raise SendError(f"telegram error: {exc.message}") from exc
