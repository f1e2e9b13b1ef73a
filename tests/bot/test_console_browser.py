"""The console in headless Chromium: log in, overdue queue, ticket, reply to the driver, close."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from console_support import (
    NOW,
    Console,
    RecordingSender,
    add_driver,
    file_ticket,
    load_city,
    load_ticket,
    sign_in,
    start_console,
)
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import Engine

from handlers import console_auth
from handlers.console_auth import hash_password, set_password
from storage.engine import transaction

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# PITFALLS.md: without the background-networking flags Chromium keeps trying the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DOCS = Path(__file__).resolve().parents[2] / "docs"
TIMEOUT_MS = 15_000
PASSWORD = "correct horse battery"
REPLY = "经核查，加油站已退还多收的费用，并对收费员进行了批评教育。"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with test-sized costs."""
    monkeypatch.setattr(console_auth, "HASHER", PasswordHasher(time_cost=1, memory_cost=64))
    console_auth._dummy_hash.cache_clear()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium driven by Playwright (each launch gets a fresh temporary profile)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium package to run browser tests"
        if IN_CI:
            pytest.fail(f"{reason}; CI must run them")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture
async def console(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[Console]:
    """The sample city, a driver on the fake channel, three tickets, and the app a month on."""
    load_city(sqlite_engine)
    driver = add_driver(sqlite_engine)
    with transaction(sqlite_engine) as session:
        set_password(session, username="chen.dd2", password_hash=hash_password(PASSWORD), now=NOW)
    running = await start_console(sqlite_engine, tmp_path)
    for description in (
        "西山服务区加油站多收费，不给发票",
        "西山服务区停车收费太高",
        "西山收费站排队太久",
    ):
        file_ticket(sqlite_engine, running.calendar, complainant_id=driver, description=description)
    running.clock.now = NOW + timedelta(days=30)  # all three overdue
    yield running
    await running.client.close()


async def shoot(page: Page, name: str) -> None:
    """A screenshot for docs/."""
    DOCS.mkdir(exist_ok=True)
    await page.screenshot(path=str(DOCS / name), full_page=True)


async def test_log_in_reply_to_the_driver_and_close(browser: Browser, console: Console) -> None:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(console.url("/console/q/overdue"))
    await expect(page).to_have_url(console.url("/console/login"))
    await page.fill("input[name=username]", "chen.dd2")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login")
    await expect(page.locator("header .who")).to_contain_text("陈承办")

    await page.click("nav.queues >> text=已超期")
    rows = page.locator("table.tickets tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_have_class("sev-normal overdue")
    await shoot(page, "console-queue.png")

    number = (await rows.last.locator("a").first.inner_text()).strip()
    await rows.last.locator("a").first.click()
    await expect(page.locator("h1")).to_contain_text(number)
    await expect(page.locator("#description")).to_contain_text("加油站多收费")
    await page.click("#do-sign")
    await expect(page.locator(".done")).to_have_text("已签收。")
    await page.fill("#reply-message", REPLY)
    await page.click("#do-reply")
    await expect(page.locator(".done")).to_contain_text("答复已记录")
    await expect(page.locator("ol.trail")).to_contain_text(REPLY)
    await shoot(page, "console-ticket.png")
    await page.click("#do-close")
    await expect(page.locator(".done")).to_have_text("已办结。")
    await expect(page.locator("h1 .status")).to_have_text("已办结")
    assert load_ticket(console.engine, number).status == "closed"

    sender = console.services.senders["test"]
    assert isinstance(sender, RecordingSender)
    report = await console.services.delivery.deliver_due()
    assert report.sent >= 1
    to_driver = [
        payload["replies"][0]["text"]
        for recipient, payload in sender.sent
        if recipient == "driver-1" and REPLY in payload["replies"][0]["text"]
    ]
    assert len(to_driver) == 1 and number in to_driver[0]

    phone = await browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    await phone.add_cookies(
        [
            {
                "name": "cb_console",
                "value": sign_in(console.engine, "chen.dd2", now=console.clock.now),
                "url": console.url("/console"),
            }
        ]
    )
    mobile = await phone.new_page()
    await mobile.goto(console.url("/console/q/unit"))
    await expect(mobile.locator("table.tickets tbody tr")).to_have_count(2)
    await shoot(mobile, "console-phone.png")

    boss = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    await boss.add_cookies(
        [
            {
                "name": "cb_console",
                "value": sign_in(console.engine, "wang.fzk", now=console.clock.now),
                "url": console.url("/console"),
            }
        ]
    )
    board = await boss.new_page()
    await board.goto(console.url("/console/dashboard"))
    await expect(board.locator(".tile.warn b")).to_have_text("2")
    await shoot(board, "console-dashboard.png")
    for opened in (context, phone, boss):
        await opened.close()
