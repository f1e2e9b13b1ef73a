"""The load generator of bench/intake.py: signed, encrypted pushes and two ways to send them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass, field

import aiohttp
from wechatpy.crypto import PrpCrypto

APP_ID = "wxbench0000000001"
TOKEN = "bench-token"
AES_KEY = base64.b64encode(hashlib.sha256(b"bench").digest()).decode()[:43]
ACCOUNT = "gh_bench"
# One driver's intake, message by message (numbers pick the offered choices).
SCRIPT = (
    "昨天下午三点在G4京港澳高速长沙治超站被罚款两千元，不给开票",
    "1",
    "1",
    "市交通运输综合执法支队二大队，执法证号 HN12345",
    "湘A3K921",
    "跳过",
    "13812345678",
    "1",
)
_msg_ids = itertools.count(30_000_000_000_000_000 + secrets.randbelow(10**15))


def sign(*parts: str) -> str:
    """The platform's SHA-1 signature over sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def push(openid: str, content: str) -> tuple[dict[str, str], bytes]:
    """One text push in safe mode: query parameters and encrypted body."""
    stamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{next(_msg_ids)}</MsgId></xml>"
    )
    key = base64.b64decode(AES_KEY + "=")
    encrypted = PrpCrypto(key).encrypt(xml, APP_ID).decode()
    params = {
        "signature": sign(TOKEN, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": openid,
        "encrypt_type": "aes",
        "msg_signature": sign(TOKEN, stamp, nonce, encrypted),
    }
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return params, body.encode()


def drivers(count: int) -> list[list[tuple[dict[str, str], bytes]]]:
    """`count` fresh drivers, each with the pushes of a whole intake."""
    result = []
    for _ in range(count):
        openid = "o" + secrets.token_urlsafe(20)[:27]
        result.append([push(openid, content) for content in SCRIPT])
    return result


# -- load ------------------------------------------------------------------------------------


@dataclass
class Result:
    """Latencies (seconds) and outcomes of one phase."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    passive: int = 0
    success: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        """Messages per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """A latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def send(
    http: aiohttp.ClientSession,
    url: str,
    item: tuple[dict[str, str], bytes],
    result: Result,
    since: float,
) -> None:
    """One push; latency counted from `since`."""
    params, body = item
    try:
        async with http.post(url, params=params, data=body) as response:
            answer = await response.read()
            if response.status != 200:
                result.errors += 1
            elif answer in (b"success", b""):
                result.success += 1
            else:
                result.passive += 1
    except aiohttp.ClientError:
        result.errors += 1
    result.latencies.append(time.perf_counter() - since)


async def closed_loop(url: str, messages: int, concurrency: int) -> Result:
    """`concurrency` drivers at a time, each sending its intake as fast as answers come."""
    queue = drivers(-(-messages // len(SCRIPT)))
    result = Result()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def worker() -> None:
            while queue:
                for item in queue.pop():
                    await send(http, url, item, result, time.perf_counter())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


async def open_loop(url: str, rate: float, seconds: float) -> Result:
    """Messages at a fixed rate; each driver's messages one second apart, in order."""
    total = int(rate * seconds)
    per_driver = len(SCRIPT)
    pushes = drivers(-(-total // per_driver))
    users = max(1, int(rate))  # one message per driver per second
    order = [
        pushes[group * users + u][step]
        for group in range(-(-len(pushes) // users))
        for step in range(per_driver)
        for u in range(users)
        if group * users + u < len(pushes)
    ][:total]
    result = Result()
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.perf_counter()
        for index, item in enumerate(order):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(send(http, url, item, result, due)))
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - started
    return result
