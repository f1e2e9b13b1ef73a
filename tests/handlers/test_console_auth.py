"""Console sign-in: passwords, signed session cookies, replay after logout, throttling, links."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from ops_support import load_city, staff_id
from sqlalchemy import Engine
from sqlmodel import Session

from handlers import console_auth
from handlers.console_auth import (
    IDLE_TIMEOUT,
    MAX_USER_FAILURES,
    SESSION_TTL,
    THROTTLE_WINDOW,
    LinkRefused,
    LoginCheck,
    SessionProblem,
    begin_login,
    check_session,
    csrf_for,
    end_session,
    finish_login,
    hash_password,
    issue_login_link,
    new_session,
    redeem_login_link,
    same_token,
    set_password,
    throttle_wait,
    verify_password,
)
from storage.engine import transaction
from storage.models import Staff

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SECRET = "unit-test-secret-0123456789abcdef0123"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with test-sized costs: the rules are the same, the minutes are not."""
    monkeypatch.setattr(console_auth, "HASHER", PasswordHasher(time_cost=1, memory_cost=64))
    console_auth._dummy_hash.cache_clear()


@pytest.fixture
def city(any_engine: Engine) -> Engine:
    """The sample city with a password for chen.dd2."""
    load_city(any_engine, NOW)
    with transaction(any_engine) as session:
        set_password(session, username="chen.dd2", password_hash=hash_password(PASSWORD), now=NOW)
    return any_engine


def open_session(engine: Engine, username: str = "chen.dd2", now: datetime = NOW) -> str:
    """A cookie for a new session."""
    person = staff_id(engine, username)
    with transaction(engine) as session:
        return new_session(session, staff_id=person, secret=SECRET, now=now, ip="1.2.3.4", via="t")


def check(engine: Engine, cookie: str | None, now: datetime = NOW, secret: str = SECRET) -> str:
    """The username behind a cookie, or the problem's reason."""
    try:
        with transaction(engine) as session:
            return check_session(session, cookie=cookie, secret=secret, now=now).username
    except SessionProblem as problem:
        return problem.reason


def login(engine: Engine, password: str, *, ip: str = "1.2.3.4", user: str = "chen.dd2") -> object:
    """A whole password login: the cookie, None, or ('wait', seconds)."""
    with transaction(engine) as session:
        started: LoginCheck = begin_login(session, username=user, ip=ip, now=NOW)
    if started.wait_seconds:
        return ("wait", started.wait_seconds)
    ok, new_hash = verify_password(started.password_hash, password)
    with transaction(engine) as session:
        return finish_login(
            session,
            check=started,
            username=user,
            ip=ip,
            ok=ok,
            new_hash=new_hash,
            secret=SECRET,
            now=NOW,
        )


def test_a_session_cookie_works_until_it_expires_or_idles(city: Engine) -> None:
    cookie = open_session(city)
    assert check(city, cookie) == "chen.dd2"
    assert check(city, cookie, NOW + IDLE_TIMEOUT - timedelta(minutes=1)) == "chen.dd2"
    # That request moved the idle clock on: another two hours from there still work.
    assert check(city, cookie, NOW + 2 * IDLE_TIMEOUT - timedelta(minutes=2)) == "chen.dd2"
    assert check(city, cookie, NOW + 4 * IDLE_TIMEOUT) == "idle"
    assert check(city, cookie, NOW + SESSION_TTL) == "expired"
    assert check(city, cookie, NOW - timedelta(hours=1)) == "expired"  # issued in the future


def test_forged_cookies_prove_nothing(city: Engine) -> None:
    cookie = open_session(city)
    staff, issued, expires, nonce, mac = cookie.split(".")
    admin = staff_id(city, "admin")
    later = str(int(expires) + 86400)
    assert check(city, None) == "missing"
    assert check(city, "garbage") == "malformed"
    assert check(city, cookie + "x") == "malformed"
    assert check(city, ".".join([str(admin), issued, expires, nonce, mac])) == "signature"
    assert check(city, ".".join([staff, issued, later, nonce, mac])) == "signature"
    assert check(city, cookie, secret="another-secret-0123456789abcdef") == "signature"
    flipped = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    assert check(city, ".".join([staff, issued, expires, nonce, flipped])) == "signature"


def test_a_cookie_replayed_after_logout_is_refused(city: Engine) -> None:
    cookie = open_session(city)
    with transaction(city) as session:
        signed_in = check_session(session, cookie=cookie, secret=SECRET, now=NOW)
        end_session(session, session_id=signed_in.session_id, now=NOW)
    assert check(city, cookie) == "revoked"
    other = open_session(city)
    with transaction(city) as session:
        set_password(
            session, username="chen.dd2", password_hash=hash_password("another password"), now=NOW
        )
    assert check(city, other) == "revoked"  # a new password ends every open session


def test_a_deactivated_member_is_signed_out(city: Engine) -> None:
    cookie = open_session(city)
    person = staff_id(city, "chen.dd2")
    with transaction(city) as session:
        row = session.get(Staff, person)
        assert row is not None
        row.active = False
    assert check(city, cookie) == "inactive"


def test_csrf_tokens_are_per_session_and_compared_safely(city: Engine) -> None:
    first, second = open_session(city), open_session(city)
    token = csrf_for(SECRET, first.split(".")[3])
    assert same_token(token, token)
    assert not same_token(token, csrf_for(SECRET, second.split(".")[3]))
    assert not same_token(token, None) and not same_token(token, "")
    assert not same_token(token, token[:-1] + "é")


def test_password_login_and_throttling(city: Engine) -> None:
    assert isinstance(login(city, PASSWORD), str)
    for _ in range(MAX_USER_FAILURES):
        assert login(city, "wrong password") is None
    waited = login(city, PASSWORD)  # the right password, but the name is locked for now
    assert isinstance(waited, tuple) and 0 < waited[1] <= THROTTLE_WINDOW.total_seconds() + 1
    assert login(city, "wrong", user="nobody") is None  # unknown names answer the same way
    with transaction(city) as session:
        assert throttle_wait(session, username="chen.dd2", ip="9.9.9.9", now=NOW) > 0
        later = NOW + THROTTLE_WINDOW + timedelta(seconds=1)
        assert throttle_wait(session, username="chen.dd2", ip="9.9.9.9", now=later) == 0


def test_one_address_guessing_many_names_is_throttled(city: Engine) -> None:
    for n in range(20):
        assert login(city, "guess", user=f"user{n}", ip="6.6.6.6") is None
    assert isinstance(login(city, PASSWORD, ip="6.6.6.6"), tuple)
    assert isinstance(login(city, PASSWORD, ip="7.7.7.7"), str)


def test_passwords_are_argon2id_and_old_hashes_are_upgraded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, PASSWORD) == (True, None)
    assert verify_password(stored, "nope")[0] is False
    assert verify_password(None, PASSWORD)[0] is False
    assert verify_password("not a hash", PASSWORD)[0] is False
    with pytest.raises(ValueError):
        hash_password("short")
    monkeypatch.setattr(console_auth, "HASHER", PasswordHasher(time_cost=2, memory_cost=128))
    ok, upgraded = verify_password(stored, PASSWORD)
    assert ok and upgraded is not None and "m=128,t=2" in upgraded


def test_login_links_work_once(city: Engine) -> None:
    person = staff_id(city, "li.dd1")
    with transaction(city) as session:
        token = issue_login_link(session, staff_id=person, secret=SECRET, now=NOW)
        stale = issue_login_link(
            session, staff_id=person, secret=SECRET, now=NOW, ttl=timedelta(minutes=1)
        )
    with transaction(city) as session:
        cookie = redeem_login_link(session, token=token, secret=SECRET, now=NOW, ip=None)
    assert check(city, cookie) == "li.dd1"
    for bad, reason, when in (
        (token, "used", NOW),
        (stale, "expired", NOW + timedelta(minutes=2)),
        ("x" * 43, "unknown", NOW),
        ("../../etc/passwd", "unknown", NOW),
    ):
        with transaction(city) as session, pytest.raises(LinkRefused) as refused:
            redeem_login_link(session, token=bad, secret=SECRET, now=when, ip=None)
        assert refused.value.reason == reason
    with Session(city) as session, pytest.raises(LinkRefused):
        # A token is bound to the secret it was issued under.
        redeem_login_link(
            session, token=stale, secret="other-secret-0123456789ab", now=NOW, ip=None
        )
