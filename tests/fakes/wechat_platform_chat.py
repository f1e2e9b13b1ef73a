"""Driving WeChat conversations in tests: the in-process rig and a driver that reads answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from wechat_platform import AES_KEY, Push, WeChatSimulator, count, new_openid, wechat_settings
from wechat_platform_api import FakeWeChatAPI

from bot.channels.wechat import WECHAT_CHANNEL, WeChatChannel
from storage.models import Conversation, OutboxMessage, ProcessedMessage


@dataclass
class Rig:
    """The app with WeChat on, a simulator aimed at it, and the fake API behind it."""

    sim: WeChatSimulator
    api: FakeWeChatAPI
    services: Any
    channel: WeChatChannel

    @property
    def engine(self) -> Any:
        """The database."""
        return self.services.engine

    def stored_nothing(self) -> bool:
        """No message was recorded, no conversation started, nothing queued."""
        return (
            count(self.engine, ProcessedMessage) == 0
            and count(self.engine, Conversation) == 0
            and count(self.engine, OutboxMessage) == 0
        )


RigFactory = Callable[..., Awaitable[Rig]]


@asynccontextmanager
async def rig_factory(make_chat: Any, api: FakeWeChatAPI) -> AsyncIterator[RigFactory]:
    """Start apps with WeChat on (`safe=False`: plain mode; `clock=`: the services' clock)."""
    async with AsyncExitStack() as stack:

        async def factory(*, safe: bool = True, clock: Any = None, **sim_options: Any) -> Rig:
            extra = {"clock": clock} if clock is not None else {}
            chat = await make_chat(**wechat_settings(api.base_url, safe=safe), **extra)
            if clock is not None:
                sim_options.setdefault("clock", lambda: clock().timestamp())
            url = str(chat.client.make_url("/wechat"))
            sim = WeChatSimulator(url, aes_key=AES_KEY if safe else None, **sim_options)
            await stack.enter_async_context(sim)
            channel = chat.client.server.app[WECHAT_CHANNEL]
            return Rig(sim=sim, api=api, services=chat.services, channel=channel)

        yield factory


# ---------------------------------------------------------------- driving a conversation

# An answer to each question of the intake, by the catalog key the question starts with.
ANSWERS = {
    "intake.ask_privacy_again": "1",
    "intake.ask_privacy": "1",
    "intake.ask_description": "昨天下午三点被执法人员罚款两千元，不给开票",
    "intake.ask_confirm_category": "1",
    "intake.uncertain": "1",
    "intake.ask_category": "1",
    "intake.ask_occurred": "昨天下午三点",
    "intake.ask_place": "G4京港澳高速长沙北收费站",
    "intake.ask_accused_praise": "市交通运输综合执法支队二大队",
    "intake.ask_accused": "市交通运输综合执法支队二大队，执法证号 HN12345",
    "intake.ask_own_plate": "湘A3K921",
    "intake.ask_amount": "两千",
    "intake.ask_receipt": "没开",
    "intake.ask_evidence": "跳过",
    "intake.ask_contact_optional": "13812345678",
    "intake.ask_contact": "13812345678",
}


def question_of(answer: str) -> str | None:
    """The catalog key of the question an answer ends with (None if not an intake question)."""
    from handlers.catalog import text

    last = answer.split("\n\n")[-1]
    if last.startswith(text("intake.ask_submit")):
        return "intake.ask_submit"
    for key in ANSWERS:
        if last.startswith(text(key)):
            return key
    return None


class Driver:
    """One driver on WeChat: sends pushes and reads what shows up in the chat.

    An answer is the passive reply, or, after `success`, the customer-service messages the
    fake API receives for this driver within `late_seconds` (none when `api` is None).
    """

    def __init__(
        self,
        sim: WeChatSimulator,
        openid: str | None = None,
        *,
        api: FakeWeChatAPI | None = None,
        late_seconds: float = 10.0,
    ) -> None:
        self.sim = sim
        self.openid = openid or new_openid()
        self.api = api
        self.late_seconds = late_seconds
        self.seen_late = 0
        self.transcript: list[tuple[str, str]] = []

    async def send(self, push: Push) -> str | None:
        """Deliver a push (with WeChat's retries) and return the answer the driver sees."""
        delivery = await self.sim.deliver(push)
        assert delivery.final.status == 200, delivery.final
        answer = delivery.answer
        if answer is None and self.api is not None:
            answer = await self.late_answer()
        self.transcript.append(("driver", push.xml))
        self.transcript.append(("bot", answer or ""))
        return answer

    async def late_answer(self, *, wait: float | None = None) -> str | None:
        """Customer-service texts not seen yet, waiting up to `wait` seconds for one."""
        assert self.api is not None
        deadline = time.monotonic() + (self.late_seconds if wait is None else wait)
        while time.monotonic() < deadline:
            texts = self.api.sent_texts(self.openid)
            if len(texts) > self.seen_late:
                new, self.seen_late = texts[self.seen_late :], len(texts)
                return "\n\n".join(new)
            await asyncio.sleep(0.05)
        return None

    async def say(self, content: str) -> str | None:
        """Type a text message."""
        return await self.send(self.sim.text(self.openid, content))


async def answer_until_summary(
    driver: Driver,
    answer: str | None,
    *,
    given: dict[str, str] | None = None,
    limit: int = 20,
) -> str:
    """Answer whatever is asked (`given` overrides by key) until the summary; return it."""
    given = given or {}
    for _ in range(limit):
        assert answer is not None, "no answer"
        key = question_of(answer)
        assert key is not None, f"unexpected answer: {answer}"
        if key == "intake.ask_submit":
            return answer
        answer = await driver.say(given.get(key, ANSWERS[key]))
    raise AssertionError("no summary")
