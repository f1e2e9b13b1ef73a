"""The outbound side: the async API client, the outbox sender, media downloads, the menu CLI."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from webchat_support import make_png
from wechat_platform import APP_ID, APP_SECRET, free_port, new_openid, wechat_settings
from wechat_platform_api import FakeWeChatAPI

from bot.channels.wechat_api import (
    WeChatAPI,
    WeChatAPIError,
    WeChatOutcomeUnknown,
    WeChatUnavailable,
)
from bot.channels.wechat_outbound import WeChatSender, fetch_pending_media
from bot.cli import main
from bot.outbox import SendError
from bot.services import build_services
from bot.settings import get_settings, load_settings
from storage.engine import transaction
from storage.models import Attachment, OutboxMessage
from storage.outbox import enqueue

PNG = make_png()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatAPI]:
    """The platform's API on a loopback port."""
    async with FakeWeChatAPI() as api:
        yield api


@pytest.fixture
async def client(fake_api: FakeWeChatAPI) -> AsyncIterator[WeChatAPI]:
    """Our client pointed at the fake, with a short read timeout."""
    api = WeChatAPI(
        app_id=APP_ID, app_secret=APP_SECRET, base_url=fake_api.base_url, read_timeout=0.5
    )
    yield api
    await api.close()


# ------------------------------------------------------------------------- the client


async def test_token_is_fetched_once_and_refreshed_when_refused(
    client: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    openid = new_openid()
    await client.send_text(openid, "一")
    await client.send_text(openid, "二")
    assert len(fake_api.of("token")) == 1
    fake_api.expire_tokens()  # the next call is refused with 42001
    await client.send_text(openid, "三")
    assert len(fake_api.of("token")) == 2
    assert fake_api.sent_texts(openid) == ["一", "二", "三"]
    # Sent as UTF-8, not \\u escapes (the platform would show those literally).
    assert fake_api.of("message/custom/send")[0].body == {
        "touser": openid,
        "msgtype": "text",
        "text": {"content": "一"},
    }


@pytest.mark.parametrize(
    ("errcode", "permanent"),
    [(45015, True), (43004, True), (40003, True), (45047, False), (-1, False)],
)
async def test_error_codes_are_permanent_or_retryable(
    client: WeChatAPI, fake_api: FakeWeChatAPI, errcode: int, permanent: bool
) -> None:
    fake_api.fail("message/custom/send", errcode=errcode)
    with pytest.raises(WeChatAPIError) as info:
        await client.send_text(new_openid(), "x")
    assert info.value.errcode == errcode
    assert info.value.permanent is permanent


async def test_server_errors_and_refused_connections_are_retryable(
    client: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    fake_api.fail("message/custom/send", status=502)
    with pytest.raises(WeChatUnavailable) as info:
        await client.send_text(new_openid(), "x")
    assert not info.value.permanent
    nowhere = WeChatAPI(
        app_id=APP_ID, app_secret=APP_SECRET, base_url=f"http://127.0.0.1:{free_port()}/cgi-bin/"
    )
    with pytest.raises(SendError) as refused:
        await nowhere.send_text(new_openid(), "x")
    assert not refused.value.permanent
    await nowhere.close()


async def test_timeout_after_sending_is_an_unknown_outcome(
    client: WeChatAPI, fake_api: FakeWeChatAPI
) -> None:
    await client.access_token()
    fake_api.fail("message/custom/send", delay=1.5)
    with pytest.raises(WeChatOutcomeUnknown):
        await client.send_text(new_openid(), "x")
    assert not issubclass(WeChatOutcomeUnknown, SendError)


# ------------------------------------------------------------------------- the outbox sender


async def deliver(
    sqlite_engine: Engine, fake_api: FakeWeChatAPI, tmp_path: Path, *payloads: dict[str, Any]
) -> list[OutboxMessage]:
    """Queue payloads for one user, run a delivery pass with the WeChat sender."""
    settings = load_settings(
        environment="test",
        database_url=str(sqlite_engine.url),
        attachments_dir=tmp_path / "attachments",
        **wechat_settings(fake_api.base_url),
    )
    services = build_services(settings, engine=sqlite_engine)
    api = WeChatAPI(
        app_id=APP_ID, app_secret=APP_SECRET, base_url=fake_api.base_url, read_timeout=0.5
    )
    services.senders["wechat"] = WeChatSender(api)
    openid = new_openid()
    with transaction(sqlite_engine) as session:
        for number, payload in enumerate(payloads):
            enqueue(
                session,
                channel="wechat",
                recipient=openid,
                payload=payload,
                idempotency_key=f"test:{openid}:{number}",
                now=services.clock(),
            )
    await services.delivery.deliver_due()
    services.delivery.flag_stale(older_than=timedelta(0))
    await api.close()
    with Session(sqlite_engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


REPLIES = {
    "replies": [
        {"text": "请选择身份方式：", "choices": [{"label": "实名", "value": "real_name"}]},
        {"text": "第二句", "choices": []},
    ]
}


async def test_sender_renders_replies_and_templates(
    sqlite_engine: Engine, fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    template = {"template": {"template_id": "T1", "data": {"first": {"value": "回访"}}}}
    rows = await deliver(sqlite_engine, fake_api, tmp_path, REPLIES, template)
    assert [r.status for r in rows] == ["sent", "sent"]
    assert fake_api.sent_texts() == ["请选择身份方式：\n1. 实名\n\n第二句"]
    (call,) = fake_api.of("message/template/send")
    assert call.body is not None and call.body["template_id"] == "T1"
    assert call.body["touser"] == rows[1].recipient


async def test_outbox_rows_fail_retry_or_go_to_review_by_error(
    sqlite_engine: Engine, fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    fake_api.fail("message/custom/send", errcode=45015)
    fake_api.fail("message/custom/send", errcode=45047)
    fake_api.fail("message/custom/send", delay=1.5)
    rows = await deliver(sqlite_engine, fake_api, tmp_path, REPLIES, REPLIES, REPLIES)
    assert [r.status for r in rows] == ["failed", "pending", "review"]
    assert rows[0].last_error is not None and "45015" in rows[0].last_error
    assert rows[1].attempts == 1
    assert rows[0].recipient not in (rows[0].last_error or "")


# ------------------------------------------------------------------------- media


async def test_pending_media_are_downloaded_once_by_hash(
    sqlite_engine: Engine, fake_api: FakeWeChatAPI, tmp_path: Path
) -> None:
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    fake_api.media = {"IMG": ("image/png", PNG), "VID": ("video/mp4", mp4)}
    settings = load_settings(
        environment="test",
        database_url=str(sqlite_engine.url),
        attachments_dir=tmp_path / "attachments",
        **wechat_settings(fake_api.base_url),
    )
    services = build_services(settings, engine=sqlite_engine)
    assert await fetch_pending_media(services) == 0  # no WeChat sender registered
    services.senders["wechat"] = sender = WeChatSender(
        WeChatAPI(app_id=APP_ID, app_secret=APP_SECRET, base_url=fake_api.base_url)
    )
    with transaction(sqlite_engine) as session:
        for media_id, kind in (("IMG", "image"), ("VID", "video"), ("GONE", "image")):
            session.add(Attachment(channel="wechat", channel_file_id=media_id, kind=kind))
        session.add(Attachment(channel="web", channel_file_id="IMG", kind="image"))
    assert await fetch_pending_media(services) == 2
    assert await fetch_pending_media(services) == 0
    with Session(sqlite_engine) as session:
        stored = {
            a.channel_file_id: a
            for a in session.exec(select(Attachment).where(Attachment.channel == "wechat"))
        }
    assert stored["IMG"].sha256 == hashlib.sha256(PNG).hexdigest()
    assert stored["IMG"].mime == "image/png"
    assert stored["IMG"].storage_path is not None
    assert (tmp_path / "attachments" / stored["IMG"].storage_path).read_bytes() == PNG
    assert stored["VID"].mime == "video/mp4"
    assert stored["GONE"].storage_path is None
    gone_id = stored["GONE"].id
    assert gone_id is not None and sender.media_failures[gone_id] == 2
    await sender.api.close()


# ------------------------------------------------------------------------- the menu command


@pytest.fixture
def menu_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Settings for the CLI from the environment, pointed at a base URL given later."""

    def configure(base_url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
        monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
        monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
        monkeypatch.setenv("WECHAT_TOKEN", "t")
        monkeypatch.setenv("WECHAT_API_BASE_URL", base_url)
        get_settings.cache_clear()

    monkeypatch.chdir(tmp_path)
    yield configure
    get_settings.cache_clear()


def test_menu_command_installs_three_click_buttons(
    menu_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeWeChatAPI()
    with api.in_thread() as base_url:
        menu_env(base_url)
        assert main(["wechat", "menu"]) == 0
    (call,) = api.of("menu/create")
    assert call.body == {
        "button": [
            {"type": "click", "name": "投诉", "key": "COMPLAIN"},
            {"type": "click", "name": "查询", "key": "STATUS"},
            {"type": "click", "name": "帮助", "key": "HELP"},
        ]
    }
    assert "menu installed" in capsys.readouterr().out
    assert main(["wechat", "menu", "--print"]) == 0
    assert json.loads(capsys.readouterr().out) == call.body


def test_menu_command_explains_api_errors(
    menu_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeWeChatAPI()
    with api.in_thread() as base_url:
        menu_env(base_url)
        api.fail("menu/create", errcode=40164)
        assert main(["wechat", "menu"]) == 1
    err = capsys.readouterr().err
    assert "40164" in err and "whitelist" in err and "Traceback" not in err
    menu_env(f"http://127.0.0.1:{free_port()}/cgi-bin/")
    assert main(["wechat", "menu"]) == 1
    assert "cannot connect" in capsys.readouterr().err
