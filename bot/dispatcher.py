"""One inbound message, one transaction: dedupe, load state, run the step, save everything."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from handlers.catalog import language_of, reply
from handlers.context import Rules, StepContext
from handlers.conversation import handle_message
from handlers.messages import Choice, IncomingMessage, Reply
from storage.conversations import (
    claim_inbound,
    inbound_replies,
    load_conversation,
    save_conversation,
    store_inbound_replies,
)
from storage.engine import transaction
from storage.outbox import enqueue

log = logging.getLogger(__name__)

# Conflicts that a second attempt resolves: two first messages of one user inserting the
# same conversation row, or a deadlock on PostgreSQL.
RETRYABLE = (IntegrityError, OperationalError)
ATTEMPTS = 3


@dataclass(frozen=True)
class DispatchOutcome:
    """The replies for a message, and whether it was a platform retry of one already handled."""

    replies: list[Reply]
    duplicate: bool = False
    # Set when the replies were also queued in the outbox (see `Dispatcher.handle`).
    outbox_key: str | None = None
    outbox_id: int | None = None


def reply_outbox_key(message: IncomingMessage) -> str:
    """The idempotency key of the outbox row holding a message's replies."""
    return f"reply:{message.channel}:{message.message_id}"


def replies_from_json(stored: list[dict[str, Any]]) -> list[Reply]:
    """Rebuild replies kept in the dedupe ledger."""
    return [
        Reply(
            text=str(r["text"]),
            choices=tuple(Choice(label=c["label"], value=c["value"]) for c in r.get("choices", [])),
            key=str(r.get("key", "")),
        )
        for r in stored
    ]


class Dispatcher:
    """Runs conversation steps for every channel; the only writer of conversation state."""

    def __init__(self, *, engine: Engine, rules: Rules, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.rules = rules
        self.clock = clock

    def handle(
        self, message: IncomingMessage, *, outbox_hold: timedelta | None = None
    ) -> DispatchOutcome:
        """Process a message exactly once and return its replies (blocking; run in a thread).

        With `outbox_hold` the replies are also queued in the outbox, due after the hold, in
        the same transaction: a channel that answers in time cancels the row, and a crash
        before answering leaves the row for the delivery job, so no answer is lost.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._handle_once(message, outbox_hold)
            except RETRYABLE as exc:
                if attempt == ATTEMPTS:
                    raise
                log.info(
                    "retrying %s/%s after %s",
                    message.channel,
                    message.message_id,
                    type(exc).__name__,
                )
        raise AssertionError("unreachable")

    async def handle_async(
        self, message: IncomingMessage, *, outbox_hold: timedelta | None = None
    ) -> DispatchOutcome:
        """`handle` off the event loop."""
        return await asyncio.to_thread(self.handle, message, outbox_hold=outbox_hold)

    def _handle_once(
        self, message: IncomingMessage, outbox_hold: timedelta | None
    ) -> DispatchOutcome:
        now = self.clock()
        with transaction(self.engine) as session:
            if not claim_inbound(
                session, channel=message.channel, message_id=message.message_id, now=now
            ):
                stored = inbound_replies(
                    session, channel=message.channel, message_id=message.message_id
                )
                log.info("duplicate %s/%s", message.channel, message.message_id)
                key = reply_outbox_key(message) if outbox_hold is not None else None
                return DispatchOutcome(replies_from_json(stored), duplicate=True, outbox_key=key)
            conversation = load_conversation(
                session, channel=message.channel, user_key=message.user_key, for_update=True
            )
            state, data = (
                ("idle", {})
                if conversation is None
                # A deep copy: steps edit nested lists (evidence), and the ORM must see a change.
                else (conversation.state, copy.deepcopy(conversation.data))
            )
            language = language_of(message.language)
            prefix: list[Reply] = []
            expired = (
                conversation is not None
                and state != "idle"
                and conversation.expires_at is not None
                and conversation.expires_at < now
            )
            if expired:
                hours = int(self.rules.config.draft_ttl.total_seconds() // 3600)
                prefix.append(reply("common.draft_expired", language, hours=hours))
                state, data = "idle", {}
            context = StepContext(
                session=session,
                now=now,
                rules=self.rules,
                channel=message.channel,
                user_key=message.user_key,
                language=language,
            )
            result = handle_message(context, state, data, message)
            replies = prefix + result.replies
            save_conversation(
                session,
                channel=message.channel,
                user_key=message.user_key,
                state=result.state,
                data=result.data,
                language=language,
                now=now,
                expires_at=None if result.state == "idle" else now + self.rules.config.draft_ttl,
                loaded=conversation,
            )
            stored = [{**r.to_json(), "key": r.key} for r in replies]
            store_inbound_replies(
                session, channel=message.channel, message_id=message.message_id, replies=stored
            )
            outbox_key = outbox_id = None
            if outbox_hold is not None and replies:
                outbox_key = reply_outbox_key(message)
                row = enqueue(
                    session,
                    channel=message.channel,
                    recipient=message.user_key,
                    payload={"replies": stored, "language": language},
                    idempotency_key=outbox_key,
                    now=now,
                    not_before=now + outbox_hold,
                )
                outbox_id = row.id
        log.info(
            "handled %s/%s: %s -> %s", message.channel, message.message_id, state, result.state
        )
        return DispatchOutcome(replies, outbox_key=outbox_key, outbox_id=outbox_id)
