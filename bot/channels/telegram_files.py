"""Downloading Telegram evidence files into our storage, in the background.

Messages carry only Telegram file ids; the conversation keeps those, and filing turns them
into `Attachment` rows. This job fetches each row's file through the Bot API (`getFile`,
then the file URL on the same server) and stores it by sha256 with `bot.attachments`.
Telegram keeps a bot's file ids valid, so fetching after the conversation is safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from telegram.error import TelegramError

from bot.attachments import UploadRejected, store_upload
from bot.channels.telegram_inbound import CHANNEL
from bot.channels.telegram_sender import TelegramSender
from bot.services import Services
from handlers.messages import IncomingAttachment
from storage.engine import transaction
from storage.models import Attachment

log = logging.getLogger(__name__)

BATCH = 20
CHUNK_BYTES = 64 * 1024


def _pending(engine: Engine, skip: set[int]) -> list[tuple[int, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Attachment.id, Attachment.channel_file_id)
            .where(
                Attachment.channel == CHANNEL,
                col(Attachment.storage_path).is_(None),
                col(Attachment.channel_file_id).is_not(None),
            )
            .order_by(col(Attachment.id))
            .limit(BATCH + len(skip))
        ).all()
    return [(i, f) for i, f in rows if i is not None and f and i not in skip][:BATCH]


def _record(engine: Engine, attachment_id: int, stored: IncomingAttachment) -> None:
    with transaction(engine) as session:
        session.execute(
            update(Attachment)
            .where(col(Attachment.id) == attachment_id)
            .values(
                sha256=stored.sha256,
                storage_path=stored.storage_path,
                mime=stored.mime,  # sniffed from the bytes, not what the client claimed
                size=stored.size,
            )
        )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


async def fetch_pending_files(services: Services) -> int:
    """Download Telegram attachments not yet stored; returns how many were stored."""
    sender = services.senders.get(CHANNEL)
    if not isinstance(sender, TelegramSender) or not sender.open:
        return 0
    settings = services.settings
    stored = 0
    for attachment_id, file_id in await asyncio.to_thread(
        _pending, services.engine, sender.unfetchable
    ):
        try:
            remote = await sender.bot.get_file(file_id)
            if remote.file_size and remote.file_size > settings.max_upload_bytes:
                raise UploadRejected("too_large")
            data = bytes(await remote.download_as_bytearray())
            kept = await store_upload(
                _chunks(data),
                root=settings.attachments_dir,
                max_bytes=settings.max_upload_bytes,
                channel_file_id=file_id,
            )
        except UploadRejected as exc:
            # Not retried by this process; the row keeps the file id for staff to follow up.
            sender.unfetchable.add(attachment_id)
            log.warning("telegram: attachment %d not stored (%s)", attachment_id, exc.reason)
            continue
        except TelegramError as exc:
            log.warning("telegram: attachment %d not fetched (%s)", attachment_id, exc)
            continue
        await asyncio.to_thread(_record, services.engine, attachment_id, kept)
        stored += 1
    if stored:
        log.info("telegram: stored %d attachments", stored)
    return stored
