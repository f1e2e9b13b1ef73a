"""A fake of the WeChat Official Account HTTP API, on 127.0.0.1, recording every call.

Answers /cgi-bin/token, message/custom/send, message/template/send, media/get and
menu/create like the platform; `fail()` injects error codes (45015, 45047, ...), HTTP errors
and delays longer than the client's timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from wechat_platform import APP_ID, APP_SECRET, free_port

_template_ids = itertools.count(1_000_000)


@dataclass
class Call:
    """One request the fake API received."""

    endpoint: str
    query: dict[str, str]
    body: dict[str, Any] | None
    answer: dict[str, Any] | None = None


class FakeWeChatAPI:
    """The platform's HTTP API on 127.0.0.1, recording calls; inject faults with `fail`."""

    def __init__(self, *, app_id: str = APP_ID, app_secret: str = APP_SECRET) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.calls: list[Call] = []
        self.media: dict[str, tuple[str, bytes]] = {}
        self.valid_tokens: set[str] = set()
        self._faults: dict[str, list[dict[str, Any]]] = {}
        self._token_numbers = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """What WECHAT_API_BASE_URL should be."""
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    def fail(
        self,
        endpoint: str,
        *,
        errcode: int | None = None,
        status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `endpoint` answer an error code, a status or late."""
        for _ in range(times):
            self._faults.setdefault(endpoint, []).append(
                {"errcode": errcode, "status": status, "delay": delay}
            )

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (the next call gets 42001)."""
        self.valid_tokens.clear()

    def of(self, endpoint: str) -> list[Call]:
        """Calls to one endpoint."""
        return [c for c in self.calls if c.endpoint == endpoint]

    def sent_texts(self, openid: str | None = None) -> list[str]:
        """Customer-service texts accepted (answer errcode 0), optionally to one user."""
        return [
            c.body["text"]["content"]
            for c in self.of("message/custom/send")
            if c.answer == {"errcode": 0, "errmsg": "ok"}
            and c.body is not None
            and (openid is None or c.body.get("touser") == openid)
        ]

    # -- server --------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        for path in ("message/custom/send", "message/template/send", "menu/create"):
            app.router.add_post(f"/cgi-bin/{path}", self._endpoint(path))
        app.router.add_get("/cgi-bin/media/get", self._media)
        app.router.add_get("/cdn/{media_id}", self._cdn)
        return app

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 and return the base URL."""
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or free_port())
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def __aenter__(self) -> FakeWeChatAPI:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    @contextmanager
    def in_thread(self) -> Iterator[str]:
        """Run in a thread with its own loop (for code that calls `asyncio.run` itself)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)
        try:
            yield self.base_url
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    async def _fault(self, endpoint: str) -> dict[str, Any] | web.Response | None:
        queue = self._faults.get(endpoint)
        if not queue:
            return None
        fault = queue.pop(0)
        if fault["delay"]:
            await asyncio.sleep(fault["delay"])
        if fault["status"]:
            return web.Response(status=fault["status"], text="upstream error")
        if fault["errcode"] is not None:
            return {"errcode": fault["errcode"], "errmsg": f"injected {fault['errcode']}"}
        return None

    async def _token(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        call = Call("token", {k: v for k, v in query.items() if k != "secret"}, None)
        self.calls.append(call)
        answer: dict[str, Any]
        if query.get("appid") != self.app_id:
            answer = {"errcode": 40013, "errmsg": "invalid appid"}
        elif query.get("secret") != self.app_secret:
            answer = {"errcode": 40125, "errmsg": "invalid appsecret"}
        else:
            token = f"TOKEN-{next(self._token_numbers)}-{secrets.token_hex(6)}"
            self.valid_tokens.add(token)
            answer = {"access_token": token, "expires_in": 7200}
        call.answer = answer
        return web.json_response(answer)

    def _endpoint(self, endpoint: str) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            body = json.loads(raw.decode("utf-8")) if raw else None
            call = Call(endpoint, dict(request.query), body)
            self.calls.append(call)
            fault = await self._fault(endpoint)
            if isinstance(fault, web.Response):
                return fault
            answer: dict[str, Any] = fault or {"errcode": 0, "errmsg": "ok"}
            if fault is None and request.query.get("access_token") not in self.valid_tokens:
                answer = {"errcode": 42001, "errmsg": "access_token expired"}
            elif fault is None and endpoint == "message/template/send":
                answer = {"errcode": 0, "errmsg": "ok", "msgid": next(_template_ids)}
            call.answer = answer
            # The platform sends UTF-8 JSON with Chinese unescaped.
            return web.Response(
                text=json.dumps(answer, ensure_ascii=False), content_type="application/json"
            )

        return handle

    async def _media(self, request: web.Request) -> web.StreamResponse:
        media_id = request.query.get("media_id", "")
        call = Call("media/get", dict(request.query), None)
        self.calls.append(call)
        fault = await self._fault("media/get")
        if isinstance(fault, web.Response):
            return fault
        if fault is not None:
            return web.json_response(fault)
        if request.query.get("access_token") not in self.valid_tokens:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if media_id not in self.media:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        content_type, data = self.media[media_id]
        if content_type.startswith("video/"):
            return web.json_response({"video_url": f"http://127.0.0.1:{self.port}/cdn/{media_id}"})
        return web.Response(body=data, content_type=content_type)

    async def _cdn(self, request: web.Request) -> web.Response:
        content_type, data = self.media[request.match_info["media_id"]]
        return web.Response(body=data, content_type=content_type)
