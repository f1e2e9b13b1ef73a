"""The Telegram channel: python-telegram-bot behind our aiohttp server, webhook or polling.

Nothing lost, nothing twice
---------------------------
Every update, from `POST /telegram` or from our `getUpdates` loop, goes onto PTB's
`update_queue` and through one handler (`UpdateProcessor.process`, telegram_updates.py):

1. `Dispatcher.handle_async(message, outbox_hold=0)` dedupes on the update, runs the
   conversation step and queues the replies as an outbox row, all in one transaction.
2. Only then is the update acknowledged: the webhook answers 200 (Telegram redelivers an
   update until it gets a 2xx), the polling loop asks for the next offset (Telegram hands
   out unconfirmed updates again). A crash before the commit therefore means redelivery;
   a redelivered update comes back from the dispatcher as a duplicate and sends nothing.
3. `OutboxDelivery.deliver_due(ids=...)` claims the row and sends it at once (one sender
   task per chat keeps the chat's messages in order). A crash after the commit but before
   the claim leaves a pending row that the 2-second delivery job sends; a crash mid-send
   leaves a 'sending' row that the stale sweep flags for review (never resent,
   storage/outbox.py).

Acknowledging after the commit (tens of milliseconds), not before, is what makes a kill -9
between receiving and replying safe: a 200 sent before the commit would lose the message.

Refusals on `POST /telegram`: missing or wrong `X-Telegram-Bot-Api-Secret-Token` (or no
TELEGRAM_WEBHOOK_SECRET configured) → 403, malformed JSON → 400, over 1 MB → 413; nothing
is stored. A chat that floods the bot is slowed by an in-memory token bucket (per replica).
Only private chats are served (telegram_inbound.py); the dedupe id is
`<update_id>:<message_id>`, because Telegram may restart update ids at random after a week
without updates. Polling is for one replica (Telegram allows one `getUpdates` consumer);
run replicas with the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import ApplicationBuilder, TypeHandler

from bot.app import MAX_BODY_BYTES
from bot.channels.telegram_files import fetch_pending_files
from bot.channels.telegram_inbound import CHANNEL
from bot.channels.telegram_sender import SendLimiter, TelegramSender
from bot.channels.telegram_updates import UpdateProcessor
from bot.channels.wechat_ratelimit import RateLimiter
from bot.services import Services
from bot.settings import SettingsError

__all__ = ["TELEGRAM_KEY", "TelegramChannel", "fetch_pending_files", "setup_telegram"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret tokens.
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}", re.ASCII)
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT_SECONDS = 25
# Longer than any commit takes; past it the webhook answers 503 and Telegram redelivers.
COMMIT_WAIT_SECONDS = 20.0
POISON_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 30.0
FILES_INTERVAL_SECONDS = 60.0
SHUTDOWN_DRAIN_SECONDS = 10.0
# The menu Telegram shows next to the input field (zh-CN, the bot's language).
BOT_COMMANDS = (
    ("start", "开始投诉"),
    ("status", "查询工单进度"),
    ("mine", "我的投诉"),
    ("add", "为工单补充材料"),
    ("withdraw", "撤回工单"),
    ("cancel", "取消当前填写"),
    ("help", "使用帮助"),
)


def file_base_url(base_url: str) -> str:
    """The file download base beside an API base: …/bot → …/file/bot (also for {token})."""
    head, sep, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else f"{base_url}/file"


class TelegramChannel:
    """The webhook route, the polling loop and the update handler, bound to the services."""

    def __init__(
        self,
        services: Services,
        *,
        limiter: RateLimiter | None = None,
        send_limiter: SendLimiter | None = None,
        poll_timeout: int = POLL_TIMEOUT_SECONDS,
        files_interval: float = FILES_INTERVAL_SECONDS,
    ) -> None:
        settings = services.settings
        token = (
            settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
        )
        if not token:
            raise SettingsError("TELEGRAM_BOT_TOKEN must be set for the Telegram channel")
        secret = (
            settings.telegram_webhook_secret.get_secret_value()
            if settings.telegram_webhook_secret
            else ""
        )
        if secret and not SECRET_RE.fullmatch(secret):
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Z a-z 0-9 _ -")
        if settings.telegram_webhook_url and not secret:
            raise SettingsError("TELEGRAM_WEBHOOK_SECRET must be set with TELEGRAM_WEBHOOK_URL")
        self.services = services
        self.secret = secret.encode()
        self.webhook_url = settings.telegram_webhook_url
        self.poll_timeout = poll_timeout
        self.files_interval = files_interval
        base_url = settings.telegram_api_base_url.rstrip("/")
        self.application = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .base_file_url(file_base_url(base_url))
            .updater(None)  # our aiohttp route or our polling loop feeds update_queue
            .job_queue(None)  # scheduling is APScheduler's in bot/scheduler.py
            .concurrent_updates(True)  # chats in parallel; one chat in order (_chat_turn)
            .build()
        )
        self.sender = TelegramSender(self.application.bot, limiter=send_limiter)
        self.updates = UpdateProcessor(
            services, self.application, self.sender, limiter or RateLimiter()
        )
        self.application.add_handler(TypeHandler(Update, self.updates.on_update))
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        """Start connecting in the background, so an unreachable Telegram delays only us."""
        self._tasks.append(asyncio.create_task(self._run(), name="telegram"))

    async def stop(self, _app: web.Application | None = None) -> None:
        """Stop fetching, finish the updates in hand, then close the bot's connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.application.running:
            await self.application.stop()  # processes what is already on the queue
        # Payloads under way finish; the rest stay pending for the next start.
        await self.sender.close(timeout=SHUTDOWN_DRAIN_SECONDS)
        await self.updates.finish_sends(timeout=SHUTDOWN_DRAIN_SECONDS)
        self.ready.clear()
        await self.application.shutdown()

    async def _run(self) -> None:
        await self._retrying("connect", self.application.initialize)
        await self.application.start()
        self.sender.open = True
        self.ready.set()
        log.info("telegram: bot ready (%s)", "webhook" if self.webhook_url else "polling")
        self._tasks.append(asyncio.create_task(self._files_loop(), name="telegram-files"))
        commands = [BotCommand(name, description) for name, description in BOT_COMMANDS]
        await self._retrying(
            "setMyCommands", lambda: self.application.bot.set_my_commands(commands)
        )
        if self.webhook_url:
            await self._retrying(
                "setWebhook",
                lambda: self.application.bot.set_webhook(
                    url=self.webhook_url,
                    secret_token=self.secret.decode(),
                    allowed_updates=ALLOWED_UPDATES,
                ),
            )
        else:
            await self._retrying("deleteWebhook", self.application.bot.delete_webhook)
            await self._poll()

    async def _retrying(self, what: str, call: Callable[[], Awaitable[Any]]) -> None:
        delay = 1.0
        while True:
            try:
                await call()
                return
            except (TelegramError, OSError) as exc:
                level = logging.ERROR if isinstance(exc, InvalidToken) else logging.WARNING
                log.log(level, "telegram: %s failed (%s), retrying", what, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    async def _files_loop(self) -> None:
        while True:
            await asyncio.sleep(self.files_interval)
            try:
                await fetch_pending_files(self.services)
            except Exception:
                log.exception("telegram: fetching files failed")

    # -- receiving -----------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        """`POST /telegram`: check the secret, parse, feed, answer once committed."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self.secret or not hmac.compare_digest(given, self.secret):
            log.warning("telegram: webhook call with a wrong or missing secret refused")
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_BODY_BYTES, actual_size=request.content_length
            )
        body = await request.read()  # aiohttp refuses more than client_max_size with 413
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="malformed JSON")
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            return web.Response(status=400, text="not an update")
        if not self.ready.is_set():
            return web.Response(status=503, text="starting")  # Telegram tries again
        try:
            update = Update.de_json(data, self.application.bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            return web.Response(status=400, text="not an update")
        try:
            await asyncio.wait_for(self.updates.feed(update), COMMIT_WAIT_SECONDS)
        except TimeoutError:
            log.warning("telegram: update %d not committed in time", update.update_id)
            return web.Response(status=503, text="busy")
        except Exception:
            return web.Response(status=500, text="error")  # logged by the handler
        return web.Response(text="ok")

    async def _poll(self) -> None:
        """Long-poll `getUpdates`; confirm an update (next offset) only once it is committed."""
        bot = self.application.bot
        offset: int | None = None
        failures: dict[int, int] = {}
        delay = 1.0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s)", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                continue
            if not updates:
                delay = 1.0
                continue
            results = await asyncio.gather(
                *(self.updates.feed(u) for u in updates), return_exceptions=True
            )
            offset = updates[-1].update_id + 1
            for update, result in zip(updates, results, strict=True):
                if not isinstance(result, BaseException):
                    continue
                tries = failures[update.update_id] = failures.get(update.update_id, 0) + 1
                if tries < POISON_ATTEMPTS:
                    # Fetch it again (and what came after it, which dedupes) after a pause.
                    offset = update.update_id
                    break
                log.error("telegram: giving up on update %d", update.update_id)
            if offset != updates[-1].update_id + 1:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            else:
                delay = 1.0
                failures.clear()


TELEGRAM_KEY = web.AppKey("telegram", TelegramChannel)


def setup_telegram(app: web.Application, services: Services) -> TelegramChannel:
    """Register the webhook route, the sender and the start/stop hooks."""
    channel = TelegramChannel(services)
    app[TELEGRAM_KEY] = channel
    services.senders[CHANNEL] = channel.sender
    app.router.add_post("/telegram", channel.webhook)
    app.on_startup.append(channel.start)
    app.on_cleanup.append(channel.stop)
    return channel
