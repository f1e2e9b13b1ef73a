"""Delivering outbox rows through channel senders, at most once each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from storage.engine import transaction
from storage.outbox import claim_due, flag_stale_sends, mark_failed, mark_sent

log = logging.getLogger(__name__)


class SendError(Exception):
    """A send that certainly did not go out; `permanent` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    """A channel's way of sending one outbox payload to one recipient."""

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """Send, raising SendError when it certainly failed; any other error means unknown."""


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unknown: int = 0


class OutboxDelivery:
    """Claims due rows and sends them; safe to run in every replica at once."""

    def __init__(
        self,
        *,
        engine: Engine,
        senders: dict[str, Sender],
        clock: Callable[[], datetime],
        worker_id: str,
    ) -> None:
        self.engine = engine
        self.senders = senders
        self.clock = clock
        self.worker_id = worker_id

    def _claim(
        self, limit: int, ids: tuple[int, ...] | None
    ) -> list[tuple[int, str, str, dict[str, Any]]]:
        with transaction(self.engine) as session:
            rows = claim_due(
                session,
                now=self.clock(),
                worker=self.worker_id,
                limit=limit,
                channels=tuple(self.senders),
                ids=ids,
            )
            return [(r.id or 0, r.channel, r.recipient, dict(r.payload)) for r in rows]

    def _finish(self, outbox_id: int, error: SendError | None) -> str:
        with transaction(self.engine) as session:
            if error is None:
                mark_sent(session, outbox_id=outbox_id, now=self.clock())
                return "sent"
            return mark_failed(
                session,
                outbox_id=outbox_id,
                now=self.clock(),
                error=str(error),
                permanent=error.permanent,
            )

    async def deliver_due(
        self, *, limit: int = 50, ids: tuple[int, ...] | None = None
    ) -> DeliveryReport:
        """Send what is due now (or just the rows `ids`), one claim per row."""
        report = DeliveryReport()
        claimed = await asyncio.to_thread(self._claim, limit, ids)
        for outbox_id, channel, recipient, payload in claimed:
            sender = self.senders[channel]
            try:
                await sender.send(recipient=recipient, payload=payload)
            except SendError as exc:
                status = await asyncio.to_thread(self._finish, outbox_id, exc)
                log.warning("outbox %d %s: %s", outbox_id, status, exc)
                if status == "failed":
                    report.failed += 1
                else:
                    report.retrying += 1
                continue
            except Exception:
                # The request may have reached the platform: leave the row 'sending' so the
                # stale sweep flags it for review instead of sending it twice.
                log.exception("outbox %d: send outcome unknown", outbox_id)
                report.unknown += 1
                continue
            await asyncio.to_thread(self._finish, outbox_id, None)
            report.sent += 1
        return report

    def flag_stale(self, *, older_than: timedelta = timedelta(minutes=5)) -> int:
        """Flag sends a dead worker left unfinished; returns how many."""
        with transaction(self.engine) as session:
            flagged = flag_stale_sends(session, now=self.clock(), older_than=older_than)
        if flagged:
            log.warning("outbox: %d sends with unknown outcome flagged for review", flagged)
        return flagged
