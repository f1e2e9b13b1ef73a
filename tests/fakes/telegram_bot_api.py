"""A stand-in for the Telegram Bot API server, and test users who talk to the bot through it.

`FakeBotAPI` is an aiohttp server on 127.0.0.1 answering what python-telegram-bot calls
(getMe, setWebhook, deleteWebhook, setMyCommands, getUpdates, sendMessage,
answerCallbackQuery, getFile and the file download path), with JSON, form-encoded and
multipart bodies. It behaves like Telegram where the service's guarantees depend on it:

- with a webhook set, queued updates are POSTed to it in order with the secret header and
  retried until answered 2xx; `getUpdates` is then refused with 409;
- without one, `getUpdates(offset)` confirms everything below `offset` and serves the rest
  (long poll, capped at one second), so an update not yet confirmed is served again.

Switches: `blocked` chats get 403 "bot was blocked by the user", `retry_after[chat]` 429s,
`hang_sends` records a message as delivered and then never answers (a send whose outcome
the sender cannot know), `on_answer_callback` runs a test hook before answering.

`TelegramUser` builds updates the way Telegram does for text, /start payloads, photos,
voice, stickers and locations, and presses inline buttons by their callback data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token_for-the-fake"
BOT_ID = 123456
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "投诉助手",
    "username": "complaint_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CONSTANT_RESULTS: dict[str, Any] = {"getMe": BOT_USER, "setMyCommands": True}
LONG_POLL_CAP_SECONDS = 1.0
# Form fields PTB sends JSON-encoded.
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "chat_id", "offset", "timeout"}


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sent:
    """A message the bot sent to a chat."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]
    raw: dict[str, Any]

    @property
    def values(self) -> list[str]:
        """The callback data of every button."""
        return [data for row in self.buttons for _label, data in row]


@dataclass
class FakeBotAPI:
    """The fake server; `base_url` goes into TELEGRAM_API_BASE_URL."""

    token: str = TOKEN
    port: int = field(default_factory=free_port)
    blocked: set[int] = field(default_factory=set)
    retry_after: dict[int, int] = field(default_factory=dict)
    retry_after_seconds: int = 1
    hang_sends: bool = False
    on_answer_callback: Callable[[], None] | None = None
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    webhook_attempts: int = 0
    served: set[int] = field(default_factory=set)  # update ids getUpdates handed out

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(700_000_001)
        # One wake-up per waiter kind: the long poll and the webhook pusher.
        self._for_poll = asyncio.Event()
        self._for_push = asyncio.Event()
        self._release_hang = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """The API base, as TELEGRAM_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        """Listen on the loopback port and start the webhook pusher."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._pusher = asyncio.create_task(self._push_loop())

    async def stop(self) -> None:
        """Stop serving."""
        self._release_hang.set()
        if self._pusher:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner:
            await self._runner.cleanup()

    # -- what tests do ---------------------------------------------------------------------

    def queue_update(self, body: dict[str, Any]) -> int:
        """Give the bot an update (pushed to the webhook or served by getUpdates)."""
        update_id = next(self._update_ids)
        self.pending.append({"update_id": update_id, **body})
        self._for_poll.set()
        self._for_push.set()
        return update_id

    def add_file(self, data: bytes, path: str) -> str:
        """Make a file downloadable; returns its file id."""
        file_id = f"FILE{len(self.files) + 1:04d}-{path.replace('/', '_')}"
        self.files[file_id] = (path, data)
        return file_id

    def messages(self, chat_id: int) -> list[Sent]:
        """What the bot sent to a chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def count(self, method: str) -> int:
        """How often a method was called."""
        return sum(1 for name, _ in self.calls if name == method)

    def release_hung_sends(self) -> None:
        """Let hung sendMessage calls answer."""
        self._release_hang.set()

    # -- the server ------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data: dict[str, Any] = await request.json()
            return data
        if request.content_type == "multipart/form-data":
            form: dict[str, Any] = {}
            async for part in await request.multipart():
                if isinstance(part, aiohttp.BodyPartReader) and part.name:
                    form[part.name] = (await part.read()).decode()
        else:
            form = dict(await request.post())
        for key in JSON_FIELDS & form.keys():
            with contextlib.suppress(ValueError, TypeError):
                form[key] = json.loads(form[key])
        return form

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request) if request.can_read_body else dict(request.query)
        self.calls.append((method, params))
        if method in CONSTANT_RESULTS:
            return _ok(CONSTANT_RESULTS[method])
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.Response = await handler(params)
        return response

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = params
        self._for_push.set()
        return _ok(True)

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = None
        if str(params.get("drop_pending_updates")).lower() == "true":
            self.pending.clear()
        return _ok(True)

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        if offset:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP_SECONDS)
        deadline = time.monotonic() + wait
        while not self.pending and time.monotonic() < deadline:
            self._for_poll.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._for_poll.wait(), deadline - time.monotonic())
        batch = self.pending[:100]
        self.served.update(u["update_id"] for u in batch)
        return _ok(batch)

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if self.retry_after.get(chat_id):
            self.retry_after[chat_id] -= 1
            wait = self.retry_after_seconds
            return _error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        markup = params.get("reply_markup") or {}
        buttons = [
            [(b["text"], b.get("callback_data", "")) for b in row]
            for row in markup.get("inline_keyboard", [])
        ]
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "司机"},
            "from": BOT_USER,
            "text": params["text"],
        }
        if markup:
            message["reply_markup"] = markup
        self.sent.append(Sent(chat_id, message["message_id"], params["text"], buttons, message))
        if self.hang_sends:
            # Delivered to the user, but the answer never comes back to the bot.
            await self._release_hang.wait()
        return _ok(message)

    async def _api_answerCallbackQuery(self, _params: dict[str, Any]) -> web.Response:
        if self.on_answer_callback is not None:
            self.on_answer_callback()
        return _ok(True)

    async def _api_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_size": len(data),
                "file_path": path,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, data in self.files.values():
            if path == request.match_info["path"]:
                return web.Response(body=data)
        return web.Response(status=404)

    async def _push_loop(self) -> None:
        """Deliver queued updates to the webhook in order, retrying like Telegram."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while True:
                if self.webhook is None or not self.pending:
                    self._for_push.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._for_push.wait(), 0.5)
                    continue
                update = self.pending[0]
                headers = {SECRET_HEADER: str(self.webhook.get("secret_token", ""))}
                self.webhook_attempts += 1
                try:
                    async with session.post(
                        str(self.webhook["url"]), json=update, headers=headers
                    ) as response:
                        delivered = 200 <= response.status < 300
                except (aiohttp.ClientError, TimeoutError):
                    delivered = False
                if delivered:
                    if self.pending and self.pending[0] is update:
                        self.pending.pop(0)
                else:
                    await asyncio.sleep(0.2)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


# JPEG magic and a little padding: enough for the service's type sniffing.
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


@dataclass
class TelegramUser:
    """A driver in a private chat with the bot."""

    api: FakeBotAPI
    chat_id: int
    first_name: str = "司机"
    language_code: str = "zh-hans"
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _user(self) -> dict[str, Any]:
        return {
            "id": self.chat_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }

    def message(self, **content: Any) -> dict[str, Any]:
        """A message update body from this user."""
        return {
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": self.chat_id, "type": "private", "first_name": self.first_name},
                "from": self._user(),
                **content,
            }
        }

    def text(self, text: str) -> dict[str, Any]:
        """A text message (slash commands get their entity, as Telegram adds it)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.message(**content)

    def send(self, text: str) -> int:
        """Type a text."""
        return self.api.queue_update(self.text(text))

    def photo(self, data: bytes = JPEG_BYTES, caption: str | None = None) -> dict[str, Any]:
        """A photo message (Telegram offers several sizes)."""
        file_id = self.api.add_file(data, f"photos/file_{len(self.api.files)}.jpg")
        small = {"file_id": f"{file_id}-s", "file_unique_id": "s", "width": 90, "height": 60}
        large = dict(
            file_id=file_id, file_unique_id="m", width=1280, height=853, file_size=len(data)
        )
        sizes = [small, large]
        extra = {"caption": caption} if caption else {}
        return self.message(photo=sizes, **extra)

    def sticker(self) -> dict[str, Any]:
        """A sticker message (not something the bot understands)."""
        sticker = dict(file_id="S1", file_unique_id="s1", type="regular", width=512, height=512)
        return self.message(sticker={**sticker, "is_animated": False, "is_video": False})

    def location(self, latitude: float, longitude: float) -> dict[str, Any]:
        """A shared location."""
        return self.message(location={"latitude": latitude, "longitude": longitude})

    def button(self, value: str) -> dict[str, Any]:
        """A callback query for the newest button with this callback data."""
        for sent in reversed(self.api.messages(self.chat_id)):
            if value in sent.values:
                query = {
                    "id": f"{self.chat_id}{next(self._message_ids):06d}",
                    "from": self._user(),
                    "message": sent.raw,
                    "chat_instance": f"ci{self.chat_id}",
                    "data": value,
                }
                return {"callback_query": query}
        raise AssertionError(f"no button {value!r} in chat {self.chat_id}")

    def press(self, value: str) -> int:
        """Press the newest button with this callback data."""
        return self.api.queue_update(self.button(value))
