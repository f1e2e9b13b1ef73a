"""The WeChat callback in process: modes, message and event types, bad input, rate limit."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))

from wechat_platform import WeChatSimulator, count, new_openid
from wechat_platform_api import FakeWeChatAPI
from wechat_platform_chat import Rig, RigFactory, rig_factory

from bot.channels.wechat_ratelimit import RateLimiter
from bot.channels.wechat_render import passive_text_xml, render_text, split_text
from handlers.catalog import text
from handlers.messages import Choice, Reply
from storage.models import Conversation, ProcessedMessage

XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>"
    "<MsgId>1</MsgId></xml>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(2, 10))
    + '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content>"
    "<MsgId>2</MsgId></xml>"
)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeWeChatAPI]:
    """The platform's API on a loopback port."""
    async with FakeWeChatAPI() as api:
        yield api


@pytest.fixture
async def make_rig(make_chat: Any, fake_api: FakeWeChatAPI) -> AsyncIterator[RigFactory]:
    """Apps with WeChat on, each with a simulator."""
    async with rig_factory(make_chat, fake_api) as factory:
        yield factory


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    """Safe mode, the platform's recommended setting."""
    return await make_rig()


# ------------------------------------------------------------------------- modes, URL check


async def test_url_verification_echoes_only_when_signed(rig: Rig) -> None:
    assert await rig.sim.verify_url("echo-123") == (200, "echo-123")
    wrong = WeChatSimulator(rig.sim.url, token="not-our-token")
    async with wrong:
        status, _ = await wrong.verify_url("echo-123")
    assert status == 403
    status, _ = await rig.sim.verify_url("echo-123", timestamp=1_500_000_000)
    assert status == 403


async def test_plain_mode_text_gets_a_plain_passive_reply(make_rig: RigFactory) -> None:
    rig = await make_rig(safe=False)
    openid = new_openid()
    delivery = await rig.sim.deliver(rig.sim.text(openid, "帮助"))
    assert delivery.final.status == 200
    assert "<Encrypt>" not in delivery.final.body
    assert delivery.answer == text("common.help")


async def test_safe_mode_subscribe_welcomes_with_an_encrypted_reply(rig: Rig) -> None:
    openid = new_openid()
    delivery = await rig.sim.deliver(rig.sim.subscribe(openid))
    assert "<Encrypt>" in delivery.final.body and "投诉" not in delivery.final.body
    assert delivery.answer == text("common.help")
    assert rig.api.calls == []  # answered passively: nothing through the API


async def test_plaintext_push_refused_when_safe_mode_is_configured(rig: Rig) -> None:
    plain = WeChatSimulator(rig.sim.url, aes_key=None)
    async with plain:
        attempt = await plain.post(plain.text(new_openid(), "帮助"))
    assert attempt.status == 403
    assert rig.stored_nothing()


# ------------------------------------------------------------------------- message types


async def test_voice_uses_recognition_and_keeps_the_voice_as_evidence(rig: Rig) -> None:
    openid = new_openid()
    await rig.sim.say(rig.sim.text(openid, "投诉"))
    answer = await rig.sim.say(rig.sim.text(openid, "1"))  # 实名
    assert answer is not None and answer.startswith(text("intake.ask_description"))
    spoken = "昨天下午三点在长沙治超站被罚款两千元，不给开票"
    answer = await rig.sim.say(rig.sim.voice(openid, "VOICE-1", recognition=spoken))
    # The recognised words were read as the description: the category question follows.
    assert answer is not None and "\n1. " in answer
    with Session(rig.engine) as session:
        conversation = session.exec(select(Conversation)).one()
    evidence = conversation.data["attachments"]
    assert [(e["kind"], e["channel_file_id"]) for e in evidence] == [("voice", "VOICE-1")]
    assert "治超站" in conversation.data["description"]


async def test_image_video_location_and_link_reach_the_conversation(rig: Rig) -> None:
    openid = new_openid()
    answer = await rig.sim.say(rig.sim.image(openid, "IMG-1"))
    assert answer is not None and "1. 实名" in answer  # evidence first starts an intake
    await rig.sim.say(rig.sim.video(openid, "VID-1", short=True))
    await rig.sim.say(rig.sim.location(openid, 28.2282, 112.9388, "长沙北收费站"))
    with Session(rig.engine) as session:
        data = session.exec(select(Conversation)).one().data
    assert [e["kind"] for e in data["attachments"]] == ["image", "video"]
    assert data["facts"]["place_text"] == "长沙北收费站"
    link_user = new_openid()
    answer = await rig.sim.say(
        rig.sim.link(link_user, "罚款不给开收据可以拒绝吗", "https://example.org/a")
    )
    assert answer  # the title is read as a question


async def test_unknown_message_type_gets_a_polite_reply_and_nothing_stored(rig: Rig) -> None:
    answer = await rig.sim.say(rig.sim.message(new_openid(), "miniprogrampage", Title="x"))
    assert answer == text("common.unsupported")
    assert rig.stored_nothing()


async def test_menu_click_and_qr_scan_map_to_commands_and_deep_links(rig: Rig) -> None:
    openid = new_openid()
    assert await rig.sim.say(rig.sim.click(openid, "HELP")) == text("common.help")
    answer = await rig.sim.say(rig.sim.click(openid, "STATUS"))
    assert answer == text("status.none")
    answer = await rig.sim.say(rig.sim.scan(openid, "u-NOPE"))
    assert answer is not None and text("intake.start") in answer
    assert await rig.sim.say(rig.sim.click(openid, "UNKNOWN_KEY")) is None


async def test_location_reports_pass_only_while_the_place_is_asked(rig: Rig) -> None:
    openid = new_openid()
    assert await rig.sim.say(rig.sim.location_report(openid, 28.1, 112.9)) is None
    assert rig.stored_nothing()
    await rig.sim.say(rig.sim.text(openid, "执法人员态度很差，骂人，还不让我说话"))
    await rig.sim.say(rig.sim.text(openid, "匿名"))
    await rig.sim.say(rig.sim.text(openid, "1"))
    answer = await rig.sim.say(rig.sim.text(openid, "跳过"))  # the time is optional
    assert answer == text("intake.ask_place")
    answer = await rig.sim.say(rig.sim.location_report(openid, 28.2282, 112.9388))
    assert answer is not None and answer.startswith(text("intake.ask_accused"))


async def test_unsubscribe_resets_the_conversation_silently(rig: Rig) -> None:
    openid = new_openid()
    await rig.sim.say(rig.sim.text(openid, "投诉"))
    assert await rig.sim.say(rig.sim.event(openid, "unsubscribe")) is None
    with Session(rig.engine) as session:
        assert session.exec(select(Conversation)).one().state == "idle"


# ------------------------------------------------------------------------- bad input


async def test_wrong_signature_is_403_and_stores_nothing(rig: Rig) -> None:
    params, body = rig.sim.prepare(rig.sim.text(new_openid(), "帮助").xml)
    status, _ = await rig.sim.post_raw({**params, "signature": "0" * 40}, body)
    assert status == 403
    status, _ = await rig.sim.post_raw({**params, "msg_signature": "0" * 40}, body)
    assert status == 403
    status, _ = await rig.sim.post_raw({k: v for k, v in params.items() if k != "signature"}, body)
    assert status == 403
    assert rig.stored_nothing()


async def test_wrong_aes_key_or_app_id_is_403(rig: Rig) -> None:
    other_key = "B" * 43
    for sim in (
        WeChatSimulator(rig.sim.url, aes_key=other_key),
        WeChatSimulator(rig.sim.url, app_id="wx0000000000000000"),
    ):
        async with sim:
            attempt = await sim.post(sim.text(new_openid(), "帮助"))
        assert attempt.status == 403
    assert rig.stored_nothing()


async def test_stale_timestamp_is_403(rig: Rig) -> None:
    params, body = rig.sim.prepare(
        rig.sim.text(new_openid(), "帮助").xml, timestamp=int(rig.sim.clock()) - 301
    )
    assert (await rig.sim.post_raw(params, body))[0] == 403
    assert rig.stored_nothing()


@pytest.mark.parametrize("payload", ["<xml><MsgType>text", "<notxml/>", XXE, BILLION_LAUGHS])
async def test_malformed_xml_xxe_and_entity_bombs_are_400(
    make_rig: RigFactory, payload: str
) -> None:
    plain = await make_rig(safe=False)
    params, _ = plain.sim.prepare("<xml><FromUserName>o</FromUserName></xml>")
    assert (await plain.sim.post_raw(params, payload.encode()))[0] == 400
    safe = await make_rig()
    # Inside a correctly signed and encrypted envelope...
    params, body = safe.sim.prepare(payload)
    assert (await safe.sim.post_raw(params, body))[0] == 400
    # ...and as the envelope itself.
    assert (await safe.sim.post_raw(params, payload.encode()))[0] == 400
    assert plain.stored_nothing() and safe.stored_nothing()


async def test_bodies_over_one_megabyte_are_413(rig: Rig) -> None:
    params, _ = rig.sim.prepare("<xml/>")
    big = b"<xml>" + b"x" * (1024 * 1024) + b"</xml>"
    assert (await rig.sim.post_raw(params, big))[0] == 413

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    async with rig.sim._http().post(rig.sim.url, params=params, data=chunked()) as response:
        assert response.status == 413
    assert rig.stored_nothing()


async def test_flooding_driver_is_slowed_while_others_are_not(rig: Rig) -> None:
    flooder, other = new_openid(), new_openid()
    answers = [await rig.sim.say(rig.sim.text(flooder, "帮助")) for _ in range(30)]
    too_fast = text("common.too_fast")
    assert answers.count(too_fast) == 1  # told once, then quietly dropped
    assert answers.index(too_fast) <= 29 and answers[-1] is None
    assert await rig.sim.say(rig.sim.text(other, "帮助")) == text("common.help")
    dispatched = count(rig.engine, ProcessedMessage)
    assert dispatched == 1 + answers.count(text("common.help"))
    assert answers.count(text("common.help")) < 30


def test_token_bucket_slows_thirty_in_ten_seconds_but_not_a_typist() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    verdicts = []
    for _ in range(30):  # 30 messages spread evenly over 10 seconds
        verdicts.append(limiter.check("flooder"))
        now[0] += 10 / 30
    assert "warn" in verdicts and verdicts.count("warn") == 1
    typist = []
    for _ in range(120):  # one message a second for two minutes
        typist.append(limiter.check("typist"))
        now[0] += 1.0
    assert set(typist) == {"ok"}


def test_long_texts_are_cut_within_the_platform_limit() -> None:
    reply = Reply(
        text="请选择：", choices=(Choice("实名", "real_name"), Choice("匿名", "anonymous"))
    )
    assert render_text([reply, Reply(text="好")]) == "请选择：\n1. 实名\n2. 匿名\n\n好"
    long = "\n".join(["投诉内容" * 50] * 6 + ["一" * 1000])
    parts = split_text(long)
    assert all(len(p.encode()) <= 2048 for p in parts)
    assert "".join(parts).replace("\n", "") == long.replace("\n", "")


def test_passive_reply_xml_escapes_cdata_ends() -> None:
    xml = passive_text_xml(to_user="o1", from_user="gh", content="a]]><x/>b", create_time=1)
    assert xmltodict.parse(xml)["xml"]["Content"] == "a]]><x/>b"


# ------------------------------------------------------------------------- engine issues


async def test_photo_sent_while_the_description_is_asked_is_kept(rig: Rig) -> None:
    openid = new_openid()
    await rig.sim.say(rig.sim.text(openid, "投诉"))
    await rig.sim.say(rig.sim.text(openid, "1"))
    await rig.sim.say(rig.sim.image(openid, "IMG-1"))
    answer = await rig.sim.say(rig.sim.text(openid, "昨天下午三点被执法人员罚款两千元，不给开票"))
    assert answer is not None
    with Session(rig.engine) as session:
        data = session.exec(select(Conversation)).one().data
    assert [e["channel_file_id"] for e in data["attachments"]] == ["IMG-1"]


async def test_number_still_picks_after_a_photo(rig: Rig) -> None:
    openid = new_openid()
    await rig.sim.say(
        rig.sim.text(openid, "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票")
    )
    answer = await rig.sim.say(rig.sim.text(openid, "1"))
    assert answer is not None and "\n1. " in answer
    await rig.sim.say(rig.sim.image(openid, "IMG-1"))
    answer = await rig.sim.say(rig.sim.text(openid, "1"))
    assert answer is not None and not answer.startswith(text("intake.continue_hint"))
