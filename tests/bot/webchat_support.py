"""Helpers for the web chat tests: the client bundle, API calls, an intake driver, a PNG."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, FormData
from aiohttp.test_utils import TestClient
from sqlmodel import Session, select

from bot.services import Services
from storage.models import Ticket

SECRET = "test-secret-for-webchat-cookies-0123456789"


def make_png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid solid-colour PNG built with zlib and struct (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width  # filter byte 0, then RGB pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass
class Chat:
    """A running test client with the services behind it."""

    client: TestClient[Any, Any]
    services: Services

    @property
    def attachments_dir(self) -> Path:
        """Where uploads land."""
        return self.services.settings.attachments_dir


ChatFactory = Callable[..., Awaitable[Chat]]


TICKET_RE = re.compile(r"TS\d{8}-\d{4}")
COMPLAINT = "昨天在G4京港澳高速某治超站被罚款两千元不给票"
PLACE = "G4京港澳高速某治超站"
Replies = list[dict[str, Any]]


async def say(chat: Chat, **body: Any) -> Replies:
    """POST one message and return its replies (asserting a 200)."""
    response = await chat.client.post("/chat/api/message", json=body)
    assert response.status == 200, await response.text()
    replies: Replies = (await response.json())["replies"]
    assert replies, "every message gets an answer"
    return replies


async def upload(
    chat: Chat, data: bytes, *, name: str = "photo.png", **fields: str
) -> ClientResponse:
    """POST one file to the upload endpoint; returns the raw response."""
    form = FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=name, content_type="image/png")
    return await chat.client.post("/chat/api/upload", data=form)


def offered(replies: Replies) -> list[str]:
    """The choice values offered by a batch of replies."""
    return [c["value"] for r in replies for c in r["choices"]]


def texts(replies: Replies) -> list[str]:
    """The reply texts of a batch."""
    return [r["text"] for r in replies]


async def drive_to_summary(chat: Chat, replies: Replies, answers: dict[str, str]) -> Replies:
    """Answer whatever intake asks (anonymously, skipping what may be skipped) until the summary.

    `answers` maps a question's catalog text to what to type instead of pressing a choice.
    """
    for _ in range(30):
        values = offered(replies)
        last = replies[-1]["text"]
        if "submit" in values:
            return replies
        if last in answers:
            replies = await say(chat, text=answers[last])
        elif "anonymous" in values:
            replies = await say(chat, choice="anonymous")
        elif {"yes", "other"} <= set(values):
            replies = await say(chat, choice="yes")
        elif "profit_driven" in values:
            replies = await say(chat, choice="profit_driven")
        elif {"yes", "no", "unknown"} <= set(values):
            replies = await say(chat, choice="no")
        elif "done" in values:
            replies = await say(chat, choice="done")
        elif "skip" in values:
            replies = await say(chat, choice="skip")
        else:  # the one question that cannot be skipped anonymously is the place
            replies = await say(chat, text=PLACE)
    raise AssertionError(f"intake did not reach the summary: {texts(replies)}")


def tickets(chat: Chat) -> list[Ticket]:
    """Every ticket in the database."""
    with Session(chat.services.engine) as session:
        return list(session.exec(select(Ticket)).all())


def stored_files(chat: Chat) -> list[str]:
    """Every file under the attachments directory, partial uploads included."""
    root = chat.attachments_dir
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []
