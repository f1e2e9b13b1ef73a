"""Console sign-in: argon2id passwords, signed session cookies, CSRF tokens, throttling, links.

Cookie: `<staff id>.<issued>.<expires>.<nonce>.<HMAC-SHA256>` under a key derived from the
service secret for this purpose only. The nonce is stored (hashed) with the session row, so
a cookie is only good while its row is live: logout and password changes revoke rows, and a
copied cookie replayed after logout is refused. Sessions end after SESSION_TTL, or after
IDLE_TIMEOUT without a request.

CSRF: every form carries HMAC(nonce) under another derived key; the login form (before any
session) carries HMAC of a random pre-login cookie. Both are compared in constant time.

Throttling, in the database so every replica agrees: MAX_USER_FAILURES failed passwords for
one user name, or MAX_IP_FAILURES from one address, within THROTTLE_WINDOW make further
attempts wait until the oldest failure leaves the window; waiting attempts are not counted,
so a flood cannot extend the lock for ever.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session

from storage.console import (
    add_login_token,
    add_session,
    claim_login_token,
    failures_since,
    last_success,
    login_token,
    record_attempt,
    revoke_session,
    revoke_staff_sessions,
    session_by_nonce,
    touch_session,
)
from storage.models import Staff
from storage.staffing import staff_by_username

log = logging.getLogger(__name__)

SESSION_TTL = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=5)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_USER_FAILURES = 5
MAX_IP_FAILURES = 20
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200
LINK_TTL = timedelta(minutes=15)
MAX_LINK_TTL = timedelta(hours=24)
COOKIE_RE = re.compile(
    r"(\d{1,12})\.(\d{1,12})\.(\d{1,12})\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})", re.ASCII
)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)

# argon2id with the library's defaults (RFC 9106 "low memory" profile).
HASHER = PasswordHasher()


class SessionProblem(Exception):
    """A cookie that proves nothing; `reason` says why, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkRefused(Exception):
    """A login link that cannot be used: unknown, used, expired or inactive."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind a valid cookie, and the CSRF token of their session."""

    session_id: int
    staff_id: int
    username: str
    display_name: str
    role: str
    unit_id: int | None
    csrf: str


@dataclass(frozen=True)
class LoginCheck:
    """What a password attempt needs after the throttle: the stored hash, if any."""

    wait_seconds: int
    staff_id: int | None = None
    password_hash: str | None = None


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the user name is unknown, so both answers take as long.
    return HASHER.hash(secrets.token_urlsafe(16))


def _key(secret: str, purpose: bytes) -> bytes:
    # One key per purpose: a MAC made for a cookie never passes as a CSRF token.
    return hashlib.sha256(b"complaintbot console " + purpose + b"\x00" + secret.encode()).digest()


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def username_key(raw: str) -> str:
    """A user name as the throttle counts it."""
    return raw.strip().lower()[:100]


def csrf_for(secret: str, nonce: str) -> str:
    """The CSRF token of a session."""
    return _mac(_key(secret, b"csrf"), nonce)


def login_csrf(secret: str, pre_token: str) -> str:
    """The CSRF token of the login form, bound to the pre-login cookie."""
    return _mac(_key(secret, b"login-csrf"), pre_token)


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of two tokens; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def new_session(
    session: Session, *, staff_id: int, secret: str, now: datetime, ip: str | None, via: str
) -> str:
    """Record a session and return its cookie value."""
    nonce = secrets.token_urlsafe(32)
    issued = int(now.timestamp())
    expires = int((now + SESSION_TTL).timestamp())
    add_session(
        session,
        nonce_hash=_sha256(nonce),
        staff_id=staff_id,
        now=now,
        expires_at=now + SESSION_TTL,
        ip=ip,
        via=via,
    )
    payload = f"{staff_id}.{issued}.{expires}.{nonce}"
    log.info("console session opened for staff %d (%s)", staff_id, via)
    return f"{payload}.{_mac(_key(secret, b'session'), payload)}"


def check_session(session: Session, *, cookie: str | None, secret: str, now: datetime) -> SignedIn:
    """The signed-in staff member, or SessionProblem (forged, expired, revoked, idle …)."""
    match = COOKIE_RE.fullmatch(cookie or "")
    if match is None:
        raise SessionProblem("malformed" if cookie else "missing")
    staff_id, issued, expires = (int(match.group(i)) for i in (1, 2, 3))
    nonce, signature = match.group(4), match.group(5)
    payload = f"{staff_id}.{issued}.{expires}.{nonce}"
    if not hmac.compare_digest(_mac(_key(secret, b"session"), payload), signature):
        raise SessionProblem("signature")
    stamp = now.timestamp()
    if issued > stamp + CLOCK_SKEW.total_seconds() or stamp >= expires:
        raise SessionProblem("expired")
    row = session_by_nonce(session, nonce_hash=_sha256(nonce))
    if row is None or row.staff_id != staff_id or row.id is None:
        raise SessionProblem("unknown")
    if row.revoked_at is not None:
        raise SessionProblem("revoked")
    if row.expires_at <= now:
        raise SessionProblem("expired")
    if row.last_seen_at + IDLE_TIMEOUT <= now:
        raise SessionProblem("idle")
    person = session.get(Staff, staff_id)
    if person is None or not person.active or person.id is None:
        raise SessionProblem("inactive")
    if now - row.last_seen_at >= TOUCH_EVERY:
        touch_session(session, session_id=row.id, now=now)
    return SignedIn(
        session_id=row.id,
        staff_id=person.id,
        username=person.username,
        display_name=person.display_name,
        role=person.role,
        unit_id=person.unit_id,
        csrf=csrf_for(secret, nonce),
    )


def end_session(session: Session, *, session_id: int, now: datetime) -> None:
    """Log out: the cookie stops working everywhere, at once."""
    if revoke_session(session, session_id=session_id, now=now):
        log.info("console session %d closed", session_id)


def throttle_wait(session: Session, *, username: str, ip: str, now: datetime) -> int:
    """Seconds until this name and address may try a password again (0: now)."""
    since = now - THROTTLE_WINDOW
    key = username_key(username)
    # A success forgives the failures before it: the owner got in.
    since_user = max(since, last_success(session, username_key=key, since=since) or since)
    waits = [0]
    for count, oldest, limit in (
        (*failures_since(session, since=since_user, username_key=key), MAX_USER_FAILURES),
        (*failures_since(session, since=since, ip=ip), MAX_IP_FAILURES),
    ):
        if count >= limit and oldest is not None:
            waits.append(int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)
    return max(waits)


def begin_login(session: Session, *, username: str, ip: str, now: datetime) -> LoginCheck:
    """Throttle check and the stored hash; the caller verifies outside the transaction."""
    wait = throttle_wait(session, username=username, ip=ip, now=now)
    if wait:
        log.warning("console login throttled for %d s", wait)
        return LoginCheck(wait_seconds=wait)
    person = staff_by_username(session, username=username.strip())
    if person is None or not person.active or not person.password_hash:
        return LoginCheck(wait_seconds=0)
    return LoginCheck(wait_seconds=0, staff_id=person.id, password_hash=person.password_hash)


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, a fresh hash when the stored one uses old parameters)."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False, None
    try:
        HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if password_hash is None:
        return False, None
    return True, HASHER.hash(password) if HASHER.check_needs_rehash(password_hash) else None


def finish_login(
    session: Session,
    *,
    check: LoginCheck,
    username: str,
    ip: str,
    ok: bool,
    new_hash: str | None,
    secret: str,
    now: datetime,
) -> str | None:
    """Record the attempt; on success open a session and return its cookie."""
    record_attempt(session, username_key=username_key(username), ip=ip, ok=ok, now=now)
    if not ok or check.staff_id is None:
        log.warning("console login failed")
        return None
    person = session.get(Staff, check.staff_id)
    if person is None or not person.active:
        return None
    if new_hash is not None:
        person.password_hash = new_hash
        session.add(person)
    return new_session(
        session, staff_id=check.staff_id, secret=secret, now=now, ip=ip, via="password"
    )


def hash_password(password: str) -> str:
    """An argon2id hash of a new password; ValueError when it is too short or too long."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise ValueError(f"a password needs {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters")
    return HASHER.hash(password)


def set_password(session: Session, *, username: str, password_hash: str, now: datetime) -> int:
    """Store a staff member's new hash and end their sessions; returns sessions ended."""
    person = staff_by_username(session, username=username)
    if person is None or person.id is None:
        raise LookupError(f"no staff member {username!r}")
    person.password_hash = password_hash
    session.add(person)
    session.flush()
    ended = revoke_staff_sessions(session, staff_id=person.id, now=now)
    log.info("console password set for staff %d; %d sessions ended", person.id, ended)
    return ended


def issue_login_link(
    session: Session, *, staff_id: int, secret: str, now: datetime, ttl: timedelta = LINK_TTL
) -> str:
    """A single-use login token for a staff member (the bot or the CLI sends the link)."""
    if not timedelta(0) < ttl <= MAX_LINK_TTL:
        raise ValueError(f"a login link lives between 1 second and {MAX_LINK_TTL}")
    person = session.get(Staff, staff_id)
    if person is None or not person.active:
        raise LookupError(f"no active staff member {staff_id}")
    token = secrets.token_urlsafe(32)
    add_login_token(
        session, token_hash=_mac(_key(secret, b"link"), token), staff_id=staff_id, now=now, ttl=ttl
    )
    log.info("console login link issued for staff %d", staff_id)
    return token


def login_link_url(base_url: str, token: str) -> str:
    """The link to send: it opens a page that asks to confirm before using the token."""
    return f"{base_url.rstrip('/')}/console/link?t={token}"


def redeem_login_link(
    session: Session, *, token: str, secret: str, now: datetime, ip: str | None
) -> str:
    """Use a login link once and open a session; LinkRefused otherwise."""
    if not TOKEN_RE.fullmatch(token):
        raise LinkRefused("unknown")
    row = login_token(session, token_hash=_mac(_key(secret, b"link"), token))
    if row is None or row.id is None:
        raise LinkRefused("unknown")
    if row.used_at is not None:
        raise LinkRefused("used")
    if row.expires_at <= now:
        raise LinkRefused("expired")
    person = session.get(Staff, row.staff_id)
    if person is None or not person.active:
        raise LinkRefused("inactive")
    if not claim_login_token(session, token_id=row.id, now=now):
        raise LinkRefused("used")
    return new_session(session, staff_id=row.staff_id, secret=secret, now=now, ip=ip, via="link")
