"""Processing Telegram updates: one path for webhook and polling, replies in order per chat.

`feed` puts an update on PTB's `update_queue` and returns once the update's effects are
committed (see bot/channels/telegram.py for why acknowledging waits for that);
`on_update`, PTB's handler, runs `process`. Each chat gets one update at a time (its turn)
and one sender task, so state changes and messages keep the chat's order while other
chats go on in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.channels.telegram_inbound import CHANNEL, Inbound, translate
from bot.channels.telegram_sender import TelegramSender
from bot.channels.wechat_ratelimit import RateLimiter
from bot.dispatcher import reply_outbox_key
from bot.services import Services
from handlers.catalog import language_of, reply
from storage.engine import transaction
from storage.outbox import enqueue

log = logging.getLogger(__name__)


@dataclass
class _ChatTurn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class UpdateProcessor:
    """Runs updates through the dispatcher and hands their replies to per-chat senders."""

    def __init__(
        self,
        services: Services,
        application: Application[Any, Any, Any, Any, Any, Any],
        sender: TelegramSender,
        limiter: RateLimiter,
    ) -> None:
        self.services = services
        self.application = application
        self.sender = sender
        # Per process: with N replicas behind the webhook a chat may get N times the rate.
        self.limiter = limiter
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._turns: dict[int, _ChatTurn] = {}
        self._outgoing: dict[int, deque[int]] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}

    async def finish_sends(self, *, timeout: float) -> None:
        """Wait for the chats' sender tasks (they stop once the sender is closed)."""
        if self._senders:
            await asyncio.wait(list(self._senders.values()), timeout=timeout)

    async def feed(self, update: Update) -> None:
        """Queue an update for PTB and return once its effects are committed (or ignored)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(update.update_id, []).append(future)
        try:
            await self.application.update_queue.put(update)
            await future
        finally:
            waiting = self._waiters.get(update.update_id, [])
            if future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._waiters[update.update_id]

    def release(self, update_id: int, error: BaseException | None = None) -> None:
        """Tell whoever fed this update that it is committed (or failed with `error`)."""
        for future in self._waiters.pop(update_id, []):
            if not future.done():
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB's handler for every update: process it, then release whoever waits."""
        try:
            await self.process(update)
        except Exception as exc:
            log.exception("telegram: update %d failed", update.update_id)
            self.release(update.update_id, exc)
        finally:
            self.release(update.update_id)

    @contextlib.asynccontextmanager
    async def _chat_turn(self, chat_id: int) -> AsyncIterator[None]:
        # One update per chat at a time, in arrival order, so replies keep the chat's order.
        turn = self._turns.setdefault(chat_id, _ChatTurn())
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[chat_id]

    async def process(self, update: Update) -> None:
        """Handle one update: rate limit, dispatch, acknowledge, then queue the send."""
        inbound = translate(update, now=self.services.clock())
        if inbound.action == "ignore" or inbound.chat_id is None or inbound.message is None:
            self.release(update.update_id)
            await self._answer_query(inbound)
            return
        verdict = self.limiter.check(str(inbound.chat_id))
        if verdict == "drop":  # already told to slow down: drop quietly
            self.release(update.update_id)
            await self._answer_query(inbound)
            return
        async with self._chat_turn(inbound.chat_id):
            if verdict == "warn" or inbound.action == "unsupported":
                key = "common.too_fast" if verdict == "warn" else "common.unsupported"
                outbox_id = await asyncio.to_thread(self._queue_notice, inbound, key)
            else:
                outcome = await self.services.dispatcher.handle_async(
                    inbound.message, outbox_hold=timedelta(0)
                )
                outbox_id = None if outcome.duplicate else outcome.outbox_id
            self.release(update.update_id)
            # Answered after the commit and before the send: the spinner stops once the
            # press is recorded (the crash tests rely on this order).
            await self._answer_query(inbound)
            if outbox_id is not None:
                self._send_later(inbound.chat_id, outbox_id)

    def _send_later(self, chat_id: int, outbox_id: int) -> None:
        """Queue a row for this chat's sender task, which sends the chat's rows in order.

        Sending outside the chat's turn keeps the webhook's answer at commit speed while
        the per-chat send limit (about one a second) paces the messages.
        """
        self._outgoing.setdefault(chat_id, deque()).append(outbox_id)
        if chat_id not in self._senders:
            self._senders[chat_id] = asyncio.create_task(self._drain(chat_id))

    async def _drain(self, chat_id: int) -> None:
        try:
            queue = self._outgoing[chat_id]
            while queue and self.sender.open:
                await self._deliver(queue.popleft())
        finally:
            # Rows left behind when stopping stay pending for the delivery job.
            del self._senders[chat_id]
            del self._outgoing[chat_id]

    def _queue_notice(self, inbound: Inbound, key: str) -> int | None:
        """Queue a fixed answer for an update the conversation does not see."""
        assert inbound.message is not None
        language = language_of(inbound.language)
        notice = reply(key, language)
        with transaction(self.services.engine) as session:
            row = enqueue(
                session,
                channel=CHANNEL,
                recipient=str(inbound.chat_id),
                payload={"replies": [{**notice.to_json(), "key": key}], "language": language},
                # A redelivered update finds this row and sends nothing new.
                idempotency_key=reply_outbox_key(inbound.message),
                now=self.services.clock(),
            )
            return row.id if row.status == "pending" else None

    async def _deliver(self, outbox_id: int) -> None:
        try:
            await self.services.delivery.deliver_due(ids=(outbox_id,))
        except Exception:
            # The row is still pending (or flagged later if it got as far as sending).
            log.exception("telegram: delivering outbox %d failed", outbox_id)

    async def _answer_query(self, inbound: Inbound) -> None:
        if inbound.callback_query_id is None:
            return
        try:
            await self.application.bot.answer_callback_query(inbound.callback_query_id)
        except TelegramError as exc:
            # Too old or already answered (a redelivery): the spinner stops by itself.
            log.debug("telegram: answerCallbackQuery failed: %s", type(exc).__name__)
