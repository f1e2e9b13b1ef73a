"""The web chat JSON API: sessions, a whole complaint, retries, uploads and bad input."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import FormData
from sqlmodel import Session, select
from webchat_support import (
    COMPLAINT,
    SECRET,
    TICKET_RE,
    Chat,
    ChatFactory,
    drive_to_summary,
    make_png,
    offered,
    say,
    stored_files,
    texts,
    tickets,
    upload,
)

from bot.channels.webchat import COOKIE_NAME, MAX_TEXT_CHARS, cookie_value
from handlers.catalog import text
from storage.models import Attachment, Conversation

# -- sessions --------------------------------------------------------------------------------


async def test_first_call_sets_an_httponly_session_cookie(chat: Chat) -> None:
    response = await chat.client.post("/chat/api/message", json={"text": "投诉"})
    assert response.status == 200
    morsel = response.cookies[COOKIE_NAME]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["max-age"] == str(30 * 24 * 3600)
    assert morsel["path"] == "/chat"
    assert not morsel["secure"]  # plain http and no https public address
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["replies"][0] == {"text": text("intake.start"), "choices": []}
    # The cookie carries the conversation: the privacy choice is understood next time.
    replies = await say(chat, choice="anonymous")
    assert texts(replies) == [text("intake.ask_description")]


async def test_cookie_is_secure_behind_an_https_public_address(make_chat: ChatFactory) -> None:
    chat = await make_chat(public_base_url="https://complaints.example.cn")
    response = await chat.client.post("/chat/api/message", json={"text": "你好"})
    assert response.cookies[COOKIE_NAME]["secure"] is True


@pytest.mark.parametrize(
    "forged",
    ["garbage", "A" * 24 + ".1700000000." + "B" * 43, "", "x.y.z", "\u00e9t\u00e9"],
)
async def test_forged_cookie_starts_a_new_session_and_says_so(chat: Chat, forged: str) -> None:
    chat.client.session.cookie_jar.clear()
    response = await chat.client.post(
        "/chat/api/message", json={"text": "投诉"}, headers={"Cookie": f"{COOKIE_NAME}={forged}"}
    )
    assert response.status == 200
    replies = (await response.json())["replies"]
    if forged:
        assert replies[0]["text"] == text("web.session_new")
        replies = replies[1:]
    # Nothing else is lost: the message itself was handled as usual.
    assert texts(replies)[0] == text("intake.start")
    assert response.cookies[COOKIE_NAME].value != forged


async def test_tampered_and_expired_cookies_are_replaced(make_chat: ChatFactory) -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    chat = await make_chat(clock=lambda: now)
    await say(chat, text="投诉")
    valid = chat.client.session.cookie_jar.filter_cookies(chat.client.make_url("/chat"))
    session_id = valid[COOKIE_NAME].value.split(".")[0]
    old = int((now - timedelta(days=31)).timestamp())
    bad = {
        "tampered": valid[COOKIE_NAME].value[:-1]
        + ("A" if valid[COOKIE_NAME].value[-1] != "A" else "B"),
        "expired": cookie_value(session_id, old, SECRET),
        "other key": cookie_value(session_id, int(now.timestamp()), "another-secret"),
    }
    for value in bad.values():
        chat.client.session.cookie_jar.clear()
        response = await chat.client.post(
            "/chat/api/message",
            json={"choice": "anonymous"},
            headers={"Cookie": f"{COOKIE_NAME}={value}"},
        )
        replies = (await response.json())["replies"]
        assert response.status == 200
        assert replies[0]["text"] == text("web.session_new")
        assert not response.cookies[COOKIE_NAME].value.startswith(session_id)
    chat.client.session.cookie_jar.clear()
    fresh = cookie_value(session_id, int(now.timestamp()) - 3600, SECRET)
    response = await chat.client.post(
        "/chat/api/message",
        json={"choice": "anonymous"},
        headers={"Cookie": f"{COOKIE_NAME}={fresh}"},
    )
    assert texts((await response.json())["replies"]) == [text("intake.ask_description")]


# -- a whole complaint -----------------------------------------------------------------------


async def test_a_complaint_through_the_json_api_ends_with_a_ticket_number(chat: Chat) -> None:
    replies = await say(chat, text=COMPLAINT, client_id="m-1")
    assert "anonymous" in offered(replies)
    replies = await drive_to_summary(chat, replies, {})
    replies = await say(chat, choice="submit")
    found = TICKET_RE.findall(" ".join(texts(replies)))
    assert found, texts(replies)
    [ticket] = tickets(chat)
    assert ticket.ticket_no == found[0]
    assert ticket.channel == "web"
    assert ticket.anonymity == "anonymous"


async def test_a_retried_post_gets_the_same_answer_and_files_once(chat: Chat) -> None:
    await drive_to_summary(chat, await say(chat, text=COMPLAINT), {})
    first = await chat.client.post(
        "/chat/api/message", json={"choice": "submit", "client_id": "submit-1"}
    )
    again = await chat.client.post(
        "/chat/api/message", json={"choice": "submit", "client_id": "submit-1"}
    )
    assert first.status == again.status == 200
    assert await first.json() == await again.json()
    assert TICKET_RE.search(await again.text())
    assert len(tickets(chat)) == 1


async def test_src_deep_link_on_the_first_call_starts_intake(chat: Chat) -> None:
    replies = await say(chat, text="", src="st-unknown-station")
    assert texts(replies)[0] == text("intake.start")
    assert "anonymous" in offered(replies)


async def test_an_invalid_src_is_ignored(chat: Chat) -> None:
    replies = await say(chat, text="", src="<script>")
    assert texts(replies) == [text("common.empty")]


# -- bad input -------------------------------------------------------------------------------


async def test_empty_text_gets_a_clear_answer(chat: Chat) -> None:
    assert texts(await say(chat, text="")) == [text("common.empty")]
    assert texts(await say(chat)) == [text("common.empty")]
    assert texts(await say(chat, text="  \n\t ")) == [text("common.empty")]


async def test_emoji_only_text_gets_a_clear_answer(chat: Chat) -> None:
    replies = await say(chat, text="😀😀😀")
    assert all(r["text"].strip() for r in replies)
    await say(chat, text="投诉")
    await say(chat, choice="anonymous")
    assert texts(await say(chat, text="🚛🚛🚛🚛🚛")) == [text("intake.description_too_short")]


async def test_control_characters_are_stripped(chat: Chat) -> None:
    replies = await say(chat, text="\x00投\x07诉\x1b")
    assert texts(replies)[0] == text("intake.start")


async def test_a_10000_character_description_is_cut_with_a_notice(chat: Chat) -> None:
    await say(chat, text="投诉")
    await say(chat, choice="anonymous")
    long_text = COMPLAINT + "，" + "对方态度很差" * 1700
    assert len(long_text) > 10_000
    replies = await say(chat, text=long_text)
    limit = chat.services.settings.max_description_chars
    assert text("intake.description_cut", limit=limit) in texts(replies)
    with Session(chat.services.engine) as session:
        conversation = session.exec(select(Conversation)).one()
    assert len(conversation.data["description"]) == limit


async def test_html_and_script_are_stored_verbatim_and_returned_as_plain_text(chat: Chat) -> None:
    markup = "<script>alert(1)</script>被罚款两千元不给票 <b>&amp;</b>"
    answers = {
        text("intake.ask_place"): "<b>G4某治超站</b>",
        text("intake.ask_accused"): "<i>某执法大队</i>",
    }
    replies = await drive_to_summary(chat, await say(chat, text=markup), answers)
    echoed = " ".join(texts(replies))
    assert "<b>G4某治超站</b>" in echoed or "<i>某执法大队</i>" in echoed
    assert "&lt;" not in echoed  # the JSON is data: the page escapes when it shows it
    await say(chat, choice="submit")
    [ticket] = tickets(chat)
    assert ticket.description.startswith("<script>alert(1)</script>")
    assert "<b>&amp;</b>" in ticket.description


async def test_malformed_json_is_a_400(chat: Chat) -> None:
    for body in (b"{", b"not json", b"\xff\xfe", b"[" * 100_000):
        response = await chat.client.post(
            "/chat/api/message", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        answer = await response.json()
        assert answer["field"] == "body"
        assert answer["message"] == text("web.error_bad_request")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": 5}, "text"),
        ({"text": ["a"]}, "text"),
        ({"choice": {"v": 1}}, "choice"),
        ({"choice": "x" * 101}, "choice"),
        ({"text": "hi", "src": 7}, "src"),
        ({"text": "hi", "client_id": 12}, "client_id"),
        ({"text": "hi", "client_id": "has space"}, "client_id"),
        ({"text": "hi", "client_id": "x" * 65}, "client_id"),
        (["text"], "body"),
        ("text", "body"),
    ],
)
async def test_wrong_types_are_a_400_naming_the_field(chat: Chat, body: Any, field: str) -> None:
    response = await chat.client.post("/chat/api/message", json=body)
    assert response.status == 400
    assert (await response.json())["field"] == field


async def test_too_long_text_and_oversize_bodies_are_a_json_413(chat: Chat) -> None:
    response = await chat.client.post(
        "/chat/api/message", json={"text": "长" * (MAX_TEXT_CHARS + 1)}
    )
    assert response.status == 413
    answer = await response.json()
    assert answer["field"] == "text"
    assert answer["message"] == text("web.error_text_too_long", limit=MAX_TEXT_CHARS)
    response = await chat.client.post(
        "/chat/api/message", data=io.BytesIO(b'{"text": "' + b"a" * (1024 * 1024) + b'"}')
    )
    assert response.status == 413
    assert response.content_type == "application/json"
    assert (await response.json())["error"] == "body_too_large"
    # Nothing was lost: the conversation still answers normally.
    assert texts(await say(chat, text="投诉"))[0] == text("intake.start")


# -- uploads ---------------------------------------------------------------------------------


async def test_an_uploaded_png_is_stored_by_hash_and_linked_as_evidence(chat: Chat) -> None:
    png = make_png()
    digest = hashlib.sha256(png).hexdigest()
    response = await upload(chat, png, name="现场照片.png", client_id="up-1")
    assert response.status == 200, await response.text()
    replies = (await response.json())["replies"]
    assert text("intake.evidence_saved", count=1, kind=text("evidence_kind.image")) in texts(
        replies
    )
    stored = chat.attachments_dir / digest[:2] / digest
    assert stored.read_bytes() == png
    assert stored_files(chat) == [str(stored)]  # no partial file left in tmp/
    again = await upload(
        chat, png, name="现场照片.png", client_id="up-1"
    )  # a retried upload is the same message
    assert await again.json() == await response.json()

    replies = await drive_to_summary(chat, replies, {text("intake.ask_description"): COMPLAINT})
    assert "证据：1个" in " ".join(texts(replies))
    await say(chat, choice="submit")
    [ticket] = tickets(chat)
    with Session(chat.services.engine) as session:
        [attachment] = session.exec(select(Attachment)).all()
    assert attachment.ticket_id == ticket.id
    assert (attachment.sha256, attachment.kind, attachment.mime) == (digest, "image", "image/png")
    assert attachment.size == len(png)
    assert attachment.storage_path == f"{digest[:2]}/{digest}"
    assert attachment.filename == "现场照片.png"


@pytest.mark.parametrize("size", [10_000, 200_000])
async def test_an_upload_over_the_limit_is_a_413_and_leaves_no_file(
    make_chat: ChatFactory, size: int
) -> None:
    chat = await make_chat(max_upload_bytes=4096)
    await say(chat, text="投诉")
    big = make_png() + b"\x00" * size
    response = await upload(chat, big)
    assert response.status == 413
    answer = await response.json()
    assert answer["error"] == "upload_too_large"
    assert answer["message"] == text("intake.evidence_too_large", limit_mb=1)
    assert stored_files(chat) == []
    # The intake waiting for the privacy choice is still there.
    assert texts(await say(chat, choice="anonymous")) == [text("intake.ask_description")]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 4, "setup.exe"),
        (b"<html><script>alert(1)</script></html>", "photo.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image.svg"),
        (b"just some text pretending to be a photo", "photo.jpg"),
    ],
)
async def test_a_forbidden_type_is_a_415_and_stores_nothing(
    chat: Chat, data: bytes, name: str
) -> None:
    await say(chat, text="投诉")
    response = await upload(chat, data, name=name)
    assert response.status == 415
    answer = await response.json()
    assert (answer["error"], answer["field"]) == ("unsupported_type", "file")
    assert answer["message"] == text("intake.evidence_bad_type")
    assert stored_files(chat) == []
    assert texts(await say(chat, choice="anonymous")) == [text("intake.ask_description")]


async def test_an_empty_or_missing_file_is_a_400(chat: Chat) -> None:
    response = await upload(chat, b"")
    assert response.status == 400
    assert (await response.json())["message"] == text("web.upload_empty")
    form = FormData()
    form.add_field("client_id", "abc")
    response = await chat.client.post("/chat/api/upload", data=form)
    assert response.status == 400
    response = await chat.client.post("/chat/api/upload", json={"text": "no"})
    assert response.status == 400
    assert stored_files(chat) == []


# -- the page --------------------------------------------------------------------------------


async def test_the_page_is_served_with_src_and_no_outside_resources(chat: Chat) -> None:
    response = await chat.client.get("/chat?src=u-TEST01")
    assert response.status == 200
    html = await response.text()
    assert 'data-src="u-TEST01"' in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "http://" not in html and "https://" not in html
    assert text("web.privacy_note") in html
    bad = await chat.client.get("/chat", params={"src": '"><script>alert(1)</script>'})
    assert 'data-src=""' in await bad.text()
    for asset in ("chat.js", "chat.css"):
        assert (await chat.client.get(f"/chat/static/{asset}")).status == 200


async def test_root_redirects_to_the_chat(chat: Chat) -> None:
    response = await chat.client.get("/?src=u-TEST01", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/chat?src=u-TEST01"


def test_voice_and_webm_are_recognised_by_their_magic_bytes() -> None:
    from bot.attachments import sniff

    assert sniff(b"OggS\x00\x02" + b"\x00" * 10) == ("audio/ogg", "voice")
    assert sniff(b"\x1a\x45\xdf\xa3" + b"\x00" * 12) == ("video/webm", "video")
    assert sniff(b"MZ\x90\x00" + b"\x00" * 12) is None  # a Windows executable stays refused
