"""Console sessions, login attempts and single-use login links: the rows behind sign-in."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from storage.console_models import ConsoleSession, LoginAttempt, LoginToken


def add_session(
    session: Session,
    *,
    nonce_hash: str,
    staff_id: int,
    now: datetime,
    expires_at: datetime,
    ip: str | None,
    via: str,
) -> ConsoleSession:
    """Record a new signed-in browser."""
    row = ConsoleSession(
        nonce_hash=nonce_hash,
        staff_id=staff_id,
        created_at=now,
        expires_at=expires_at,
        last_seen_at=now,
        ip=ip,
        via=via,
    )
    session.add(row)
    session.flush()
    return row


def session_by_nonce(session: Session, *, nonce_hash: str) -> ConsoleSession | None:
    """The session whose cookie nonce hashes to `nonce_hash`."""
    return session.exec(
        select(ConsoleSession).where(ConsoleSession.nonce_hash == nonce_hash)
    ).first()


def touch_session(session: Session, *, session_id: int, now: datetime) -> None:
    """Move the idle clock of a session on."""
    session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.id) == session_id)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_session(session: Session, *, session_id: int, now: datetime) -> bool:
    """Revoke one session (logout); False when it was already revoked."""
    result = session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.id) == session_id, col(ConsoleSession.revoked_at).is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_staff_sessions(session: Session, *, staff_id: int, now: datetime) -> int:
    """Revoke every live session of a staff member (password change); returns how many."""
    result = session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.staff_id) == staff_id, col(ConsoleSession.revoked_at).is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record_attempt(
    session: Session, *, username_key: str, ip: str, ok: bool, now: datetime
) -> None:
    """Remember one password attempt."""
    session.add(LoginAttempt(username_key=username_key, ip=ip, ok=ok, created_at=now))
    session.flush()


def failures_since(
    session: Session, *, since: datetime, username_key: str | None = None, ip: str | None = None
) -> tuple[int, datetime | None]:
    """(count, oldest time) of failed attempts since `since` for a name or an address."""
    query = select(func.count(), func.min(LoginAttempt.created_at)).where(
        col(LoginAttempt.ok).is_(False), col(LoginAttempt.created_at) >= since
    )
    if username_key is not None:
        query = query.where(LoginAttempt.username_key == username_key)
    if ip is not None:
        query = query.where(LoginAttempt.ip == ip)
    count, oldest = session.exec(query).one()
    return int(count or 0), oldest


def last_success(session: Session, *, username_key: str, since: datetime) -> datetime | None:
    """The newest successful login of a name since `since`."""
    return session.exec(
        select(LoginAttempt.created_at)
        .where(
            LoginAttempt.username_key == username_key,
            col(LoginAttempt.ok).is_(True),
            col(LoginAttempt.created_at) >= since,
        )
        .order_by(col(LoginAttempt.created_at).desc())
        .limit(1)
    ).first()


def prune_attempts(session: Session, *, before: datetime) -> int:
    """Forget attempts older than any throttling window."""
    result = session.execute(delete(LoginAttempt).where(col(LoginAttempt.created_at) < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


def add_login_token(
    session: Session, *, token_hash: str, staff_id: int, now: datetime, ttl: timedelta
) -> LoginToken:
    """Store a login link's keyed hash."""
    row = LoginToken(token_hash=token_hash, staff_id=staff_id, expires_at=now + ttl, created_at=now)
    session.add(row)
    session.flush()
    return row


def login_token(session: Session, *, token_hash: str) -> LoginToken | None:
    """The login link with this hash."""
    return session.exec(select(LoginToken).where(LoginToken.token_hash == token_hash)).first()


def claim_login_token(session: Session, *, token_id: int, now: datetime) -> bool:
    """Mark a link used; only one concurrent redeemer gets True."""
    result = session.execute(
        update(LoginToken)
        .where(col(LoginToken.id) == token_id, col(LoginToken.used_at).is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]
