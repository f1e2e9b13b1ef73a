"""The web chat channel: a mobile page plus the JSON API of ARCHITECTURE.md ("External contract").

The adapter only translates a request into one `IncomingMessage` and the replies into JSON.
Limits (the description itself is kept up to MAX_DESCRIPTION_CHARS, cut with a notice):

- `POST /chat/api/message`: a JSON object of at most 1 MB with `text` (≤ 20,000 characters,
  else 413), or `choice` (≤ 100); optional `src` (≤ 64 of [A-Za-z0-9_-], else ignored) and
  `client_id` (≤ 64 of [A-Za-z0-9_.:-]; a retry with the same id gets the same answer).
- `POST /chat/api/upload`: multipart with one `file` (≤ MAX_UPLOAD_BYTES, a sniffed image,
  video, audio or PDF, else 413 / 415) and an optional `client_id` field before it.
- Errors: `{"error": code, "message": sentence to show, "field": name or null}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jinja2
from aiohttp import BodyPartReader, web

from bot.attachments import UploadRejected, store_upload
from bot.services import Services
from handlers.catalog import language_of, reply, text
from handlers.messages import IncomingAttachment, IncomingMessage, Reply

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

COOKIE_NAME = "cb_chat"
SESSION_TTL = timedelta(days=30)
# A cookie issued a little "in the future" is a clock step between replicas, not a forgery.
CLOCK_SKEW_SECONDS = 300
MAX_TEXT_CHARS = 20_000
MAX_CHOICE_CHARS = 100
# Room for the multipart boundaries and headers around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
UPLOAD_CHUNK_BYTES = 64 * 1024
MB = 1024 * 1024

SRC_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
COOKIE_RE = re.compile(r"([A-Za-z0-9_-]{24})\.(\d{1,12})\.([A-Za-z0-9_-]{43})", re.ASCII)
# C0/C1 controls except tab and newline, and lone surrogates (they cannot be stored as UTF-8).
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

# The page loads nothing from elsewhere and runs no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PAGE_TEXT_KEYS = (
    "title",
    "welcome",
    "privacy_note",
    "placeholder",
    "send",
    "attach",
    "uploading",
    "error_network",
    "error_server",
)


def _dumps(value: object) -> str:
    # Chinese as UTF-8 rather than \u escapes: half the bytes on a driver's mobile data.
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class ChatSession:
    """Whose conversation a request belongs to; `replaced` when a bad cookie was dropped."""

    session_id: str
    replaced: bool = False


class ApiError(Exception):
    """A request we answer with a JSON error instead of replies."""

    def __init__(
        self, status: int, error: str, key: str, field: str | None = None, **values: object
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.key = key
        self.field = field
        self.values = values

    def response(self, language: str) -> web.Response:
        """The JSON error answer, with a sentence the page shows as is."""
        body = {"error": self.error, "message": text(self.key, language, **self.values)}
        return web.json_response(
            {**body, "field": self.field},
            status=self.status,
            headers={"Cache-Control": "no-store"},
            dumps=_dumps,
        )


def _session_key(secret: str) -> bytes:
    # A key of its own, so a MAC made for another purpose (deep links) never passes here.
    return hashlib.sha256(b"complaintbot webchat session\x00" + secret.encode()).digest()


def _signature(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def cookie_value(session_id: str, issued: int, secret: str) -> str:
    """`<id>.<issued unix time>.<HMAC-SHA256>`: what the cb_chat cookie holds."""
    payload = f"{session_id}.{issued}"
    return f"{payload}.{_signature(_session_key(secret), payload)}"


def read_session(cookie: str | None, *, secret: str, now: int) -> ChatSession:
    """The session a cookie proves, or a new one (flagged when the cookie was bad or old)."""
    if not cookie:
        return ChatSession(secrets.token_urlsafe(18))
    match = COOKIE_RE.fullmatch(cookie)
    if match:
        session_id, issued, signature = match.group(1), int(match.group(2)), match.group(3)
        expected = _signature(_session_key(secret), f"{session_id}.{issued}")
        age = now - issued
        if hmac.compare_digest(expected, signature) and (
            -CLOCK_SKEW_SECONDS <= age <= SESSION_TTL.total_seconds()
        ):
            return ChatSession(session_id)
    return ChatSession(secrets.token_urlsafe(18), replaced=True)


def clean_text(raw: str) -> str:
    """Typed text without control characters; newlines and tabs stay."""
    return CONTROL_RE.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "wrong_type", "web.error_bad_request", field=name)
    return value


def _client_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not CLIENT_ID_RE.fullmatch(value):
        raise ApiError(400, "bad_value", "web.error_bad_request", field="client_id")
    return value


class WebChat:
    """The routes of the web chat, bound to the shared services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.asset_versions = {
            name: hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
            for name in ("chat.js", "chat.css")
        }

    # -- request pieces ------------------------------------------------------------------

    def _secret(self) -> str:
        return self.services.settings.secret_key.get_secret_value()

    def _session(self, request: web.Request) -> ChatSession:
        now = int(self.services.clock().timestamp())
        return read_session(request.cookies.get(COOKIE_NAME), secret=self._secret(), now=now)

    @staticmethod
    def _language(request: web.Request) -> str:
        header = request.headers.get("Accept-Language", "")
        return language_of(header.split(",", 1)[0].split(";", 1)[0].strip() or None)

    def _set_cookie(
        self, request: web.Request, response: web.Response, session: ChatSession
    ) -> None:
        # Re-issued on every answer: the 30 days count from the last message, not the first.
        issued = int(self.services.clock().timestamp())
        secure = request.secure or self.services.settings.public_base_url.startswith("https://")
        response.set_cookie(
            COOKIE_NAME,
            cookie_value(session.session_id, issued, self._secret()),
            max_age=int(SESSION_TTL.total_seconds()),
            path="/chat",
            httponly=True,
            samesite="Lax",
            secure=secure,
        )

    async def _dispatch(
        self,
        request: web.Request,
        session: ChatSession,
        *,
        client_id: str | None,
        text: str = "",
        choice: str | None = None,
        deep_link: str | None = None,
        attachments: tuple[IncomingAttachment, ...] = (),
    ) -> web.Response:
        language = self._language(request)
        message = IncomingMessage(
            channel="web",
            # Scoped by session: another browser reusing a client id must not get these replies.
            message_id=f"{session.session_id}:{client_id or uuid.uuid4().hex}",
            user_key=session.session_id,
            received_at=self.services.clock(),
            text=text,
            choice=choice,
            attachments=attachments,
            deep_link=deep_link,
            language=language,
        )
        outcome = await self.services.dispatcher.handle_async(message)
        replies: list[Reply] = list(outcome.replies)
        if session.replaced:
            replies.insert(0, reply("web.session_new", language))
        response = web.json_response(
            {"replies": [r.to_json() for r in replies]},
            headers={"Cache-Control": "no-store"},
            dumps=_dumps,
        )
        self._set_cookie(request, response, session)
        return response

    # -- routes --------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        """`/` leads to the chat page (keeping a ?src= deep link)."""
        raise web.HTTPFound(request.rel_url.with_path("/chat").with_query(request.rel_url.query))

    async def page(self, request: web.Request) -> web.Response:
        """The chat page; a valid `?src=` is handed to the script for its first message."""
        src = request.query.get("src", "")
        language = self._language(request)
        html = self.templates.get_template("chat.html").render(
            lang="en" if language == "en" else "zh-CN",
            t={key: text(f"web.{key}", language) for key in PAGE_TEXT_KEYS},
            src=src if SRC_RE.fullmatch(src) else "",
            max_upload_bytes=self.services.settings.max_upload_bytes,
            too_large=text("intake.evidence_too_large", language, limit_mb=self._limit_mb()),
            versions=self.asset_versions,
        )
        return web.Response(text=html, content_type="text/html", headers=PAGE_HEADERS)

    async def message(self, request: web.Request) -> web.Response:
        """`POST /chat/api/message`: one typed text or pressed choice."""
        try:
            return await self._message(request)
        except ApiError as error:
            return error.response(self._language(request))

    async def upload(self, request: web.Request) -> web.Response:
        """`POST /chat/api/upload`: one evidence file, as a message with no text."""
        try:
            return await self._upload(request)
        except ApiError as error:
            return error.response(self._language(request))

    # -- route bodies --------------------------------------------------------------------

    async def _message(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "body_too_large", "web.error_body_too_large") from None
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "malformed_json", "web.error_bad_request", field="body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "not_an_object", "web.error_bad_request", field="body")
        typed = _optional_str(body, "text") or ""
        choice = _optional_str(body, "choice")
        src = _optional_str(body, "src")
        client_id = _client_id(_optional_str(body, "client_id"))
        if len(typed) > MAX_TEXT_CHARS:
            raise ApiError(
                413, "text_too_long", "web.error_text_too_long", field="text", limit=MAX_TEXT_CHARS
            )
        if choice is not None and len(choice) > MAX_CHOICE_CHARS:
            raise ApiError(400, "bad_value", "web.error_bad_request", field="choice")
        session = self._session(request)
        return await self._dispatch(
            request,
            session,
            client_id=client_id,
            text=clean_text(typed),
            choice=clean_text(choice) if choice else None,
            deep_link=src if src and SRC_RE.fullmatch(src) else None,
        )

    def _limit_mb(self) -> int:
        return max(1, self.services.settings.max_upload_bytes // MB)

    async def _upload(self, request: web.Request) -> web.Response:
        settings = self.services.settings
        too_large = ApiError(
            413, "upload_too_large", "intake.evidence_too_large", "file", limit_mb=self._limit_mb()
        )
        length = request.content_length
        if length is not None and length > settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
            raise too_large
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            raise ApiError(400, "not_multipart", "web.error_bad_request", field="body") from None
        client_id: str | None = None
        attachment: IncomingAttachment | None = None
        try:
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise ApiError(400, "nested_multipart", "web.error_bad_request", field="body")
                if part.name == "client_id":
                    client_id = _client_id((await part.read()).decode("utf-8", "replace"))
                elif part.name == "file" and attachment is None:
                    attachment = await store_upload(
                        _chunks(part),
                        root=settings.attachments_dir,
                        max_bytes=settings.max_upload_bytes,
                        # aiohttp's client percent-encodes non-ASCII names; browsers send
                        # UTF-8 and escape only quotes and line breaks that way.
                        filename=unquote(part.filename) if part.filename else None,
                    )
                # Any other part is drained by `reader.next()` and ignored.
        except UploadRejected as rejected:
            if rejected.reason == "too_large":
                raise too_large from None
            if rejected.reason == "empty":
                raise ApiError(400, "empty_file", "web.upload_empty", field="file") from None
            raise ApiError(
                415, "unsupported_type", "intake.evidence_bad_type", field="file"
            ) from None
        except web.HTTPRequestEntityTooLarge:  # a text field over the 1 MB body limit
            raise ApiError(413, "body_too_large", "web.error_body_too_large") from None
        except (ValueError, RuntimeError):
            raise ApiError(400, "bad_multipart", "web.error_bad_request", field="body") from None
        if attachment is None:
            raise ApiError(400, "no_file", "web.upload_missing", field="file")
        session = self._session(request)
        return await self._dispatch(
            request, session, client_id=client_id, attachments=(attachment,)
        )


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(UPLOAD_CHUNK_BYTES):
        yield chunk


def setup_webchat(app: web.Application, services: Services) -> None:
    """Add the chat page, its JSON API, its static files and the `/` redirect."""
    chat = WebChat(services)
    app.router.add_get("/", chat.home)
    app.router.add_get("/chat", chat.page)
    app.router.add_post("/chat/api/message", chat.message)
    app.router.add_post("/chat/api/upload", chat.upload)
    app.router.add_static("/chat/static", STATIC_DIR)
