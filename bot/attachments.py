"""Evidence files: sniff the type, stream to disk under the content hash, refuse the rest.

Every channel that receives a file (web upload, Telegram/WeChat media download) hands its
bytes to `store_upload` as an async stream of chunks and gets an `IncomingAttachment` back.
Files live at `<attachments_dir>/<sha256[:2]>/<sha256>`; `storage_path` holds that path
relative to `attachments_dir`, so the directory can move without touching the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Literal

from handlers.messages import IncomingAttachment

log = logging.getLogger(__name__)

Kind = Literal["image", "video", "voice", "file"]
# Enough bytes to tell every accepted type apart (RIFF/ftyp brands sit at offsets 8-11).
SNIFF_BYTES = 16
MAX_FILENAME_CHARS = 255
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class UploadRejected(Exception):
    """A file we will not keep; `reason` is 'too_large', 'bad_type' or 'empty'."""

    def __init__(self, reason: Literal["too_large", "bad_type", "empty"]) -> None:
        super().__init__(reason)
        self.reason = reason


def sniff(head: bytes) -> tuple[str, Kind] | None:
    """(mime, kind) judged from a file's first bytes; None for anything we do not accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "image"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp", "image"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav", "voice"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4", "voice"
        if brand == b"qt  ":  # iPhone recordings are QuickTime .mov
            return "video/quicktime", "video"
        return "video/mp4", "video"
    if head.startswith(b"%PDF-"):
        return "application/pdf", "file"
    if head.startswith(b"#!AMR"):
        return "audio/amr", "voice"
    if head.startswith(b"ID3"):
        return "audio/mpeg", "voice"
    if head.startswith(b"OggS"):  # Telegram voice notes are Ogg/Opus
        return "audio/ogg", "voice"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska/WebM (Android screen recordings)
        return "video/webm", "video"
    # A bare MPEG audio frame: 11 sync bits, then a layer that is not the reserved 00.
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "audio/mpeg", "voice"
    return None


def clean_filename(name: str | None) -> str | None:
    """The client's file name without directories or control characters, for display only."""
    if not name:
        return None
    base = _UNSAFE_NAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:MAX_FILENAME_CHARS] or None


def relative_path(sha256: str) -> str:
    """Where a file with this hash lives, relative to the attachments directory."""
    return f"{sha256[:2]}/{sha256}"


async def store_upload(
    chunks: AsyncIterator[bytes],
    *,
    root: Path,
    max_bytes: int,
    filename: str | None = None,
    channel_file_id: str | None = None,
) -> IncomingAttachment:
    """Stream a file to `root` by content hash; raise `UploadRejected` leaving nothing behind."""
    head = b""
    pending: list[bytes] = []
    stream = aiter(chunks)
    # Hold the first bytes in memory: a refused type never touches the disk.
    async for chunk in stream:
        head += chunk
        pending.append(chunk)
        if len(head) >= SNIFF_BYTES or len(head) > max_bytes:
            break
    if not head:
        raise UploadRejected("empty")
    if len(head) > max_bytes:
        raise UploadRejected("too_large")
    sniffed = sniff(head[:SNIFF_BYTES])
    if sniffed is None:
        raise UploadRejected("bad_type")
    mime, kind = sniffed

    tmp_dir = root / "tmp"
    await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    partial = tmp_dir / f"{uuid.uuid4().hex}.part"
    digest = hashlib.sha256()
    size = 0
    handle: BinaryIO = await asyncio.to_thread(partial.open, "wb")
    try:
        try:
            for chunk in pending:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            async for chunk in stream:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRejected("too_large")
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        sha256 = digest.hexdigest()
        await asyncio.to_thread(_move_into_place, partial, root / relative_path(sha256))
    except BaseException:
        # Too large, a dropped connection or a cancelled request: no partial file stays.
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        raise
    log.info("stored attachment %s (%s, %d bytes)", sha256[:12], mime, size)
    return IncomingAttachment(
        kind=kind,
        mime=mime,
        size=size,
        channel_file_id=channel_file_id,
        sha256=sha256,
        filename=clean_filename(filename),
        storage_path=relative_path(sha256),
    )


def _move_into_place(partial: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # Same hash, same bytes: the evidence is already kept (a retry or a re-sent photo).
        partial.unlink()
    else:
        os.replace(partial, final)
