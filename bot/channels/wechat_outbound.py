"""What goes out to WeChat later: outbox payloads as messages, and evidence downloads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.attachments import UploadRejected, store_upload
from bot.channels.wechat_api import WeChatAPI, WeChatOutcomeUnknown
from bot.channels.wechat_render import render_text, split_text
from bot.dispatcher import replies_from_json
from bot.outbox import SendError
from handlers.messages import IncomingAttachment
from storage.engine import transaction
from storage.models import Attachment

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Temporary media stay on the platform for three days; older ids cannot be fetched.
MEDIA_LIFETIME = timedelta(days=3)
MEDIA_BATCH = 20
MEDIA_ATTEMPTS = 3


class WeChatSender:
    """The outbox sender for WeChat: replies as one customer-service text, or a template."""

    def __init__(self, api: WeChatAPI) -> None:
        self.api = api
        # Media ids that failed in this process, with their attempt counts (see below).
        self.media_failures: dict[int, int] = {}

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """Send one outbox payload: {"replies": [...]} or {"template": {...}}."""
        if isinstance(payload.get("template"), dict):
            await self.api.send_template(recipient, payload["template"])
            return
        replies = payload.get("replies")
        if not isinstance(replies, list):
            raise SendError("wechat: payload has neither replies nor template", permanent=True)
        parts = split_text(render_text(replies_from_json(replies)))
        for index, part in enumerate(parts):
            try:
                await self.api.send_text(recipient, part)
            except SendError as exc:
                if index == 0:
                    raise
                # Earlier parts went out: a retry would repeat them, so let staff decide.
                raise WeChatOutcomeUnknown(f"part {index + 1}/{len(parts)} failed: {exc}") from None


async def fetch_pending_media(services: Services) -> int:
    """Download WeChat evidence not stored yet (the `wechat_media` job); returns how many."""
    sender = services.senders.get("wechat")
    if not isinstance(sender, WeChatSender):
        return 0
    settings = services.settings
    since = services.clock() - MEDIA_LIFETIME

    def pending() -> list[tuple[int, str]]:
        with transaction(services.engine) as session:
            rows = session.exec(
                select(Attachment.id, Attachment.channel_file_id)
                .where(
                    Attachment.channel == "wechat",
                    col(Attachment.storage_path).is_(None),
                    col(Attachment.channel_file_id).is_not(None),
                    col(Attachment.created_at) >= since,
                )
                .order_by(col(Attachment.id))
                .limit(MEDIA_BATCH * 4)
            ).all()
        return [(int(i), str(m)) for i, m in rows if i is not None and m]

    stored = 0
    rows = await asyncio.to_thread(pending)
    # A file the platform refuses (expired, unsupported type) is tried a few times per
    # process only; the three-day window above ends the attempts for good.
    todo = [r for r in rows if sender.media_failures.get(r[0], 0) < MEDIA_ATTEMPTS]
    for attachment_id, media_id in todo[:MEDIA_BATCH]:
        try:
            async with contextlib.aclosing(
                sender.api.iter_media(media_id, max_bytes=settings.max_upload_bytes)
            ) as chunks:
                kept = await store_upload(
                    chunks,
                    root=settings.attachments_dir,
                    max_bytes=settings.max_upload_bytes,
                    channel_file_id=media_id,
                )
        except (SendError, UploadRejected, ValueError) as exc:
            sender.media_failures[attachment_id] = sender.media_failures.get(attachment_id, 0) + 1
            log.warning("wechat media for attachment %d not stored: %s", attachment_id, exc)
            continue

        await asyncio.to_thread(_save_media, services, attachment_id, kept)
        stored += 1
        log.info("wechat media for attachment %d stored as %s", attachment_id, kept.sha256)
    return stored


def _save_media(services: Services, attachment_id: int, kept: IncomingAttachment) -> None:
    with transaction(services.engine) as session:
        # Guarded: another replica may have stored the same file meanwhile.
        session.execute(
            update(Attachment)
            .where(col(Attachment.id) == attachment_id, col(Attachment.storage_path).is_(None))
            .values(
                sha256=kept.sha256, storage_path=kept.storage_path, mime=kept.mime, size=kept.size
            )
        )
