"""The WeChat Official Account channel: `GET|POST /wechat`, plain and safe (AES) mode.

Answering within five seconds, exactly once
-------------------------------------------
WeChat waits five seconds for the callback's answer and then pushes the same message again,
up to three times. Each push is handled like this:

1. Check timestamp (±300 s of our clock) and signature, decrypt in safe mode, parse.
2. `Dispatcher.handle_async(message, outbox_hold=4.5 s)` runs the conversation step in one
   transaction that also queues the replies as an outbox row, due only after the hold.
   The step gets a budget of about 4 s from arrival.
3. If the outcome arrives in time, `cancel_pending` (in its own short transaction, committed
   only while still inside the budget) takes the row back:
   - cancelled → the replies become one passive text reply (encrypted in safe mode);
   - not cancelled (the delivery job already claimed it, or an earlier delivery of this
     push answered) → `success`.
4. If the budget runs out → `success`; the held row becomes due and the outbox job sends
   it through the customer-service message API.

A retried push comes back from the dispatcher as a duplicate with the same outbox key, so
the same rule applies: no second ticket, no second answer. A crash after the commit and
before answering leaves the row pending: WeChat's retry cancels it and answers passively,
or, without a retry, the delivery job sends it. The one gap is a crash in the instant
between committing the cancel and writing the HTTP answer: that answer is lost rather than
risk sending it twice (as with every send whose outcome is unknown, see storage/outbox.py).

Refusals: bad or missing signature, stale timestamp, wrong AES key or app id → 403;
malformed XML, XXE and entity bombs → 400; bodies over 1 MB → 413. Nothing is stored.
A driver who floods the account is slowed by an in-memory token bucket (per replica).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.channels.wechat_api import WeChatAPI
from bot.channels.wechat_crypto import (
    CallbackRejected,
    Envelope,
    check_signature,
    check_timestamp,
    valid_aes_key,
)
from bot.channels.wechat_inbound import CHANNEL, Inbound, parse_push
from bot.channels.wechat_outbound import WeChatSender
from bot.channels.wechat_ratelimit import RateLimiter
from bot.channels.wechat_render import SUCCESS, fits_one_message, passive_text_xml, render_text
from bot.services import Services
from bot.settings import SettingsError
from handlers.catalog import text
from handlers.messages import IncomingMessage
from storage.conversations import load_conversation
from storage.outbox import cancel_pending

log = logging.getLogger(__name__)

# The hold outlasts the budget, so the delivery job cannot claim a reply we may still
# answer passively; both stay well inside WeChat's five seconds.
OUTBOX_HOLD = timedelta(seconds=4.5)
PASSIVE_BUDGET_SECONDS = 4.0
CANCEL_GRACE_SECONDS = 0.5
MAX_NONCE_CHARS = 64
# The app refuses larger bodies on read (client_max_size in bot/app.py); a declared length
# over it is refused before reading anything.
MAX_BODY_BYTES = 1024 * 1024
SHUTDOWN_WAIT_SECONDS = 10.0


class WeChatChannel:
    """The callback routes, bound to the shared services."""

    def __init__(self, services: Services, *, limiter: RateLimiter | None = None) -> None:
        settings = services.settings
        if settings.wechat_token is None or not settings.wechat_token.get_secret_value():
            raise SettingsError("WECHAT_TOKEN must be set to receive WeChat callbacks")
        self.services = services
        self.token = settings.wechat_token.get_secret_value()
        aes_key = (
            settings.wechat_encoding_aes_key.get_secret_value()
            if settings.wechat_encoding_aes_key
            else ""
        )
        if aes_key and not valid_aes_key(aes_key):
            raise SettingsError("WECHAT_ENCODING_AES_KEY must be the 43 characters WeChat shows")
        self.envelope = (
            Envelope(token=self.token, aes_key=aes_key, app_id=settings.wechat_app_id)
            if aes_key
            else None
        )
        self.limiter = limiter or RateLimiter()
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- routes --------------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """`GET /wechat`: the platform's URL check; echo `echostr` when signed by our token."""
        try:
            self._authenticate(request)
        except CallbackRejected as rejected:
            log.warning("wechat: refused a URL check (%s)", rejected.reason)
            return web.Response(status=rejected.status, text=rejected.reason)
        echostr = request.query.get("echostr", "")
        if not echostr or len(echostr) > 256:
            return web.Response(status=400, text="no echostr")
        return web.Response(text=echostr)

    async def receive(self, request: web.Request) -> web.Response:
        """`POST /wechat`: one push; a passive reply, or `success` and a later answer."""
        deadline = time.monotonic() + PASSIVE_BUDGET_SECONDS
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=length)
        try:
            timestamp, nonce = self._authenticate(request)
            body = await request.read()  # 413 past the app's client_max_size
            inbound = parse_push(
                self._open(request, body, timestamp, nonce), received_at=self.services.clock()
            )
        except CallbackRejected as rejected:
            log.warning("wechat: refused a push (%s)", rejected.reason)
            return web.Response(status=rejected.status, text=rejected.reason)
        try:
            answer = await self._answer(inbound, deadline)
        except Exception:
            # Nothing was committed: a 503 makes WeChat push again, which may then succeed.
            log.exception("wechat %s: not handled", inbound.message.message_id)
            return web.Response(status=503, text="try again")
        if answer is None:
            return web.Response(text=SUCCESS)
        return self._passive(inbound, answer, nonce)

    # -- request checks ------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> tuple[str, str]:
        query = request.query
        timestamp = query.get("timestamp", "")
        nonce = query.get("nonce", "")
        if len(nonce) > MAX_NONCE_CHARS:
            raise CallbackRejected(403, "bad_nonce")
        check_timestamp(timestamp, self.services.clock())
        check_signature(query.get("signature"), self.token, timestamp, nonce)
        return timestamp, nonce

    def _open(self, request: web.Request, body: bytes, timestamp: str, nonce: str) -> bytes | str:
        encrypted = request.query.get("encrypt_type", "raw").lower() == "aes"
        if self.envelope is None:
            if encrypted:
                raise CallbackRejected(400, "safe_mode_not_configured")
            return body
        if not encrypted:
            # With an AES key configured the platform always encrypts: plaintext is not it.
            raise CallbackRejected(403, "plaintext_in_safe_mode")
        msg_signature = request.query.get("msg_signature")
        return self.envelope.open(
            body, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce
        )

    # -- answering -----------------------------------------------------------------------

    async def _answer(self, inbound: Inbound, deadline: float) -> str | None:
        """The passive reply text, or None to answer `success`."""
        if inbound.verdict == "ignore":
            return None
        if inbound.verdict == "location_report":
            if not await asyncio.to_thread(self._awaiting_place, inbound.openid):
                return None
        elif inbound.message.event != "unsubscribe":
            verdict = self.limiter.check(inbound.openid)
            if verdict != "ok":
                log.info("wechat %s: rate limited", inbound.message.message_id)
                return text("common.too_fast") if verdict == "warn" else None
            if inbound.verdict == "unsupported":
                return text("common.unsupported")
        return await self._dispatch(inbound.message, deadline)

    def _awaiting_place(self, openid: str) -> bool:
        # Location reports arrive every few seconds while the chat is open; they matter only
        # when the intake is asking where it happened.
        with Session(self.services.engine) as session:
            conversation = load_conversation(session, channel=CHANNEL, user_key=openid)
            return (
                conversation is not None
                and conversation.state == "intake.slot"
                and conversation.data.get("slot") == "place"
            )

    async def _dispatch(self, message: IncomingMessage, deadline: float) -> str | None:
        dispatcher = self.services.dispatcher
        task = self._keep(dispatcher.handle_async(message, outbox_hold=OUTBOX_HOLD))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), _left(deadline))
        except TimeoutError:
            self._log_late(task, message.message_id)
            log.info("wechat %s: slow, answering through the outbox", message.message_id)
            return None
        if outcome.outbox_key is None:
            return None  # nothing to say (unsubscribe, an empty duplicate)
        reply_text = render_text(outcome.replies)
        if not reply_text or not fits_one_message(reply_text):
            return None  # a long answer goes out in parts through the outbox
        if not await self._cancel(outcome.outbox_key, deadline, message.message_id):
            return None
        return reply_text

    async def _cancel(self, key: str, deadline: float, message_id: str) -> bool:
        task = self._keep(asyncio.to_thread(self._cancel_before, key, deadline))
        try:
            return await asyncio.wait_for(
                asyncio.shield(task), _left(deadline) + CANCEL_GRACE_SECONDS
            )
        except TimeoutError:
            self._log_late(task, message_id)
            return False
        except Exception:
            log.exception("wechat %s: could not take the reply back", message_id)
            return False

    def _cancel_before(self, key: str, deadline: float) -> bool:
        """Cancel the held row, committing only inside the budget (else it is sent later)."""
        with Session(self.services.engine) as session:
            try:
                cancelled = cancel_pending(session, idempotency_key=key)
                if cancelled and time.monotonic() < deadline:
                    session.commit()
                    return True
                session.rollback()
                return False
            except BaseException:
                session.rollback()
                raise

    def _passive(self, inbound: Inbound, content: str, nonce: str) -> web.Response:
        now = int(self.services.clock().timestamp())
        xml = passive_text_xml(
            to_user=inbound.openid, from_user=inbound.account, content=content, create_time=now
        )
        if self.envelope is not None:
            xml = self.envelope.seal(xml, nonce=nonce, timestamp=str(now))
        return web.Response(text=xml, content_type="application/xml")

    # -- background work -----------------------------------------------------------------

    def _keep(self, awaitable: Any) -> asyncio.Future[Any]:
        # Keep a reference: the work goes on after we stop waiting for it.
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def _log_late(task: asyncio.Future[Any], message_id: str) -> None:
        def done(finished: asyncio.Future[Any]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                error = type(finished.exception()).__name__
                log.error("wechat %s: failed after answering success: %s", message_id, error)

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait (bounded) for steps still running, so a shutdown does not cut them short."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_WAIT_SECONDS)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class _RedactOpenId(logging.Filter):
    """Access-log lines carry the callback URL, whose query names the user's OpenID."""

    pattern = re.compile(r"(openid=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "openid=" in record.msg:
            record.msg = self.pattern.sub(r"\1-", record.msg)
        return True


WECHAT_CHANNEL = web.AppKey("wechat_channel", WeChatChannel)


def setup_wechat(app: web.Application, services: Services) -> None:
    """Add the callback routes and register the outbox sender for WeChat."""
    settings = services.settings
    channel = WeChatChannel(services)
    secret = settings.wechat_app_secret
    api = WeChatAPI(
        app_id=settings.wechat_app_id,
        app_secret=secret.get_secret_value() if secret else None,
        base_url=settings.wechat_api_base_url,
    )
    services.senders["wechat"] = WeChatSender(api)
    app[WECHAT_CHANNEL] = channel
    app.router.add_get("/wechat", channel.verify)
    app.router.add_post("/wechat", channel.receive)
    access = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, _RedactOpenId) for f in access.filters):
        access.addFilter(_RedactOpenId())

    async def close(_app: web.Application) -> None:
        await channel.drain()
        await api.close()

    app.on_cleanup.append(close)
