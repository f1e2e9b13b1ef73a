"""The outbox: everything sent later is a row first, claimed atomically, sent at most once.

Statuses: pending → sending → sent; sending → pending again after a failure known to have
happened before anything went out; sending → review when a worker died mid-send (the
outcome is unknown, and neither Telegram nor WeChat offers idempotent sends); failed after
a permanent error or too many attempts; cancelled when a held reply was answered passively.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import OutboxMessage

MAX_ATTEMPTS = 8


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
    not_before: datetime | None = None,
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
        next_attempt_at=not_before or now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def claim_due(
    session: Session,
    *,
    now: datetime,
    worker: str,
    limit: int = 50,
    channels: tuple[str, ...] | None = None,
    ids: tuple[int, ...] | None = None,
) -> list[OutboxMessage]:
    """Mark up to `limit` due rows as being sent by `worker` and return them."""
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", col(OutboxMessage.next_attempt_at) <= now)
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if channels:
        query = query.where(col(OutboxMessage.channel).in_(channels))
    if ids is not None:
        query = query.where(col(OutboxMessage.id).in_(ids))
    if session.get_bind().dialect.name == "postgresql":
        # Replicas claim disjoint rows without waiting on each other.
        query = query.with_for_update(skip_locked=True)
    candidate_ids = [row_id for row_id in session.exec(query).all() if row_id is not None]
    claimed: list[int] = []
    for row_id in candidate_ids:
        # The status guard makes the claim atomic on SQLite too: only one UPDATE matches.
        result = session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == "pending")
            .values(status="sending", claimed_at=now, claimed_by=worker)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(row_id)
    if not claimed:
        return []
    rows = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(claimed))
        .order_by(col(OutboxMessage.id))
        .execution_options(populate_existing=True)
    ).all()
    return list(rows)


def mark_sent(session: Session, *, outbox_id: int, now: datetime) -> None:
    """Record a successful send."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id)
        .values(status="sent", sent_at=now, attempts=OutboxMessage.attempts + 1, last_error=None)
    )


def mark_failed(
    session: Session, *, outbox_id: int, now: datetime, error: str, permanent: bool
) -> str:
    """Record a failed send known not to have gone out; retry later with backoff unless final."""
    row = session.get(OutboxMessage, outbox_id)
    if row is None:
        raise LookupError(f"no outbox row {outbox_id}")
    attempts = row.attempts + 1
    final = permanent or attempts >= MAX_ATTEMPTS
    # 30 s, 1 min, 2 min, … capped at one hour.
    backoff = timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))
    status = "failed" if final else "pending"
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id)
        .values(
            status=status,
            attempts=attempts,
            last_error=error[:500],
            next_attempt_at=now + backoff,
            claimed_by=None,
        )
    )
    return status


def flag_stale_sends(session: Session, *, now: datetime, older_than: timedelta) -> int:
    """Rows left 'sending' by a worker that died: outcome unknown, so staff review, no resend."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == "sending",
            col(OutboxMessage.claimed_at) < now - older_than,
        )
        .values(status="review", last_error="send outcome unknown after a crash")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_pending(session: Session, *, idempotency_key: str) -> bool:
    """Cancel a held row that has not been claimed yet; False if a worker already has it."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.idempotency_key) == idempotency_key,
            col(OutboxMessage.status) == "pending",
        )
        .values(status="cancelled")
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def outbox_status(session: Session, *, idempotency_key: str) -> str | None:
    """The status of the row with this key, if any."""
    return session.exec(
        select(OutboxMessage.status).where(OutboxMessage.idempotency_key == idempotency_key)
    ).first()
