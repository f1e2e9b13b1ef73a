"""Telegram end to end through `complaintbot serve`: real python-telegram-bot, a fake Bot API.

The service runs as a child process in webhook mode (the fake pushes updates to
`POST /telegram` and retries until answered 2xx, as Telegram does) or in polling mode (the
service long-polls the fake's `getUpdates`). Each mode files a complaint from /start to the
ticket number with button presses (polling: the last test, through a crash and a restart,
to stay within the time budget). kill -9 lands at three honest points, reached
without any test hook in the service:

- before the commit: the test holds SQLite's write lock (what a long transaction elsewhere
  does) while the update is in flight, so the step waits at BEGIN IMMEDIATE; the update is
  not acknowledged, and Telegram (the fake) hands it to the restarted service again;
- after the commit, before the send: the fake takes the write lock when the service answers
  the button's callback query, which it does after committing and before claiming the
  outbox row; the restarted service's delivery job sends the pending row, once;
- mid-send: the fake records the message as delivered and never answers; the row stays
  'sending', and the stale sweep (every minute for rows older than five; run here directly)
  flags it for review instead of sending it again.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from telegram_bot_api import TOKEN, FakeBotAPI, Sent, TelegramUser, free_port

from bot.outbox import OutboxDelivery
from handlers.catalog import text
from storage.engine import make_engine
from storage.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-webhook-secret_0123456789"
TICKET_NO = re.compile(r"TS\d{8}-\d{4}")
COMPLAINT = "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票"
ANSWERS = {
    text("intake.ask_description"): COMPLAINT,
    text("intake.ask_occurred"): "昨天下午三点",
    text("intake.ask_place"): "G4京港澳高速长沙北收费站",
    text("intake.ask_accused"): "市交通运输综合执法支队二大队，执法证号 HN12345",
    text("intake.ask_amount"): "两千",
    text("intake.ask_own_plate"): "湘A3K921",
    text("intake.ask_contact"): "13812345678",
}
# Which button to press when a question offers it, in this order of preference.
PRESS = ("real_name", "yes", "no", "done", "submit")


class Server:
    """`complaintbot serve` in a child process, Telegram on, aimed at the fake Bot API."""

    def __init__(self, tmp: Path, api: FakeBotAPI, *, webhook: bool) -> None:
        self.tmp = tmp
        self.api = api
        self.webhook = webhook
        self.db = tmp / "complaintbot.sqlite3"
        self.log = tmp / "serve.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        executable = Path(sys.executable).with_name("complaintbot")
        self.command = (
            [str(executable), "serve"]
            if executable.exists()
            else [sys.executable, "-m", "bot.cli", "serve"]
        )
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "ENVIRONMENT": "test",
            "DATABASE_URL": f"sqlite:///{self.db}",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "SECRET_KEY": "e2e-secret-key-0123456789abcdef0123456789",
            "JIEBA_CACHE_DIR": str(tmp / "jieba"),
            "ATTACHMENTS_DIR": str(tmp / "attachments"),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{self.port}/telegram" if webhook else "",
        }

    async def start(self) -> None:
        """Start the process; wait for /healthz and for the bot to register or poll."""
        marker = "setWebhook" if self.webhook else "getUpdates"
        before = self.api.count(marker)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"serve exited:\n{self.log.read_text()[-3000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200 and self.api.count(marker) > before:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"serve not ready in 30 s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no cleanup, as a crash."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as a deployment restart does."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the service's database."""
        with closing(sqlite3.connect(self.db, timeout=10)) as connection:
            return list(connection.execute(sql, args).fetchall())

    def reply_row(self, update_id: int) -> tuple[str, int] | None:
        """(status, attempts) of the outbox row holding an update's replies."""
        found = self.query(
            "SELECT status, attempts FROM outbox WHERE idempotency_key LIKE ?",
            f"reply:telegram:{update_id}:%",
        )
        return (str(found[0][0]), int(found[0][1])) if found else None


@contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """Hold SQLite's write lock: every writer of the service waits (busy timeout 15 s)."""
    connection = sqlite3.connect(db, isolation_level=None, timeout=5)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


class Driver:
    """A driver's chat with the bot, reading what arrives at the fake."""

    def __init__(self, server: Server, chat_id: int) -> None:
        self.server = server
        self.user = TelegramUser(server.api, chat_id)
        self.presses = 0

    @property
    def chat(self) -> list[Sent]:
        """Everything the bot sent this driver."""
        return self.server.api.messages(self.user.chat_id)

    async def settle(self, update_id: int, timeout: float = 15) -> None:
        """Wait until the update's replies are sent (or finally not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.server.reply_row(update_id)
            if row is not None and row[0] in ("sent", "failed", "review"):
                return
            await asyncio.sleep(0.03)
        raise AssertionError(f"update {update_id} not answered: {self.server.reply_row(update_id)}")

    async def act(self, update_id: int, seen: int | None = None) -> list[Sent]:
        """Wait for the answer to an update; the messages after the first `seen`."""
        seen = len(self.chat) if seen is None else seen
        await self.settle(update_id)
        return self.chat[seen:]

    async def say(self, words: str) -> list[Sent]:
        """Type something."""
        return await self.act(self.user.send(words))

    async def press(self, value: str) -> list[Sent]:
        """Press a button."""
        self.presses += 1
        return await self.act(self.user.press(value))

    async def answer(self, last: Sent) -> list[Sent]:
        """Answer the bot's last question as a driver would."""
        if last.text in ANSWERS:
            return await self.say(ANSWERS[last.text])
        if last.text == text("intake.ask_evidence"):
            saved = await self.act(self.server.api.queue_update(self.user.photo()))
            assert saved[0].text.startswith("已收到第1个证据")
            return await self.press("done")
        for value in PRESS:
            if value in last.values:
                return await self.press(value)
        if "skip" in last.values:
            return await self.press("skip")
        raise AssertionError(f"unexpected question: {last.text}")

    async def until_ticket(self, last: Sent, limit: int = 15) -> str:
        """Answer questions until a ticket number arrives."""
        for _ in range(limit):
            found = TICKET_NO.search(last.text)
            if found:
                return found.group(0)
            last = (await self.answer(last))[-1]
        raise AssertionError("no ticket number")


def assert_no_repeats(chat: list[Sent]) -> None:
    """No message reached the driver twice in a row (what a resend would look like)."""
    texts = [m.text for m in chat]
    assert all(a != b for a, b in itertools.pairwise(texts)), texts


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API."""
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()


async def _server(
    tmp_path: Path, sqlite_template: Path, api: FakeBotAPI, *, webhook: bool
) -> Server:
    server = Server(tmp_path, api, webhook=webhook)
    shutil.copy(sqlite_template, server.db)
    await server.start()
    return server


@pytest.fixture
async def server(tmp_path: Path, sqlite_template: Path, api: FakeBotAPI) -> AsyncIterator[Server]:
    """The service in webhook mode (polling mode: the last test, which also files a ticket)."""
    service = await _server(tmp_path, sqlite_template, api, webhook=True)
    yield service
    service.stop()


async def test_complaint_from_start_to_ticket_with_buttons(server: Server) -> None:
    driver = Driver(server, chat_id=71001)
    first = await driver.say("/start")
    assert [m.text for m in first] == [text("intake.start"), text("intake.ask_privacy")]
    assert first[-1].values == ["real_name", "anonymous", "confidential"]
    ticket_no = await driver.until_ticket(first[-1])
    assert server.query("SELECT ticket_no FROM tickets") == [(ticket_no,)]
    assert server.query("SELECT count(*) FROM attachments WHERE channel = 'telegram'") == [(1,)]
    assert server.api.count("answerCallbackQuery") == driver.presses
    assert_no_repeats(driver.chat)
    statuses = server.query("SELECT DISTINCT status FROM outbox")
    assert statuses == [("sent",)]
    # A driver who blocked the bot: failed for good after one attempt, no retry loop.
    blocked = Driver(server, chat_id=71002)
    server.api.blocked.add(71002)
    update_id = blocked.user.send("/help")
    await blocked.settle(update_id)
    assert server.reply_row(update_id) == ("failed", 1)
    # Telegram asking to slow down: the message waits and goes out once.
    slowed = Driver(server, chat_id=71003)
    server.api.retry_after[71003] = 1
    assert [m.text for m in await slowed.say("/help")] == [text("common.help")]
    await asyncio.sleep(2.1)  # a delivery job run later: nothing more was tried
    attempts = [p for name, p in server.api.calls if name == "sendMessage"]
    assert sum(1 for p in attempts if int(p["chat_id"]) == 71002) == 1
    assert [m.text for m in slowed.chat] == [text("common.help")]


async def test_kill9_around_the_commit_and_mid_send_webhook(
    tmp_path: Path, sqlite_template: Path, api: FakeBotAPI
) -> None:
    server = await _server(tmp_path, sqlite_template, api, webhook=True)
    try:
        driver = Driver(server, chat_id=72001)
        await driver.say("/start")
        asked = await driver.press("real_name")
        assert asked[-1].text == text("intake.ask_description")

        # 1. Killed while the step waits for the database: nothing committed, no 200.
        seen = len(driver.chat)
        with write_lock(server.db):
            pushes = api.webhook_attempts
            update_id = driver.user.send(COMPLAINT)
            while api.webhook_attempts == pushes:  # the POST is in flight
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            server.kill()
        assert server.reply_row(update_id) is None
        assert server.query("SELECT count(*) FROM processed_messages") == [(2,)]
        await server.start()
        shown = await driver.act(update_id, seen)  # Telegram pushed it again
        assert [m.text for m in shown].count(text("intake.ask_confirm_category")) == 1

        # 2. Killed after the commit, before the send: the button press is acknowledged
        # (200 and answerCallbackQuery) and the reply row waits, pending.
        locked: list[sqlite3.Connection] = []

        def lock_database() -> None:
            connection = sqlite3.connect(server.db, isolation_level=None, timeout=5)
            connection.execute("BEGIN IMMEDIATE")
            locked.append(connection)

        api.on_answer_callback = lock_database
        update_id = driver.user.press("yes")
        while not locked:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        server.kill()
        api.on_answer_callback = None
        locked[0].execute("ROLLBACK")
        locked[0].close()
        assert server.reply_row(update_id) == ("pending", 0)
        seen = len(driver.chat)
        await server.start()
        await driver.settle(update_id)  # sent by the restarted service's delivery job
        assert driver.chat[seen:][-1].text == text("intake.ask_accused")

        # 3. Killed mid-send: the driver has the question, the service never heard back.
        api.hang_sends = True
        seen = len(driver.chat)
        update_id = driver.user.send(ANSWERS[text("intake.ask_accused")])
        while len(driver.chat) == seen:
            await asyncio.sleep(0.02)
        server.kill()
        api.hang_sends = False
        assert server.reply_row(update_id) == ("sending", 0)
        await server.start()
        engine = make_engine(f"sqlite:///{server.db}")
        # What the minute job does once the row is five minutes old.
        sweep = OutboxDelivery(engine=engine, senders={}, clock=utcnow, worker_id="sweep")
        assert sweep.flag_stale(older_than=timedelta(0)) == 1
        engine.dispose()
        assert server.reply_row(update_id) == ("review", 0)
        await asyncio.sleep(2.1)  # a delivery job run: the row is not sent again
        assert [m.text for m in driver.chat[seen:]] == [text("intake.ask_own_plate")]

        # The conversation carries on to one ticket; no message was ever repeated.
        ticket_no = await driver.until_ticket(driver.chat[-1])
        assert server.query("SELECT ticket_no FROM tickets") == [(ticket_no,)]
        assert_no_repeats(driver.chat)
    finally:
        server.stop()


async def test_polling_start_to_ticket_through_kill9_and_restart(
    tmp_path: Path, sqlite_template: Path, api: FakeBotAPI
) -> None:
    server = await _server(tmp_path, sqlite_template, api, webhook=False)
    try:
        assert api.webhook is None and api.count("deleteWebhook") == 1
        driver = Driver(server, chat_id=73001)
        first = await driver.say("/start")
        assert first[-1].values == ["real_name", "anonymous", "confidential"]
        await driver.press("anonymous")

        # Fetched by getUpdates but not committed when killed: not confirmed, served again.
        seen = len(driver.chat)
        with write_lock(server.db):
            update_id = driver.user.send(COMPLAINT)
            while update_id not in api.served:  # handed to the service by getUpdates
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            server.kill()
        assert server.reply_row(update_id) is None
        await server.start()
        shown = await driver.act(update_id, seen)
        assert [m.text for m in shown].count(text("intake.ask_confirm_category")) == 1

        # A graceful restart between two messages: the conversation resumes where it was.
        server.stop()
        await server.start()
        ticket_no = await driver.until_ticket(shown[-1])
        assert server.query("SELECT ticket_no, anonymity FROM tickets") == [
            (ticket_no, "anonymous")
        ]
        assert_no_repeats(driver.chat)
        assert server.query("SELECT DISTINCT status FROM outbox") == [("sent",)]
    finally:
        server.stop()
