"""Turning a decrypted WeChat push into one channel-neutral `IncomingMessage` (or a verdict).

Mapping (what the conversation sees):

- text → text; link → title and URL as text; location → `Location`;
- voice → the platform's speech-to-text (`Recognition`) as text when present, and the voice
  itself as evidence; image / video / shortvideo → evidence. Files stay on WeChat until the
  `wechat_media` job downloads them (`IncomingAttachment.channel_file_id` holds the media id);
- subscribe → event "subscribe"; a parametric QR code (`qrscene_<scene>` on subscribe,
  `<scene>` on SCAN) becomes `deep_link`; unsubscribe → event "unsubscribe";
- menu CLICK → the command word of the button (投诉 / 查询 / 帮助);
- LOCATION (periodic location reports) → a `location_report` verdict: the adapter passes
  it on only while the conversation is waiting for the place, so reports never chatter;
- other message types → `unsupported` (a polite reply); other events → `ignore`.

Dedupe ids: `MsgId` for messages; events have none (wechatpy reports 0), so they use
`FromUserName:CreateTime:Event` (and EventKey), hashed so that message ids in logs never
carry an OpenID.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from xml.parsers.expat import ExpatError

from wechatpy import parse_message
from wechatpy.messages import BaseMessage

from bot.channels.wechat_crypto import CallbackRejected
from handlers.messages import IncomingAttachment, IncomingMessage, Location

CHANNEL = "wechat"
# The menu installed by `complaintbot wechat menu`: button key → the command word it means.
MENU_COMMANDS = {"COMPLAIN": "投诉", "STATUS": "查询", "HELP": "帮助"}
MENU_BUTTONS = (("投诉", "COMPLAIN"), ("查询", "STATUS"), ("帮助", "HELP"))
# QR scenes are at most 64 characters on the platform; anything else is not ours.
SCENE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
MAX_TEXT_CHARS = 20_000
VOICE_MIME = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}
# C0/C1 controls except tab and newline, and lone surrogates.
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

Verdict = Literal["message", "location_report", "unsupported", "ignore"]


@dataclass(frozen=True)
class Inbound:
    """A parsed push: who sent it, to which account, and what to do with it."""

    verdict: Verdict
    openid: str
    account: str  # our account's original id (ToUserName), the sender of a passive reply
    message: IncomingMessage


def parse_push(xml: str | bytes, *, received_at: datetime) -> Inbound:
    """Parse plaintext push XML with wechatpy; 400 when it is not a well-formed push."""
    try:
        parsed = parse_message(xml)
        return _translate(parsed, received_at)
    except CallbackRejected:
        raise
    except (ValueError, ExpatError, KeyError, TypeError, AttributeError, OverflowError):
        # ValueError also covers the entity declarations xmltodict >= 1.0 refuses.
        raise CallbackRejected(400, "malformed_push") from None


def _text(value: Any, *, required: bool = False) -> str:
    """A scalar XML field; nested elements where text belongs make the push malformed."""
    if value is None or value == "":
        if required:
            raise CallbackRejected(400, "missing_field")
        return ""
    if not isinstance(value, str):
        raise CallbackRejected(400, "malformed_field")
    return value


def clean_text(raw: str) -> str:
    """Typed text without control characters, newlines kept, bounded in length."""
    cleaned = CONTROL_RE.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return cleaned[:MAX_TEXT_CHARS]


def _coordinate(raw: Any, limit: float) -> float:
    value = float(_text(raw, required=True))
    if not math.isfinite(value) or abs(value) > limit:
        raise CallbackRejected(400, "bad_coordinate")
    return value


def scene_of(key: str) -> str | None:
    """The deep-link payload of a QR scene, or None when it is not a scene we could use."""
    scene = key.removeprefix("qrscene_")
    return scene if SCENE_RE.fullmatch(scene) else None


def event_message_id(openid: str, create_time: str, event: str, key: str = "") -> str:
    """The dedupe id of an event (which has no MsgId), without the OpenID in clear."""
    # The event key is part of it: two menu buttons pressed within one second are two events.
    digest = hashlib.sha256(f"{openid}:{create_time}:{event}:{key}".encode()).hexdigest()
    return f"ev-{digest[:40]}"


def _translate(msg: BaseMessage, received_at: datetime) -> Inbound:
    data: dict[str, Any] = msg._data  # the parsed fields; wechatpy's accessors convert lazily
    openid = _text(data.get("FromUserName"), required=True)
    account = _text(data.get("ToUserName"))
    create_time = _text(data.get("CreateTime"), required=True)
    if not create_time.isdigit():
        raise CallbackRejected(400, "bad_create_time")
    base: dict[str, Any] = {"channel": CHANNEL, "user_key": openid, "received_at": received_at}

    def inbound(verdict: Verdict, message_id: str, **fields: Any) -> Inbound:
        message = IncomingMessage(message_id=message_id, **base, **fields)
        return Inbound(verdict=verdict, openid=openid, account=account, message=message)

    if _text(data.get("MsgType"), required=True).lower() == "event":
        # wechatpy already renamed a QR subscribe to `subscribe_scan` and stripped the prefix.
        event = _text(data.get("Event")).lower()
        key = _text(data.get("EventKey"))
        message_id = event_message_id(openid, create_time, event, key)
        if event in ("subscribe", "subscribe_scan"):
            # wechatpy strips `qrscene_` and renames the event when a QR code was scanned.
            deep_link = scene_of(key) if key else None
            return inbound("message", message_id, event="subscribe", deep_link=deep_link)
        if event == "scan":
            return inbound("message", message_id, event="scan", deep_link=scene_of(key))
        if event == "unsubscribe":
            return inbound("message", message_id, event="unsubscribe")
        if event == "click" and key in MENU_COMMANDS:
            return inbound("message", message_id, event="menu_click", text=MENU_COMMANDS[key])
        if event == "location":
            location = Location(
                latitude=_coordinate(data.get("Latitude"), 90.0),
                longitude=_coordinate(data.get("Longitude"), 180.0),
            )
            return inbound("location_report", message_id, event="location", location=location)
        return inbound("ignore", message_id, event=event or "unknown")

    raw_id = _text(data.get("MsgId"), required=True)
    if not raw_id.isdigit() or len(raw_id) > 32:
        raise CallbackRejected(400, "bad_msg_id")
    message_id = raw_id
    kind = msg.type  # "unknown" for types wechatpy does not know
    if kind == "text":
        return inbound("message", message_id, text=clean_text(_text(data.get("Content"))))
    if kind == "voice":
        media_id = _text(data.get("MediaId"), required=True)
        voice_format = _text(data.get("Format")).lower()
        attachment = IncomingAttachment(
            kind="voice",
            mime=VOICE_MIME.get(voice_format, "application/octet-stream"),
            channel_file_id=media_id,
        )
        recognition = clean_text(_text(data.get("Recognition"))).strip()
        return inbound("message", message_id, text=recognition, attachments=(attachment,))
    if kind in ("image", "video", "shortvideo"):
        media_id = _text(data.get("MediaId"), required=True)
        attachment = IncomingAttachment(
            kind="image" if kind == "image" else "video",
            mime="image/jpeg" if kind == "image" else "video/mp4",
            channel_file_id=media_id,
        )
        return inbound("message", message_id, attachments=(attachment,))
    if kind == "location":
        location = Location(
            latitude=_coordinate(data.get("Location_X"), 90.0),
            longitude=_coordinate(data.get("Location_Y"), 180.0),
            label=clean_text(_text(data.get("Label")))[:200],
        )
        return inbound("message", message_id, location=location)
    if kind == "link":
        title = clean_text(_text(data.get("Title"))).strip()
        url = clean_text(_text(data.get("Url"))).strip()
        return inbound("message", message_id, text="\n".join(p for p in (title, url) if p))
    return inbound("unsupported", message_id)
