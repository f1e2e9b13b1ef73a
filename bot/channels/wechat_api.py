"""The WeChat Official Account API, asynchronously: access token, messages, media, menu.

wechatpy's `WeChatClient` is synchronous and has no HTTP timeout by default, so the
service uses this small aiohttp client instead (PITFALLS.md). Errors are sorted by what
they mean for the outbox:

- `WeChatAPIError` (a `SendError`): the platform answered with an error code, so nothing was
  sent. 45015 (the 48-hour window closed), 43004 (unsubscribed), 40003 (bad OpenID) and
  malformed requests are permanent; 45047 (too many messages), -1 (busy) and the rest are
  retried later. 40001 / 40014 / 42001 (token invalid or expired) refresh the token once.
- `WeChatUnavailable` (a `SendError`): the request never left (connection refused, DNS,
  connect timeout), or the platform answered 5xx.
- `WeChatOutcomeUnknown` (not a `SendError`): the request went out and no answer came
  back; the outbox flags the row for review instead of sending it twice.

One process owns one token (fetched once, cached until shortly before it expires, behind an
asyncio lock). Replicas fetching their own tokens would invalidate each other's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import aiohttp

from bot.outbox import SendError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com/cgi-bin/"
TOKEN_INVALID = frozenset({40001, 40014, 42001})
PERMANENT = frozenset(
    {
        40003,  # invalid OpenID
        40008,  # invalid message type
        40037,  # invalid template id
        43004,  # the user unsubscribed
        43101,  # the user refused template messages
        44002,  # empty body
        45002,  # content too long
        45015,  # outside the 48-hour customer-service window
        47001,  # malformed JSON
        48001,  # API not authorised for this account
    }
)
# Refresh a little early: a token that expires in flight costs a retry.
TOKEN_MARGIN_SECONDS = 300
CHUNK_BYTES = 64 * 1024


class WeChatAPIError(SendError):
    """The platform refused a call with an error code; nothing was sent."""

    def __init__(self, errcode: int, errmsg: str, *, call: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg[:200]
        super().__init__(
            f"WeChat {call}: errcode {errcode} ({self.errmsg})", permanent=errcode in PERMANENT
        )


class WeChatUnavailable(SendError):
    """The platform could not be reached, or failed before handling the call."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class WeChatOutcomeUnknown(Exception):
    """A call went out and no answer came back: it may or may not have taken effect."""


def api_url(base_url: str, path: str) -> str:
    """`path` under the configured base URL (with or without its trailing slash)."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


class WeChatAPI:
    """An async client for the few Official Account endpoints the service calls."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str | None,
        base_url: str = DEFAULT_BASE_URL,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url or DEFAULT_BASE_URL
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0

    # -- plumbing ------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop that will also close it.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "complaintbot"}
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        body: dict[str, Any] | None,
        call: str,
    ) -> dict[str, Any]:
        """One HTTP call returning the JSON answer; errors sorted as the module says."""
        # ensure_ascii=False: the platform shows \\u escapes literally in menus and messages.
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"} if data else None
        try:
            async with self._http().request(
                method, api_url(self.base_url, path), params=params, data=data, headers=headers
            ) as response:
                if response.status >= 500:
                    raise WeChatUnavailable(f"WeChat {call}: HTTP {response.status}")
                raw = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing left this host: safe to try again later.
            raise WeChatUnavailable(
                f"WeChat {call}: cannot connect ({type(exc).__name__})"
            ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WeChatOutcomeUnknown(f"WeChat {call}: no answer ({type(exc).__name__})") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise WeChatOutcomeUnknown(f"WeChat {call}: unreadable answer") from None
        if not isinstance(answer, dict):
            raise WeChatOutcomeUnknown(f"WeChat {call}: unexpected answer")
        return answer

    @staticmethod
    def _check(answer: dict[str, Any], call: str) -> dict[str, Any]:
        errcode = answer.get("errcode", 0)
        if isinstance(errcode, int) and errcode != 0:
            raise WeChatAPIError(errcode, str(answer.get("errmsg", "")), call=call)
        return answer

    # -- access token --------------------------------------------------------------------

    async def access_token(self, *, rejected: str | None = None) -> str:
        """The cached token, fetched when missing, expiring, or equal to `rejected`."""
        async with self._token_lock:
            fresh = self._token is not None and self._clock() < self._token_expires
            if fresh and self._token != rejected:
                assert self._token is not None
                return self._token
            if not self._secret:
                raise WeChatUnavailable("WeChat token: WECHAT_APP_SECRET is not set")
            try:
                answer = await self._request(
                    "GET",
                    "token",
                    params={
                        "grant_type": "client_credential",
                        "appid": self.app_id,
                        "secret": self._secret,
                    },
                    body=None,
                    call="token",
                )
            except WeChatOutcomeUnknown as exc:
                # Fetching a token sends nothing to anyone: always safe to retry.
                raise WeChatUnavailable(str(exc)) from None
            self._check(answer, "token")
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeChatUnavailable("WeChat token: answer without access_token")
            expires_in = int(answer.get("expires_in", 7200))
            self._token = token
            self._token_expires = self._clock() + max(60, expires_in - TOKEN_MARGIN_SECONDS)
            self.token_fetches += 1
            log.info("wechat: access token fetched (valid %d s)", expires_in)
            return token

    async def call(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, call: str = ""
    ) -> dict[str, Any]:
        """An authenticated call; an invalid or expired token is refreshed once."""
        call = call or path
        token = await self.access_token()
        for attempt in (1, 2):
            answer = await self._request(
                method, path, params={"access_token": token}, body=body, call=call
            )
            if attempt == 1 and answer.get("errcode") in TOKEN_INVALID:
                log.info(
                    "wechat %s: token refused (errcode %s), refreshing", call, answer["errcode"]
                )
                token = await self.access_token(rejected=token)
                continue
            return self._check(answer, call)
        raise AssertionError("unreachable")

    # -- endpoints -----------------------------------------------------------------------

    async def send_text(self, openid: str, content: str) -> None:
        """A customer-service text message (within 48 hours of the user's last message)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        await self.call("POST", "message/custom/send", body=body, call="custom/send")

    async def send_template(self, openid: str, template: dict[str, Any]) -> None:
        """A template message: `template` holds template_id, data and optionally url."""
        body = {**template, "touser": openid}
        await self.call("POST", "message/template/send", body=body, call="template/send")

    async def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        """Install the account's custom menu."""
        await self.call("POST", "menu/create", body={"button": buttons}, call="menu/create")

    async def iter_media(self, media_id: str, *, max_bytes: int) -> AsyncGenerator[bytes, None]:
        """The bytes of a temporary media file (3 days on the platform), streamed.

        Use with `contextlib.aclosing`. Errors are `SendError`s (nothing is sent by a
        download, so every failure may be retried) or `ValueError` when over `max_bytes`.
        """
        token = await self.access_token()
        url = api_url(self.base_url, "media/get")
        params = {"access_token": token, "media_id": media_id}
        try:
            async with self._http().get(url, params=params) as response:
                if response.status >= 400:
                    raise WeChatUnavailable(f"WeChat media/get: HTTP {response.status}")
                if response.content_type in ("application/json", "text/plain"):
                    answer = json.loads(await response.content.read(64 * 1024))
                    self._check(answer, "media/get")
                    video_url = answer.get("video_url")
                    if not isinstance(video_url, str) or not video_url.startswith("http"):
                        raise WeChatUnavailable("WeChat media/get: no file in the answer")
                    # Videos come as a download link on the platform's CDN.
                    async with self._http().get(video_url) as video:
                        async for chunk in _limited(video, max_bytes):
                            yield chunk
                    return
                async for chunk in _limited(response, max_bytes):
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise WeChatUnavailable(f"WeChat media/get: {type(exc).__name__}") from None


async def _limited(response: aiohttp.ClientResponse, max_bytes: int) -> AsyncIterator[bytes]:
    if response.content_length is not None and response.content_length > max_bytes:
        raise ValueError("media larger than the upload limit")
    total = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:
            raise ValueError("media larger than the upload limit")
        yield chunk
