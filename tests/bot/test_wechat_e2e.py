"""WeChat end to end through `complaintbot serve`: a real process, the simulator, the fake API.

Crash tests use kill -9 at two honest points, made reachable by holding SQLite's write lock
from the test (what a long transaction elsewhere does), not by any test hook in the service:

- while the step waits for the database: nothing is committed, WeChat pushes again to the
  restarted service, which files the ticket and answers passively;
- after the service answered `success` (its 4 s budget ran out) and committed, before the
  held reply went out: the restarted service's outbox job sends it, once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from wechat_platform import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TICKET_NO,
    TOKEN,
    WeChatSimulator,
    free_port,
)
from wechat_platform_api import FakeWeChatAPI
from wechat_platform_chat import ANSWERS, Driver, answer_until_summary, question_of

from handlers.catalog import text
from storage.engine import make_engine
from storage.models import Attachment, OutboxMessage, ProcessedMessage, Ticket, Unit

ROOT = Path(__file__).resolve().parents[2]
COMPLAINT = "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票"


class Server:
    """`complaintbot serve` in a child process on a free loopback port."""

    def __init__(self, tmp: Path, api_base_url: str) -> None:
        self.tmp = tmp
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
            # The checkout under test, whatever the virtualenv's install points at.
            "PYTHONPATH": str(ROOT),
            "ENVIRONMENT": "test",
            "DATABASE_URL": f"sqlite:///{self.db}",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "SECRET_KEY": "e2e-secret-key-0123456789abcdef0123456789",
            "JIEBA_CACHE_DIR": str(tmp / "jieba"),
            "ATTACHMENTS_DIR": str(tmp / "attachments"),
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WECHAT_API_BASE_URL": api_base_url,
        }

    @property
    def url(self) -> str:
        """The callback URL."""
        return f"http://127.0.0.1:{self.port}/wechat"

    async def start(self) -> None:
        """Start the process and wait until /healthz answers."""
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
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("serve did not come up within 30 s")

    def kill(self) -> None:
        """kill -9: no cleanup, no flush, as a crash."""
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

    def engine(self) -> Any:
        """A connection to the service's database."""
        return make_engine(f"sqlite:///{self.db}")


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


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatAPI]:
    """The platform's API."""
    async with FakeWeChatAPI() as api:
        yield api


@pytest.fixture
async def server(
    tmp_path: Path, sqlite_template: Path, fake_api: FakeWeChatAPI
) -> AsyncIterator[Server]:
    """A migrated database with one QR-coded brigade, and the service running on it."""
    service = Server(tmp_path, fake_api.base_url)
    shutil.copy(sqlite_template, service.db)
    engine = service.engine()
    with Session(engine) as session:
        session.add(Unit(code="ZD02", name="长沙市交通运输综合执法支队二大队", kind="brigade"))
        session.commit()
    engine.dispose()
    await service.start()
    yield service
    service.stop()


@pytest.fixture
async def driver(server: Server, fake_api: FakeWeChatAPI) -> AsyncIterator[Driver]:
    """A driver whose late answers are read from the fake API."""
    async with WeChatSimulator(server.url) as sim:
        yield Driver(sim, api=fake_api, late_seconds=8.0)


def rows(server: Server, model: Any) -> list[Any]:
    """All rows of a table in the service's database."""
    engine = server.engine()
    with Session(engine) as session:
        found = list(session.exec(select(model)).all())
    engine.dispose()
    return found


async def to_summary(driver: Driver) -> None:
    """One complaint typed in full, up to the question whether to submit."""
    await answer_until_summary(driver, await driver.say(COMPLAINT))


async def test_complaint_from_qr_subscribe_to_ticket(
    server: Server, driver: Driver, fake_api: FakeWeChatAPI
) -> None:
    sim, openid = driver.sim, driver.openid
    answer = await driver.send(sim.subscribe(openid, scene="u-ZD02"))
    assert answer is not None and "执法支队二大队" in answer and "1. 实名" in answer
    answer = await driver.say("1")
    assert answer is not None and answer.startswith(text("intake.ask_description"))
    spoken = "昨天下午三点被执法人员罚款两千元，不给开票"
    answer = await driver.send(sim.voice(openid, "MEDIA-VOICE-1", recognition=spoken))
    assert answer is not None and "第1个证据（语音）" in answer and "逐利执法" in answer
    answer = await driver.send(sim.image(openid, "MEDIA-IMAGE-1"))  # and a photo
    assert answer is not None and "第2个证据（图片）" in answer
    answer = await driver.say("1")  # the category as understood, or the first offered
    if question_of(answer or "") is None:  # the question is repeated after the photo
        answer = await driver.say("1")
    for _ in range(12):
        assert answer is not None
        key = question_of(answer)
        if key == "intake.ask_submit":
            break
        if key == "intake.ask_place":
            answer = await driver.send(sim.location(openid, 28.2282, 112.9388, "长沙北收费站"))
        else:
            assert key is not None, answer
            answer = await driver.say(ANSWERS[key])
    assert answer is not None and "长沙北收费站" in answer and "证据：2个" in answer
    # The driver's final "1" (确认提交) arrives three times, as WeChat retries do.
    submit = sim.text(openid, "1")
    answers = [await sim.say(submit) for _ in range(3)]
    assert answers[1:] == [None, None]
    assert answers[0] is not None
    ticket_no = TICKET_NO.search(answers[0])
    assert ticket_no is not None
    (ticket,) = rows(server, Ticket)
    assert ticket.ticket_no == ticket_no.group(0)
    assert ticket.source == "u-ZD02"
    assert (ticket.latitude, ticket.longitude) == (28.2282, 112.9388)
    assert "罚款" in ticket.description
    evidence = {(a.kind, a.channel_file_id) for a in rows(server, Attachment)}
    assert evidence == {("voice", "MEDIA-VOICE-1"), ("image", "MEDIA-IMAGE-1")}
    assert fake_api.sent_texts(openid) == []  # every answer came passively, once
    log = server.log.read_text(encoding="utf-8")
    assert ticket.ticket_no in log
    for private in (openid, "13812345678", "湘A3K921", "罚款"):
        assert private not in log


async def wait_for(condition: Any, *, seconds: float = 10.0) -> None:
    """Poll until `condition()` is true."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def rows_with(server: Server, key: str) -> list[OutboxMessage]:
    """The outbox row with an idempotency key."""
    return [r for r in rows(server, OutboxMessage) if r.idempotency_key == key]


def processed(server: Server, msg_id: str | None) -> bool:
    """Whether the service committed the handling of a message."""
    return any(p.message_id == msg_id for p in rows(server, ProcessedMessage))


async def test_kill_while_the_step_waits_then_wechat_retries(
    server: Server, driver: Driver, fake_api: FakeWeChatAPI
) -> None:
    await to_summary(driver)
    submit = driver.sim.text(driver.openid, "1")
    with write_lock(server.db):
        first = asyncio.create_task(driver.sim.post(submit))
        await asyncio.sleep(1.0)  # received and verified; the step waits for the database
        assert not first.done()
        server.kill()
        attempt = await first
    assert attempt.status is None  # the connection died: no answer, so WeChat will retry
    assert rows(server, Ticket) == [] and not processed(server, submit.msg_id)
    await server.start()
    answer = await driver.send(submit)  # the platform's retry reaches the new process
    ticket_no = TICKET_NO.search(answer or "")
    assert ticket_no is not None
    assert [t.ticket_no for t in rows(server, Ticket)] == [ticket_no.group(0)]
    assert fake_api.sent_texts(driver.openid) == []
    # The conversation carries on in the new process.
    answer = await driver.say(f"查询 {ticket_no.group(0)}")
    assert answer is not None and ticket_no.group(0) in answer


async def test_kill_after_commit_before_the_answer_went_out(
    server: Server, driver: Driver, fake_api: FakeWeChatAPI
) -> None:
    await to_summary(driver)
    submit = driver.sim.text(driver.openid, "1")
    with write_lock(server.db):
        # The step cannot finish within the 4 s budget: WeChat is told `success`.
        attempt = await driver.sim.post(submit)
    assert (attempt.status, attempt.body) == (200, "success")
    await wait_for(lambda: processed(server, submit.msg_id))  # committed, reply held
    key = f"reply:wechat:{submit.msg_id}"
    server.kill()
    (held,) = rows_with(server, key)
    assert held.status in ("pending", "sent")
    await server.start()
    late = await driver.late_answer(wait=10)  # the outbox job of the new process sends it
    ticket_no = TICKET_NO.search(late or "")
    assert ticket_no is not None
    assert len(fake_api.sent_texts(driver.openid)) == 1
    assert [t.ticket_no for t in rows(server, Ticket)] == [ticket_no.group(0)]
    await wait_for(lambda: rows_with(server, key)[0].status == "sent")  # never due again


async def test_restart_mid_conversation_resumes(server: Server, driver: Driver) -> None:
    answer = await driver.say(COMPLAINT)
    answer = await driver.say("1")  # 实名
    assert question_of(answer or "") in ("intake.ask_confirm_category", "intake.uncertain")
    server.stop()
    await server.start()
    answer = await driver.say("1")  # the answer to the question asked before the restart
    key = question_of(answer or "")
    assert key is not None and key.startswith("intake.ask_")
    answer = await driver.say("投诉")
    assert answer is not None and answer.startswith(text("common.resume"))
    assert question_of(answer) == key
    summary = await answer_until_summary(driver, answer)
    assert "13812345678" in summary
    answer = await driver.say("1")
    assert TICKET_NO.search(answer or "")
    assert len(rows(server, Ticket)) == 1
