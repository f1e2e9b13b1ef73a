"""Translating a Telegram `Update` into the channel-neutral `IncomingMessage`.

Only private chats are served: a complaint carries the driver's identity, phone number and
plate, which must not be typed into a group. Updates from groups and channels are ignored
(nothing stored, nothing answered); the bot is not meant to be added to groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import filters

from bot.attachments import clean_filename
from handlers.messages import IncomingAttachment, IncomingMessage, Location

CHANNEL = "telegram"
# Telegram allows A-Z, a-z, 0-9, _ and - in start payloads, up to 64 characters.
START_PAYLOAD_RE = re.compile(r"/start(?:@\w+)?\s+([A-Za-z0-9_-]{1,64})\s*", re.ASCII)

Kind = Literal["image", "video", "voice", "file"]


@dataclass(frozen=True)
class Inbound:
    """What an update asks of us."""

    action: Literal["dispatch", "unsupported", "ignore"]
    update_id: int
    chat_id: int | None = None
    message: IncomingMessage | None = None
    callback_query_id: str | None = None
    language: str | None = None


def message_key(update: Update) -> str:
    """The dedupe id of an update: its update_id plus the chat's message id.

    Telegram picks update ids at random again after a week without updates, so the id alone
    could one day repeat; a redelivered update carries the same pair.
    """
    message = update.effective_message
    return f"{update.update_id}:{message.message_id}" if message else str(update.update_id)


def _document_kind(mime: str) -> Kind:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "voice"
    return "file"


def attachments_of(message: Message) -> tuple[IncomingAttachment, ...]:
    """Photos (largest size), documents, voice, audio and video as platform file ids."""
    found: list[IncomingAttachment] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(
            IncomingAttachment(
                kind="image",
                mime="image/jpeg",  # Telegram re-encodes photos as JPEG
                size=largest.file_size or 0,
                channel_file_id=largest.file_id,
            )
        )
    if message.document:
        mime = message.document.mime_type or "application/octet-stream"
        found.append(
            IncomingAttachment(
                kind=_document_kind(mime),
                mime=mime,
                size=message.document.file_size or 0,
                channel_file_id=message.document.file_id,
                filename=clean_filename(message.document.file_name),
            )
        )
    for voice in (message.voice, message.audio):
        if voice:
            found.append(
                IncomingAttachment(
                    kind="voice",
                    mime=voice.mime_type or "audio/ogg",
                    size=voice.file_size or 0,
                    channel_file_id=voice.file_id,
                )
            )
    for video in (message.video, message.video_note):
        if video:
            found.append(
                IncomingAttachment(
                    kind="video",
                    mime=getattr(video, "mime_type", None) or "video/mp4",
                    size=video.file_size or 0,
                    channel_file_id=video.file_id,
                )
            )
    return tuple(found)


def location_of(message: Message) -> Location | None:
    """A shared location or venue."""
    if message.venue:
        venue = message.venue
        label = " ".join(part for part in (venue.title, venue.address) if part)
        return Location(venue.location.latitude, venue.location.longitude, label=label)
    if message.location:
        return Location(message.location.latitude, message.location.longitude)
    return None


def translate(update: Update, *, now: datetime) -> Inbound:
    """Decide what to do with an update and build its `IncomingMessage`."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return Inbound("ignore", update.update_id, callback_query_id=_query_id(update))
    user = update.effective_user
    language = user.language_code if user else None
    query = update.callback_query
    if query is not None:
        if not query.data:  # a game button or an expired inline keyboard: nothing to pick
            return Inbound("ignore", update.update_id, chat.id, callback_query_id=query.id)
        incoming = _incoming(update, chat.id, now, language, choice=query.data)
        return Inbound("dispatch", update.update_id, chat.id, incoming, query.id, language)
    message = update.message
    if message is None:
        # Edits, reactions, membership changes: not part of the conversation.
        return Inbound("ignore", update.update_id, chat.id)
    if filters.StatusUpdate.ALL.check_update(update):
        return Inbound("ignore", update.update_id, chat.id)
    text = message.text or message.caption or ""
    deep_link = None
    start = START_PAYLOAD_RE.fullmatch(text)
    if start:
        # "/start u-4301" from a QR code: the payload names a unit or station.
        deep_link, text = start.group(1), ""
    attachments = attachments_of(message)
    location = location_of(message)
    if not (text or deep_link or attachments or location):
        # Stickers, polls, dice, contacts, games, …: answered politely, not dispatched.
        incoming = _incoming(update, chat.id, now, language)
        return Inbound("unsupported", update.update_id, chat.id, incoming, language=language)
    incoming = _incoming(
        update,
        chat.id,
        now,
        language,
        text=text,
        attachments=attachments,
        location=location,
        deep_link=deep_link,
    )
    return Inbound("dispatch", update.update_id, chat.id, incoming, language=language)


def _incoming(
    update: Update, chat_id: int, now: datetime, language: str | None, **fields: Any
) -> IncomingMessage:
    return IncomingMessage(
        channel=CHANNEL,
        message_id=message_key(update),
        user_key=str(chat_id),
        received_at=now,
        language=language or "zh",
        **fields,
    )


def _query_id(update: Update) -> str | None:
    return update.callback_query.id if update.callback_query else None
