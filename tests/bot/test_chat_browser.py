"""The web chat page in headless Chromium: a driver files a complaint with a photo."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Page, Route, async_playwright, expect
from webchat_support import COMPLAINT, PLACE, TICKET_RE, Chat, ChatFactory, make_png

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
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "webchat.png"
TIMEOUT_MS = 15_000


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


async def open_chat(browser: Browser, chat: Chat, query: str = "") -> Page:
    """A phone-sized Chinese page on the running app."""
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(str(chat.client.make_url("/chat" + query)))
    return page


async def send_text(page: Page, value: str) -> None:
    """Type into the box and press 发送, waiting for the answer."""
    await page.fill("#text", value)
    async with page.expect_response("**/chat/api/message"):
        await page.click("#send")


async def press(page: Page, label: str) -> None:
    """Press the live choice button with this label, waiting for the answer."""
    async with page.expect_response("**/chat/api/message"):
        await page.locator(".choices button:not([disabled])", has_text=label).first.click()


async def live_choices(page: Page) -> list[str]:
    """Labels of the choice buttons that may still be pressed."""
    return [
        label.strip()
        for label in await page.locator(".choices button:not([disabled])").all_inner_texts()
    ]


async def test_a_driver_files_a_complaint_with_one_photo(
    browser: Browser, make_chat: ChatFactory
) -> None:
    chat = await make_chat()
    page = await open_chat(browser, chat)
    await expect(page.locator(".bubble.bot").first).to_be_visible()
    await send_text(page, COMPLAINT)
    await press(page, "匿名")
    uploaded = False
    for _ in range(20):
        labels = await live_choices(page)
        if "确认提交" in labels:
            break
        if "完成" in labels and not uploaded:  # the evidence question
            photo: FilePayload = {
                "name": "photo.png",
                "mimeType": "image/png",
                "buffer": make_png(64, 48),
            }
            async with page.expect_response("**/chat/api/upload") as answer:
                await page.set_input_files("#file", files=[photo])
            assert (await answer.value).status == 200
            uploaded = True
            await send_text(page, "完成")
        elif "正确" in labels:
            await press(page, "正确")
        elif "逐利执法" in labels:
            await press(page, "逐利执法")
        elif "没开" in labels:
            await press(page, "没开")
        elif "跳过" in labels:
            await press(page, "跳过")
        elif "完成" in labels:
            await press(page, "完成")
        else:  # a question without buttons: the place is the only one asked anonymously
            await send_text(page, PLACE)
    assert uploaded, "the evidence question was never asked"
    await expect(page.locator(".bubble.bot", has_text="证据：1个")).to_be_visible()
    await press(page, "确认提交")
    created = page.locator(".bubble.bot", has_text=TICKET_RE)
    await expect(created).to_be_visible()
    ticket_no = TICKET_RE.search(await created.inner_text())
    assert ticket_no is not None
    await expect(page.locator(".bubble.me img")).to_have_count(1)  # the photo's thumbnail
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))


async def test_markup_is_shown_as_text_and_a_failed_post_is_retried_once(
    browser: Browser, make_chat: ChatFactory
) -> None:
    chat = await make_chat()
    page = await open_chat(browser, chat, "?src=st-TEST01")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    bodies: list[dict[str, str]] = []

    async def flaky(route: Route) -> None:
        bodies.append(json.loads(route.request.post_data or "{}"))
        if len(bodies) == 1:  # the first attempt is lost on the way
            await route.abort("failed")
        else:
            await route.continue_()

    await page.route("**/chat/api/message", flaky)
    markup = "<img src=x onerror=alert(1)><b>粗体</b><script>alert(2)</script>"
    await send_text(page, markup)
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]  # the same client_id, so the server dedupes a repeat
    assert bodies[0]["src"] == "st-TEST01" and bodies[0]["client_id"]
    await expect(page.locator(".bubble.me")).to_have_text([markup])
    assert await page.locator("#log img, #log b, #log script").count() == 0
    assert dialogs == []

    await page.unroute("**/chat/api/message")
    await press(page, "匿名")
    async with page.expect_request("**/chat/api/message") as later:
        await send_text(page, "好的")
    assert "src" not in json.loads((await later.value).post_data or "{}")  # first message only
