"""A stand-in for the WeChat platform: the callback side (simulator) and the API side (fake).

`WeChatSimulator` builds callback XML the way the platform does for each message and event
type, signs it (`signature` over token, timestamp and nonce; in safe mode also
`msg_signature` over the `<Encrypt>` element), encrypts it with wechatpy's AES code, posts
it, checks and decrypts the passive reply, and retries like WeChat: a push without an
answer within five seconds is sent again, up to three more times.

The API side is `wechat_platform_api.FakeWeChatAPI`; driving whole conversations (the
in-process rig, a driver reading passive and late answers) is `wechat_platform_chat`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import xmltodict
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select
from wechatpy.crypto import PrpCrypto

APP_ID = "wx5e1f0c0ffee12345"
APP_SECRET = "fake-app-secret-0123456789abcdef"
TOKEN = "complaintbot-test-token"
AES_KEY = base64.b64encode(hashlib.sha256(b"complaintbot test aes key").digest()).decode()[:43]
ACCOUNT = "gh_5a1e5c0mpla1"

TICKET_NO = re.compile(r"TS\d{8}-\d{4}")

_msg_ids = itertools.count(24_000_000_000_000_000 + secrets.randbelow(10**15))


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_openid() -> str:
    """An OpenID shaped like the platform's (28 characters starting with o)."""
    return "o" + secrets.token_urlsafe(20)[:27]


def wechat_settings(api_base_url: str, *, safe: bool = True) -> dict[str, object]:
    """Settings overrides that switch the WeChat channel on, pointed at the fake API."""
    values: dict[str, object] = {
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_token": TOKEN,
        "wechat_api_base_url": api_base_url,
    }
    if safe:
        values["wechat_encoding_aes_key"] = AES_KEY
    return values


def count(engine: Engine, model: type[SQLModel], *where: Any) -> int:
    """Rows of a table, optionally filtered."""
    with Session(engine) as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int(session.exec(query).one())


def sign(*parts: str) -> str:
    """The platform's SHA-1 signature over sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass(frozen=True)
class Push:
    """One callback the platform sends (and re-sends unchanged on retry)."""

    openid: str
    xml: str
    msg_id: str | None


@dataclass
class Attempt:
    """One HTTP delivery of a push and what came back."""

    status: int | None  # None: no answer (timeout or connection lost)
    body: str = ""
    answer: str | None = None  # the passive reply's text, decrypted
    error: str = ""
    seconds: float = 0.0


@dataclass
class Delivery:
    """A push delivered with WeChat's retries."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def answer(self) -> str | None:
        """The text the driver sees from the passive reply (None after `success`)."""
        return self.attempts[-1].answer if self.attempts else None

    @property
    def final(self) -> Attempt:
        """The attempt the platform accepted (or the last one)."""
        return self.attempts[-1]


class WeChatSimulator:
    """The callback half of the platform, pointed at our `/wechat` URL."""

    def __init__(
        self,
        url: str,
        *,
        token: str = TOKEN,
        app_id: str = APP_ID,
        aes_key: str | None = AES_KEY,
        account: str = ACCOUNT,
        timeout: float = 5.0,
        retries: int = 3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.token = token
        self.app_id = app_id
        self.aes_key = aes_key
        self.account = account
        self.timeout = timeout
        self.retries = retries
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WeChatSimulator:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    # -- pushes --------------------------------------------------------------------------

    def _push(self, openid: str, msg_type: str, fields: dict[str, str], *, event: bool) -> Push:
        msg_id = None if event else str(next(_msg_ids))
        parts = [
            f"<ToUserName>{_cdata(self.account)}</ToUserName>",
            f"<FromUserName>{_cdata(openid)}</FromUserName>",
            f"<CreateTime>{int(self.clock())}</CreateTime>",
            f"<MsgType>{_cdata(msg_type)}</MsgType>",
        ]
        for name, value in fields.items():
            numeric = name in ("Latitude", "Longitude", "Precision", "Location_X", "Location_Y")
            parts.append(f"<{name}>{value if numeric else _cdata(value)}</{name}>")
        if msg_id is not None:
            parts.append(f"<MsgId>{msg_id}</MsgId>")
        return Push(openid=openid, xml="<xml>" + "".join(parts) + "</xml>", msg_id=msg_id)

    def text(self, openid: str, content: str) -> Push:
        """A typed text message."""
        return self._push(openid, "text", {"Content": content}, event=False)

    def voice(self, openid: str, media_id: str, recognition: str | None = None) -> Push:
        """A voice message, with speech-to-text when the account enables it."""
        fields = {"MediaId": media_id, "Format": "amr"}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self._push(openid, "voice", fields, event=False)

    def image(self, openid: str, media_id: str) -> Push:
        """A photo."""
        fields = {"PicUrl": f"http://mmbiz.qpic.cn/{media_id}", "MediaId": media_id}
        return self._push(openid, "image", fields, event=False)

    def video(self, openid: str, media_id: str, *, short: bool = False) -> Push:
        """A video (or a short video)."""
        fields = {"MediaId": media_id, "ThumbMediaId": f"thumb-{media_id}"}
        return self._push(openid, "shortvideo" if short else "video", fields, event=False)

    def location(self, openid: str, latitude: float, longitude: float, label: str) -> Push:
        """A shared location."""
        fields = {
            "Location_X": str(latitude),
            "Location_Y": str(longitude),
            "Scale": "15",
            "Label": label,
        }
        return self._push(openid, "location", fields, event=False)

    def link(self, openid: str, title: str, url: str) -> Push:
        """A shared link."""
        fields = {"Title": title, "Description": "", "Url": url}
        return self._push(openid, "link", fields, event=False)

    def message(self, openid: str, msg_type: str, **fields: str) -> Push:
        """Any message type, e.g. one the service does not know."""
        return self._push(openid, msg_type, fields, event=False)

    def event(self, openid: str, event: str, **fields: str) -> Push:
        """Any event."""
        return self._push(openid, "event", {"Event": event, **fields}, event=True)

    def subscribe(self, openid: str, scene: str | None = None) -> Push:
        """A follow, through a parametric QR code when `scene` is given."""
        if scene is None:
            return self.event(openid, "subscribe", EventKey="")
        return self.event(
            openid, "subscribe", EventKey=f"qrscene_{scene}", Ticket=secrets.token_hex(8)
        )

    def scan(self, openid: str, scene: str) -> Push:
        """A follower scanning a parametric QR code."""
        return self.event(openid, "SCAN", EventKey=scene, Ticket=secrets.token_hex(8))

    def click(self, openid: str, key: str) -> Push:
        """A menu button press."""
        return self.event(openid, "CLICK", EventKey=key)

    def location_report(self, openid: str, latitude: float, longitude: float) -> Push:
        """The periodic location report of a follower who allowed it."""
        return self.event(
            openid,
            "LOCATION",
            Latitude=str(latitude),
            Longitude=str(longitude),
            Precision="30.0",
        )

    # -- transport -----------------------------------------------------------------------

    def prepare(
        self, xml: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Query parameters and body for one delivery, signed (and encrypted) afresh."""
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        params = {"signature": sign(self.token, stamp, nonce), "timestamp": stamp, "nonce": nonce}
        found = re.search(r"<FromUserName>(?:<!\[CDATA\[)?([^<\]]*)", xml)
        params["openid"] = found.group(1) if found else ""
        if self.aes_key is None:
            return params, xml.encode("utf-8")
        key = base64.b64decode(self.aes_key + "=")
        encrypted = PrpCrypto(key).encrypt(xml, self.app_id).decode("ascii")
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(self.token, stamp, nonce, encrypted)
        body = (
            f"<xml><ToUserName>{_cdata(self.account)}</ToUserName>"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt></xml>"
        )
        return params, body.encode("utf-8")

    def _http(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with WeChatSimulator(...)`"
        return self._session

    async def post_raw(
        self, params: dict[str, str], body: bytes, *, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST exactly these bytes; (status, body)."""
        # A stream for big bodies: aiohttp warns about large raw bytes blocking the loop.
        data = io.BytesIO(body) if len(body) > 512 * 1024 else body
        async with self._http().post(self.url, params=params, data=data, headers=headers) as r:
            return r.status, await r.text()

    async def post(self, push: Push) -> Attempt:
        """One delivery of a push, like the platform: sign, encrypt, post, read the reply."""
        params, body = self.prepare(push.xml)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().post(
                    self.url, params=params, data=body, headers={"Content-Type": "text/xml"}
                ) as response:
                    status, raw = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Attempt(None, error=type(exc).__name__, seconds=time.monotonic() - started)
        attempt = Attempt(status, raw, seconds=time.monotonic() - started)
        if status == 200 and raw not in ("", "success"):
            attempt.answer = self.read_reply(raw, push.openid)
        return attempt

    def read_reply(self, raw: str, openid: str) -> str:
        """The text of a passive reply, after the checks the platform makes."""
        root = xmltodict.parse(raw)["xml"]
        if self.aes_key is not None:
            encrypted = root["Encrypt"]
            expected = sign(self.token, root["TimeStamp"], root["Nonce"], encrypted)
            assert root["MsgSignature"] == expected, "passive reply signature does not verify"
            key = base64.b64decode(self.aes_key + "=")
            root = xmltodict.parse(PrpCrypto(key).decrypt(encrypted, self.app_id))["xml"]
        assert root["MsgType"] == "text", root
        assert root["ToUserName"] == openid, "reply addressed to someone else"
        assert root["FromUserName"] == self.account
        content: str = root["Content"] or ""
        assert len(content.encode("utf-8")) <= 2048, "text over the platform's limit"
        return content

    async def deliver(self, push: Push) -> Delivery:
        """Post, and post again (up to `retries` times) while no answer comes in time."""
        delivery = Delivery()
        for _ in range(1 + self.retries):
            attempt = await self.post(push)
            delivery.attempts.append(attempt)
            if attempt.status is not None and attempt.status < 500:
                break
        return delivery

    async def say(self, push: Push) -> str | None:
        """Deliver and return the driver-visible passive answer."""
        delivery = await self.deliver(push)
        assert delivery.final.status == 200, delivery.final
        return delivery.answer

    async def verify_url(self, echostr: str, *, timestamp: int | None = None) -> tuple[int, str]:
        """The platform's GET check of the callback URL."""
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        params = {
            "signature": sign(self.token, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        async with self._http().get(self.url, params=params) as response:
            return response.status, await response.text()
