"""Complainant identity: kept apart from tickets, every read of it logged (DOMAIN.md §9)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from storage.models import Complainant, IdentityRead


def find_complainant(session: Session, *, channel: str, channel_user_id: str) -> Complainant | None:
    """The complainant behind a channel user, if they ever filed."""
    return session.exec(
        select(Complainant).where(
            Complainant.channel == channel, Complainant.channel_user_id == channel_user_id
        )
    ).first()


def upsert_complainant(
    session: Session,
    *,
    channel: str,
    channel_user_id: str,
    anonymity: str,
    now: datetime,
    name: str | None = None,
    phone: str | None = None,
    own_plate: str | None = None,
    language: str = "zh",
) -> Complainant:
    """Create or refresh a complainant; anonymous filings keep no name, phone or plate."""
    person = find_complainant(session, channel=channel, channel_user_id=channel_user_id)
    if person is None:
        person = Complainant(channel=channel, channel_user_id=channel_user_id, created_at=now)
        session.add(person)
    person.anonymity = anonymity
    person.language = language
    person.last_seen_at = now
    if anonymity != "anonymous":
        person.name = name or person.name
        person.phone = phone or person.phone
        person.own_plate = own_plate or person.own_plate
    session.flush()
    return person


def read_identity(
    session: Session,
    *,
    complainant_id: int,
    actor: str,
    reason: str,
    now: datetime,
    ticket_id: int | None = None,
) -> Complainant:
    """Return a complainant's identity and log who read it and why."""
    if not reason.strip():
        raise ValueError("reading a complainant's identity needs a reason")
    person = session.get(Complainant, complainant_id)
    if person is None:
        raise LookupError(f"no complainant {complainant_id}")
    session.add(
        IdentityRead(
            complainant_id=complainant_id,
            ticket_id=ticket_id,
            actor=actor,
            reason=reason.strip(),
            created_at=now,
        )
    )
    session.flush()
    return person
