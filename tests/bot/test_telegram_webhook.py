"""The Telegram channel in process: webhook refusals, update types, rate limit, files."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from telegram_bot_api import JPEG_BYTES, TOKEN, FakeBotAPI, TelegramUser

from bot.app import create_app
from bot.channels.telegram import TELEGRAM_KEY, TelegramChannel, fetch_pending_files
from bot.services import Services, build_services
from bot.settings import SettingsError, load_settings
from handlers.catalog import text
from storage.models import (
    Attachment,
    Conversation,
    OutboxMessage,
    ProcessedMessage,
    Unit,
)

SECRET = "webhook-secret_0123456789"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
_update_ids = count(900_000_001)


def rows(engine: Engine, model: type[SQLModel]) -> int:
    """How many rows a table has."""
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@dataclass
class Rig:
    """The web app with Telegram on, aimed at the fake Bot API."""

    client: TestClient[Any, Any]
    api: FakeBotAPI
    services: Services
    channel: TelegramChannel

    @property
    def engine(self) -> Engine:
        """The database."""
        return self.services.engine

    async def post(self, body: dict[str, Any], *, secret: str | None = SECRET) -> int:
        """POST an update the way Telegram does; returns the HTTP status."""
        headers = {HEADER: secret} if secret is not None else {}
        payload = {"update_id": next(_update_ids), **body}
        response = await self.client.post("/telegram", json=payload, headers=headers)
        await response.read()
        return response.status

    async def replies(self, chat_id: int, at_least: int = 1) -> list[str]:
        """The texts sent to a chat, once there are at least `at_least`."""
        for _ in range(200):
            texts = [m.text for m in self.api.messages(chat_id)]
            if len(texts) >= at_least:
                return texts
            await asyncio.sleep(0.02)
        raise AssertionError(f"only {self.api.messages(chat_id)} sent")

    def stored_nothing(self) -> bool:
        """No message recorded, no conversation, nothing queued."""
        return (
            rows(self.engine, ProcessedMessage) == 0
            and rows(self.engine, Conversation) == 0
            and rows(self.engine, OutboxMessage) == 0
        )


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API on a loopback port."""
    fake = FakeBotAPI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_rig(
    sqlite_engine: Engine, tmp_path: Path, api: FakeBotAPI
) -> AsyncIterator[RigFactory]:
    """Start the app; keyword arguments override settings."""
    clients: list[TestClient[Any, Any]] = []

    async def factory(**overrides: Any) -> Rig:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": str(sqlite_engine.url),
            "attachments_dir": tmp_path / "attachments",
            "telegram_bot_token": TOKEN,
            "telegram_api_base_url": api.base_url,
            "telegram_webhook_secret": SECRET,
            "telegram_webhook_url": "https://bot.example.org/telegram",
        }
        values.update(overrides)
        services = build_services(load_settings(**values), engine=sqlite_engine)
        app = create_app(services)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        channel = app[TELEGRAM_KEY]
        await asyncio.wait_for(channel.ready.wait(), 10)
        return Rig(client=client, api=api, services=services, channel=channel)

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    """The app in webhook mode."""
    return await make_rig()


async def test_startup_registers_webhook_with_secret_and_commands(rig: Rig) -> None:
    for _ in range(100):
        if rig.api.webhook is not None:
            break
        await asyncio.sleep(0.02)
    assert rig.api.webhook is not None
    assert rig.api.webhook["url"] == "https://bot.example.org/telegram"
    assert rig.api.webhook["secret_token"] == SECRET
    assert rig.api.webhook["allowed_updates"] == ["message", "callback_query"]
    commands = next(p["commands"] for name, p in rig.api.calls if name == "setMyCommands")
    assert [c["command"] for c in commands] == [
        "start",
        "status",
        "mine",
        "add",
        "withdraw",
        "cancel",
        "help",
    ]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_wrong_or_missing_secret_is_403_and_stores_nothing(
    rig: Rig, secret: str | None
) -> None:
    user = TelegramUser(rig.api, chat_id=5001)
    assert await rig.post(user.text("/start"), secret=secret) == 403
    assert rig.stored_nothing()
    assert rig.api.messages(5001) == []


async def test_no_configured_secret_refuses_every_call(make_rig: RigFactory) -> None:
    rig = await make_rig(telegram_webhook_secret=None, telegram_webhook_url="")
    user = TelegramUser(rig.api, chat_id=5002)
    assert await rig.post(user.text("/start"), secret="") == 403
    assert await rig.post(user.text("/start"), secret="anything") == 403
    assert rig.stored_nothing()


async def test_webhook_url_without_secret_is_a_settings_error(tmp_path: Path) -> None:
    settings = load_settings(
        environment="test",
        database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        telegram_bot_token=TOKEN,
        telegram_webhook_url="https://bot.example.org/telegram",
    )
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramChannel(build_services(settings))


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"message": {}}'])
async def test_malformed_body_is_400(rig: Rig, body: bytes) -> None:
    response = await rig.client.post(
        "/telegram", data=body, headers={HEADER: SECRET, "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert rig.stored_nothing()


async def test_body_over_one_megabyte_is_413(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=5003)
    body = {"update_id": 1, **user.text("长" * (600 * 1024))}
    raw = io.BytesIO(json.dumps(body, ensure_ascii=False).encode())
    response = await rig.client.post("/telegram", data=raw, headers={HEADER: SECRET})
    assert response.status == 413
    assert rig.stored_nothing()


async def test_sticker_gets_a_polite_reply_once(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=5004)
    body = {"update_id": next(_update_ids), **user.sticker()}
    for _ in range(2):  # Telegram redelivering the same update
        response = await rig.client.post("/telegram", json=body, headers={HEADER: SECRET})
        assert response.status == 200
    assert await rig.replies(5004) == [text("common.unsupported")]
    await asyncio.sleep(0.2)
    assert len(rig.api.messages(5004)) == 1
    assert rows(rig.engine, Conversation) == 0  # the conversation never saw it


async def test_duplicate_update_is_answered_once(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=5005)
    body = {"update_id": next(_update_ids), **user.text("/help")}
    for _ in range(3):
        response = await rig.client.post("/telegram", json=body, headers={HEADER: SECRET})
        assert response.status == 200
    await rig.replies(5005)
    await asyncio.sleep(0.2)
    assert [m.text for m in rig.api.messages(5005)] == [text("common.help")]
    assert rows(rig.engine, ProcessedMessage) == 1


async def test_button_press_is_answered_and_becomes_the_choice(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=5006)
    assert await rig.post(user.text("/start")) == 200
    texts = await rig.replies(5006, at_least=2)
    assert texts == [text("intake.start"), text("intake.ask_privacy")]
    keyboard = rig.api.messages(5006)[-1].buttons
    # Short labels sit two to a row; callback data is the choice value.
    assert keyboard == [[("实名", "real_name"), ("匿名", "anonymous")], [("保密", "confidential")]]
    assert await rig.post(user.button("anonymous")) == 200
    texts = await rig.replies(5006, at_least=3)
    assert texts[-1] == text("intake.ask_description")
    assert rig.api.count("answerCallbackQuery") == 1


async def test_start_payload_prefills_the_unit(rig: Rig) -> None:
    with Session(rig.engine) as session:
        session.add(Unit(code="4301ZC", name="望城治超站", kind="station"))
        session.commit()
    user = TelegramUser(rig.api, chat_id=5007)
    assert await rig.post(user.text("/start u-4301ZC")) == 200
    texts = await rig.replies(5007, at_least=3)
    assert texts[:2] == [text("intake.start"), text("intake.prefill", source="望城治超站")]


async def test_group_chats_are_ignored(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=-100777)
    body = user.text("/start")
    body["message"]["chat"] = {"id": -100777, "type": "supergroup", "title": "车友群"}
    assert await rig.post(body) == 200
    await asyncio.sleep(0.2)
    assert rig.stored_nothing()
    assert rig.api.messages(-100777) == []


async def test_flooding_driver_is_slowed_once_and_others_are_not(rig: Rig) -> None:
    flooder = TelegramUser(rig.api, chat_id=5008)
    other = TelegramUser(rig.api, chat_id=5009)
    started = time.monotonic()
    statuses = [await rig.post(flooder.text("/help")) for _ in range(30)]
    assert set(statuses) == {200}
    assert time.monotonic() - started < 10  # 30 messages within 10 seconds
    # The flooder's answers now trickle out at about one a second; the other driver's
    # answer does not queue behind them.
    assert await rig.post(other.text("/help")) == 200
    assert await asyncio.wait_for(rig.replies(5009), 2) == [text("common.help")]
    with Session(rig.engine) as session:
        queued = session.exec(select(OutboxMessage).where(OutboxMessage.recipient == "5008")).all()
    keys = [row.payload["replies"][0]["key"] for row in queued]
    assert keys.count("common.too_fast") == 1
    assert keys.count("common.help") < 25  # the rest were dropped, not dispatched
    assert len(keys) < 30


async def test_blocked_user_fails_permanently(rig: Rig) -> None:
    rig.api.blocked.add(5010)
    user = TelegramUser(rig.api, chat_id=5010)
    assert await rig.post(user.text("/help")) == 200
    for _ in range(100):
        with Session(rig.engine) as session:
            row = session.exec(select(OutboxMessage)).first()
        if row is not None and row.status != "sending" and row.status != "pending":
            break
        await asyncio.sleep(0.02)
    assert row is not None
    assert (row.status, row.attempts) == ("failed", 1)
    assert "blocked" in (row.last_error or "")
    report = await rig.services.delivery.deliver_due()
    assert report.sent == report.failed == report.retrying == 0  # nothing left to retry


async def test_photo_location_and_voice_reach_the_conversation(rig: Rig) -> None:
    user = TelegramUser(rig.api, chat_id=5011)
    assert await rig.post(user.photo()) == 200
    texts = await rig.replies(5011, at_least=3)
    assert texts[0].startswith("已收到第1个证据")
    with Session(rig.engine) as session:
        conversation = session.exec(select(Conversation)).one()
    evidence = conversation.data["attachments"]
    assert evidence[0]["kind"] == "image"
    assert evidence[0]["channel_file_id"].startswith("FILE")
    voice = user.message(
        voice={"file_id": "VOICE1", "file_unique_id": "v1", "duration": 3, "mime_type": "audio/ogg"}
    )
    assert await rig.post(voice) == 200
    texts = await rig.replies(5011, at_least=4)
    assert texts[3].startswith("已收到第2个证据")
    assert await rig.post(user.location(28.2282, 112.9388)) == 200
    await rig.replies(5011, at_least=5)
    with Session(rig.engine) as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.data["facts"]["latitude"] == pytest.approx(28.2282)
    assert [a["kind"] for a in conversation.data["attachments"]] == ["image", "voice"]


async def test_fetch_pending_files_stores_by_sha256(rig: Rig, tmp_path: Path) -> None:
    file_id = rig.api.add_file(JPEG_BYTES, "photos/file_9.jpg")
    with Session(rig.engine) as session:
        session.add(Attachment(channel="telegram", channel_file_id=file_id, kind="image"))
        session.add(Attachment(channel="telegram", channel_file_id="GONE", kind="image"))
        session.commit()
    assert await fetch_pending_files(rig.services) == 1
    with Session(rig.engine) as session:
        stored = session.exec(select(Attachment).where(Attachment.channel_file_id == file_id)).one()
    assert stored.storage_path and stored.sha256 and stored.mime == "image/jpeg"
    path = rig.services.settings.attachments_dir / stored.storage_path
    assert path.read_bytes() == JPEG_BYTES
    assert await fetch_pending_files(rig.services) == 0  # the unknown file id just waits
