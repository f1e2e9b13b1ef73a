"""Conversation state per channel and user, and the inbound-message dedupe ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from storage.models import Conversation, ProcessedMessage


def load_conversation(
    session: Session, *, channel: str, user_key: str, for_update: bool = False
) -> Conversation | None:
    """The stored conversation of a user on a channel; `for_update` locks it (PostgreSQL)."""
    query = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_key == user_key
    )
    if for_update:
        # Two messages of one user at once must not both start from the same state.
        query = query.with_for_update()
    return session.exec(query).first()


def save_conversation(
    session: Session,
    *,
    channel: str,
    user_key: str,
    state: str,
    data: dict[str, Any],
    language: str,
    now: datetime,
    expires_at: datetime | None,
    loaded: Conversation | None = None,
) -> Conversation:
    """Insert or update a conversation's state (data is replaced whole, never edited in place).

    `loaded` is the row the caller already holds, which saves reading it a second time.
    """
    conversation = loaded or load_conversation(session, channel=channel, user_key=user_key)
    if conversation is None:
        conversation = Conversation(channel=channel, user_key=user_key)
        session.add(conversation)
    conversation.state = state
    conversation.data = dict(data)  # a new object, so SQLAlchemy sees the JSON change
    conversation.language = language
    conversation.updated_at = now
    conversation.expires_at = expires_at
    conversation.version += 1 if conversation.id is not None else 0
    session.flush()
    return conversation


def claim_inbound(session: Session, *, channel: str, message_id: str, now: datetime) -> bool:
    """Record an inbound message id; False when it was already handled (a platform retry)."""
    dialect = session.get_bind().dialect.name
    values = {"channel": channel, "message_id": message_id, "received_at": now, "replies": []}
    if dialect == "postgresql":
        # A concurrent duplicate waits here for the first to commit, then inserts nothing.
        statement: Any = pg_insert(ProcessedMessage).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(ProcessedMessage).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported backends exist
        statement = insert(ProcessedMessage).values(values)
    # RETURNING, not rowcount: SQLAlchemy reports -1 rows for ON CONFLICT on PostgreSQL.
    inserted = session.execute(statement.returning(ProcessedMessage.message_id)).first()
    return inserted is not None


def store_inbound_replies(
    session: Session, *, channel: str, message_id: str, replies: list[dict[str, Any]]
) -> None:
    """Keep the replies given to a message, so a retry gets the same answer."""
    session.execute(
        update(ProcessedMessage)
        .where(
            col(ProcessedMessage.channel) == channel,
            col(ProcessedMessage.message_id) == message_id,
        )
        .values(replies=replies)
    )


def inbound_replies(session: Session, *, channel: str, message_id: str) -> list[dict[str, Any]]:
    """The replies stored for an already handled message."""
    row = session.get(ProcessedMessage, (channel, message_id))
    return list(row.replies) if row else []
