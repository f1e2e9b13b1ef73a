"""The console over HTTP: login, sessions, CSRF, escaping, search, uploads, identity, CLI."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from argon2 import PasswordHasher
from console_support import (
    NOW,
    SECRET,
    Agent,
    Console,
    add_driver,
    file_ticket,
    load_city,
    load_ticket,
    sign_in,
    snapshot,
    staff_id,
    start_console,
)
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from webchat_support import make_png

from handlers import console_auth
from handlers.console_auth import IDLE_TIMEOUT, hash_password, issue_login_link, set_password
from storage.engine import transaction
from storage.models import Attachment, IdentityRead, Staff, TicketEvent

PASSWORD = "correct horse battery"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with test-sized costs."""
    monkeypatch.setattr(console_auth, "HASHER", PasswordHasher(time_cost=1, memory_cost=64))
    console_auth._dummy_hash.cache_clear()


@pytest.fixture
async def console(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[Console]:
    """The app on a fresh database with the sample city, a driver and chen.dd2's password."""
    load_city(sqlite_engine)
    add_driver(sqlite_engine)
    with transaction(sqlite_engine) as session:
        set_password(
            session,
            username="chen.dd2",
            password_hash=hash_password(PASSWORD),
            now=NOW,
        )
    running = await start_console(sqlite_engine, tmp_path, max_upload_bytes=64 * 1024)
    yield running
    await running.client.close()


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def log_in(console: Console, username: str, password: str) -> Any:
    """The password form, as a browser fills it (cookie jar and CSRF token included)."""
    page = await console.client.get("/console/login")
    token = csrf_of(await page.text())
    return await console.client.post(
        "/console/login",
        data={"csrf": token, "username": username, "password": password},
        allow_redirects=False,
    )


async def test_password_login_sets_a_strict_cookie_and_logout_revokes_it(
    console: Console,
) -> None:
    answer = await log_in(console, "chen.dd2", PASSWORD)
    assert answer.status == 303 and answer.headers["Location"] == "/console"
    set_cookie = answer.headers.getall("Set-Cookie")
    session_cookie = next(c for c in set_cookie if c.startswith("cb_console="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Path=/console" in session_cookie
    cookie = session_cookie.split(";")[0].split("=", 1)[1]
    agent = Agent(console, cookie)
    home = await agent.get("/console")
    assert home.status == 303 and home.headers["Location"] == "/console/q/unit"
    page = await agent.get("/console/q/unit")
    assert page.status == 200 and "陈承办" in await page.text()
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["X-Frame-Options"] == "DENY"
    out = await agent.post("/console/logout")
    assert out.status == 303
    replayed = await agent.get("/console/q/unit")  # the same cookie, copied before logout
    assert replayed.status == 303 and replayed.headers["Location"] == "/console/login"


async def test_wrong_passwords_are_throttled(console: Console) -> None:
    for _ in range(5):
        assert (await log_in(console, "chen.dd2", "wrong password")).status == 401
    locked = await log_in(console, "chen.dd2", PASSWORD)
    assert locked.status == 429 and "分钟后再试" in await locked.text()
    console.clock.advance(minutes=16)
    assert (await log_in(console, "chen.dd2", PASSWORD)).status == 303


async def test_the_login_form_needs_its_csrf_token(console: Console) -> None:
    await console.client.get("/console/login")
    answer = await console.client.post(
        "/console/login",
        data={"username": "chen.dd2", "password": PASSWORD},
        allow_redirects=False,
    )
    assert answer.status == 403


async def test_forged_expired_and_replayed_cookies_are_refused_and_logged(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    number = file_ticket(console.engine, console.calendar, complainant_id=1)
    good = sign_in(console.engine, "chen.dd2")
    staff, issued, expires, nonce, mac = good.split(".")
    admin = str(staff_id(console.engine, "admin"))
    cases = {
        "forged": ".".join([admin, issued, expires, nonce, mac]),
        "garbage": "not-a-cookie",
        "resigned": ".".join([staff, issued, str(int(expires) + 99999), nonce, mac]),
    }
    before = snapshot(console.engine, number)
    caplog.set_level(logging.WARNING)
    for name, cookie in cases.items():
        agent = Agent(console, cookie)
        answer = await agent.get(f"/console/t/{number}")
        assert answer.status == 303 and answer.headers["Location"] == "/console/login", name
        posted = await agent.post(f"/console/t/{number}/sign", csrf="x")
        assert posted.status == 403, name
    console.clock.advance(hours=13)  # past the 12-hour session
    agent = Agent(console, good)
    assert (await agent.get(f"/console/t/{number}")).status == 303
    assert (await agent.post(f"/console/t/{number}/sign")).status == 403
    assert snapshot(console.engine, number) == before
    reasons = " ".join(r.getMessage() for r in caplog.records)
    assert "signature" in reasons and "malformed" in reasons and "expired" in reasons


async def test_idle_sessions_end(console: Console) -> None:
    agent = Agent(console, sign_in(console.engine, "chen.dd2"))
    console.clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)
    assert (await agent.get("/console/q/unit")).status == 303


async def test_posts_without_the_csrf_token_change_nothing(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    number = file_ticket(console.engine, console.calendar, complainant_id=1)
    agent = Agent(console, sign_in(console.engine, "chen.dd2"))
    other = Agent(console, sign_in(console.engine, "chen.dd2"))
    before = snapshot(console.engine, number)
    caplog.set_level(logging.WARNING)
    for csrf in (None, "", "wrong", other.csrf):  # another session's token is wrong here
        answer = await agent.post(f"/console/t/{number}/sign", csrf=csrf)
        assert answer.status == 403
        assert "校验码" in await answer.text()
    cross = await console.client.post(
        f"/console/t/{number}/sign",
        data={"csrf": agent.csrf},
        headers={"Cookie": f"cb_console={agent.cookie}", "Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert cross.status == 403
    assert snapshot(console.engine, number) == before
    assert any("CSRF" in r.getMessage() for r in caplog.records)
    assert (await agent.post(f"/console/t/{number}/sign")).status == 303


async def test_markup_is_escaped_everywhere(console: Console) -> None:
    number = file_ticket(
        console.engine,
        console.calendar,
        complainant_id=1,
        description=f"被罚款{XSS}",
        place_text=f"西山服务区{XSS}",
    )
    agent = Agent(console, sign_in(console.engine, "chen.dd2"))
    assert (await agent.post(f"/console/t/{number}/note", {"note": XSS})).status == 303
    for path in (
        f"/console/t/{number}",
        "/console/q/unit",
        f"/console/q/all?q={XSS}",
        f"/console/q/all?status={XSS}&from={XSS}",
    ):
        body = await (await agent.get(path)).text()
        assert "<script>" not in body and "<img src=x" not in body, path
    page = await (await agent.get(f"/console/t/{number}")).text()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "words", ["' OR 1=1 --", "'; DROP TABLE tickets; --", '" OR ""="', "%' --", "治超站 AND *"]
)
async def test_sql_like_search_is_plain_text(console: Console, words: str) -> None:
    number = file_ticket(console.engine, console.calendar, complainant_id=1)
    agent = Agent(console, sign_in(console.engine, "chen.dd2"))
    answer = await agent.get("/console/q/all", params={"q": words})
    assert answer.status == 200
    assert f"/console/t/{number}" not in await answer.text()
    found = await agent.get("/console/q/all", params={"q": "加油站"})
    assert f"/console/t/{number}" in await found.text()


async def upload(agent: Agent, number: str, payload: bytes, name: str) -> Any:
    """The upload form: CSRF field first, then the file."""
    form = FormData()
    form.add_field("csrf", agent.csrf)
    form.add_field("file", io.BytesIO(payload), filename=name)
    return await agent.console.client.post(
        f"/console/t/{number}/attach",
        data=form,
        headers={"Cookie": f"cb_console={agent.cookie}"},
        allow_redirects=False,
    )


async def test_uploads_are_limited_and_downloads_are_safe(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    number = file_ticket(console.engine, console.calendar, complainant_id=1)
    agent = Agent(console, sign_in(console.engine, "chen.dd2"))
    caplog.set_level(logging.WARNING)
    big = make_png(4, 4) + b"\0" * (200 * 1024)
    assert (await upload(agent, number, big, "big.png")).status == 413
    assert (await upload(agent, number, b"<html><script>x</script>", "a.html")).status == 415
    assert any("upload" in r.getMessage() for r in caplog.records)
    with Session(console.engine) as session:
        assert session.exec(select(Attachment)).all() == []
    png = make_png(16, 16)
    assert (await upload(agent, number, png, "决定书.png")).status == 303
    with Session(console.engine) as session:
        row = session.exec(select(Attachment)).one()
    page = await (await agent.get(f"/console/t/{number}")).text()
    assert row.sha256 is not None and row.sha256 in page
    download = await agent.get(f"/console/a/{row.id}")
    assert download.status == 200 and await download.read() == png
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%86%B3" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    inline = await agent.get(f"/console/a/{row.id}?inline=1")
    assert inline.headers["Content-Type"] == "image/png"
    stranger = Agent(console, sign_in(console.engine, "li.dd1"))
    assert (await stranger.get(f"/console/a/{row.id}")).status == 404
    assert (await agent.get("/console/a/99999")).status == 404


async def test_identity_is_shown_once_for_a_reason_and_never_to_the_handler(
    console: Console,
) -> None:
    number = file_ticket(
        console.engine,
        console.calendar,
        complainant_id=1,
        description="我是刘师傅，电话13812345678，在西山服务区被多收费",
    )
    handler = Agent(console, sign_in(console.engine, "chen.dd2"))
    page = await (await handler.get(f"/console/t/{number}")).text()
    assert "刘师傅" not in page and "13812345678" not in page and "显示身份" not in page
    refused = await handler.post(f"/console/t/{number}/identity", {"reason": "想知道是谁"})
    assert refused.status == 403
    boss = Agent(console, sign_in(console.engine, "wang.fzk"))
    no_reason = await boss.post(f"/console/t/{number}/identity", {"reason": ""})
    assert no_reason.status == 400
    shown = await boss.post(f"/console/t/{number}/identity", {"reason": "电话回访核实"})
    body = await shown.text()
    assert shown.status == 200 and "13812345678" in body and "刘师傅" in body
    assert shown.headers["Cache-Control"] == "no-store"
    again = await (await boss.get(f"/console/t/{number}")).text()
    assert "13812345678" not in again  # shown once, not kept on the page
    ticket = load_ticket(console.engine, number)
    with Session(console.engine) as session:
        reads = session.exec(
            select(IdentityRead).where(col(IdentityRead.actor).like("staff:%"))
        ).all()
        events = session.exec(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id, TicketEvent.action == "identity_read"
            )
        ).all()
    assert [r.reason for r in reads] == ["电话回访核实"]
    assert [e.note for e in events] == ["电话回访核实"]


async def test_a_login_link_asks_first_and_works_once(console: Console) -> None:
    person = staff_id(console.engine, "li.dd1")
    with transaction(console.engine) as session:
        token = issue_login_link(session, staff_id=person, secret=SECRET, now=console.clock.now)
    preview = await console.client.get(f"/console/link?t={token}")
    assert preview.status == 200 and "继续登录" in await preview.text()
    form = {"csrf": csrf_of(await preview.text()), "t": token}
    used = await console.client.post("/console/link", data=form, allow_redirects=False)
    assert used.status == 303
    assert any(c.startswith("cb_console=") for c in used.headers.getall("Set-Cookie"))
    replay = await console.client.get(f"/console/link?t={token}")
    form = {"csrf": csrf_of(await replay.text()), "t": token}
    again = await console.client.post("/console/link", data=form, allow_redirects=False)
    assert again.status == 403 and "只能用一次" in await again.text()


async def test_unknown_ticket_numbers_and_actions(console: Console) -> None:
    agent = Agent(console, sign_in(console.engine, "admin"))
    assert (await agent.get("/console/t/TS20991231-9999")).status == 404
    assert (await agent.get("/console/t/..%2F..%2Fetc")).status == 404
    number = file_ticket(console.engine, console.calendar, complainant_id=1)
    assert (await agent.post(f"/console/t/{number}/delete")).status == 404
    assert (await agent.get("/console/q/nonsense")).status == 404


def test_cli_passwd_login_link_and_reindex(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from bot.settings import get_settings

    load_city(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", str(sqlite_engine.url))
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://ts.example.cn")
    get_settings.cache_clear()
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["console", "passwd", "chen.dd2", "--stdin"]) == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
        assert main(["console", "passwd", "chen.dd2", "--stdin"]) == 1
        assert main(["console", "login-link", "li.dd1", "--ttl-minutes", "10"]) == 0
        assert main(["console", "login-link", "nobody"]) == 1
        assert main(["console", "reindex"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert re.search(r"https://ts\.example\.cn/console/link\?t=[A-Za-z0-9_-]{43}", out)
    assert "(re)indexed" in out
    with Session(sqlite_engine) as session:
        stored = session.exec(select(Staff).where(Staff.username == "chen.dd2")).one()
    assert stored.password_hash and stored.password_hash.startswith("$argon2id$")
