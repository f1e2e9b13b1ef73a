"""The outbox: everything sent later is a row first, claimed atomically, sent at most once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from storage.models import OutboxMessage


def enqueue(
    session: Session,
    *,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    purpose: str = "reply",
    ticket_id: int | None = None,
) -> OutboxMessage:
    """Add a message to send; the same idempotency key never queues twice."""
    existing = session.exec(
        select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return existing
    row = OutboxMessage(
        channel=channel,
        recipient=recipient,
        payload=dict(payload),
        idempotency_key=idempotency_key,
        purpose=purpose,
        ticket_id=ticket_id,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row
