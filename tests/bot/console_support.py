"""Helpers for the console tests: the sample city, tickets, a signed-in agent, a fake channel."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot.services import Services
from handlers.console_auth import csrf_for, new_session
from handlers.deadlines import DeadlinePolicy, compute_deadlines
from handlers.escalation import announce_new_ticket
from handlers.routing import route_draft
from handlers.staff_config import apply_config, load_config
from handlers.workdays import WorkCalendar
from storage.engine import transaction
from storage.models import Complainant, IdentityRead, OutboxMessage, Staff, Ticket, TicketEvent
from storage.tickets import TicketDraft, create_ticket

SECRET = "test-secret-for-the-console-0123456789abcdef"
SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "city.sample.toml"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    """A clock the tests move by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


@dataclass
class RecordingSender:
    """A driver's channel that records what it is asked to send."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """Record one message."""
        self.sent.append((recipient, payload))


@dataclass
class Console:
    """The running app, its services and database, and the fake clock."""

    client: TestClient[Any, Any]
    services: Services
    engine: Engine
    clock: Clock
    calendar: WorkCalendar

    def url(self, path: str) -> str:
        """An absolute URL on the test server."""
        return str(self.client.make_url(path))


ConsoleFactory = Callable[..., Awaitable[Console]]


def load_city(engine: Engine) -> None:
    """Import docs/city.sample.toml."""
    with transaction(engine) as session:
        apply_config(session, config=load_config(SAMPLE), now=NOW)


def staff_id(engine: Engine, username: str) -> int:
    """A sample staff member's id."""
    with Session(engine) as session:
        person = session.exec(select(Staff).where(Staff.username == username)).one()
        assert person.id is not None
        return person.id


def add_driver(engine: Engine, *, user: str = "driver-1", anonymity: str = "real_name") -> int:
    """A complainant on the fake 'test' channel."""
    with transaction(engine) as session:
        person = Complainant(
            channel="test",
            channel_user_id=user,
            anonymity=anonymity,
            name="刘师傅" if anonymity != "anonymous" else None,
            phone="13812345678" if anonymity != "anonymous" else None,
            own_plate="湘A12345" if anonymity != "anonymous" else None,
            created_at=NOW,
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id


# Where each kind of sample ticket goes in the sample city.
KINDS: dict[str, dict[str, Any]] = {
    # 西山服务区 → rule → 二大队 (DD2)
    "dd2": {
        "category": "service",
        "place_text": "西山服务区",
        "description": "西山服务区加油站多收费",
    },
    # taxi → rule → 一大队 (DD1)
    "dd1": {
        "category": "service",
        "domain": "taxi",
        "place_text": "东湖汽车站",
        "description": "出租车拒载绕路",
    },
    # names 北岭治超站 (ZCZ) → its supervising body 法制科 (FZK); ZCZ is the accused unit
    "accused": {
        "category": "irregular",
        "place_text": "北岭县",
        "description": "治超站执法人员不亮证",
        "data": {"facts": {"accused": "北岭治超站"}},
    },
    # rent_seeking → sealed, to the discipline unit (JJZ)
    "sealed": {
        "category": "rent_seeking",
        "place_text": "北岭治超站",
        "description": "治超站的人说给钱就放车",
        "data": {"facts": {"accused": "北岭治超站"}},
    },
}


def file_ticket(
    engine: Engine,
    calendar: WorkCalendar,
    kind: str = "dd2",
    *,
    now: datetime = NOW,
    complainant_id: int | None = None,
    **overrides: Any,
) -> str:
    """Create, route and announce a ticket the way intake does; returns its number."""
    spec = dict(KINDS[kind])
    data = spec.pop("data", {})
    values: dict[str, Any] = {
        "kind": "complaint",
        "severity": "normal",
        "channel": "test",
        "complainant_id": complainant_id,
        "anonymity": "real_name",
        **spec,
        **overrides,
    }
    deadlines = compute_deadlines(
        received_at=now,
        kind=values["kind"],
        severity=values["severity"],
        calendar=calendar,
        policy=DeadlinePolicy(),
    )
    draft = TicketDraft(
        **values,
        ack_due_at=deadlines.ack_due_at,
        due_at=deadlines.due_at,
        yellow_at=deadlines.yellow_at,
        escalate_at=deadlines.escalate_at,
        classification={"category": values["category"], "explanation": "测试"},
    )
    with transaction(engine) as session:
        draft, decision = route_draft(session, draft=draft, data=data)
        ticket = create_ticket(session, draft=draft, actor="driver", now=now)
        announce_new_ticket(session, ticket=ticket, decision=decision, now=now, calendar=calendar)
        return ticket.ticket_no


def sign_in(engine: Engine, username: str, *, now: datetime = NOW) -> str:
    """A session cookie value for a staff member, as a successful login would make."""
    with transaction(engine) as session:
        return new_session(
            session, staff_id=staff_id(engine, username), secret=SECRET, now=now, ip="t", via="test"
        )


@dataclass
class Agent:
    """A browser of one signed-in staff member: cookie and CSRF token on every request."""

    console: Console
    cookie: str

    @property
    def csrf(self) -> str:
        """The session's CSRF token."""
        return csrf_for(SECRET, self.cookie.split(".")[3])

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"cb_console={self.cookie}"}

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        """GET without following redirects."""
        return await self.console.client.get(
            path, headers=self._headers(), allow_redirects=False, **kwargs
        )

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = "auto"
    ) -> ClientResponse:
        """POST a form with the session's CSRF token (or the one given, or none)."""
        body = dict(data or {})
        if csrf == "auto":
            body["csrf"] = self.csrf
        elif csrf is not None:
            body["csrf"] = csrf
        return await self.console.client.post(
            path, data=body, headers=self._headers(), allow_redirects=False
        )


def load_ticket(engine: Engine, ticket_no: str) -> Ticket:
    """The ticket as stored now."""
    with Session(engine) as session:
        return session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()


def snapshot(engine: Engine, ticket_no: str) -> tuple[object, ...]:
    """What must not move when a request is refused: the ticket, its events, outbox, reads."""
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.ticket_no == ticket_no)).one()
        events = session.exec(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        ).one()
        outbox = session.exec(select(func.count()).select_from(OutboxMessage)).one()
        reads = session.exec(
            select(func.count())
            .select_from(IdentityRead)
            .where(col(IdentityRead.actor).like("staff:%"))
        ).one()
        return (ticket.model_dump_json(), events, outbox, reads)


async def start_console(engine: Engine, tmp_path: Path, **overrides: Any) -> Console:
    """The whole web app on `engine` with the fake clock and a recording 'test' channel."""
    from bot.app import create_app
    from bot.services import build_services
    from bot.settings import load_settings

    clock = Clock()
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": str(engine.url),
        "attachments_dir": tmp_path / "attachments",
        "secret_key": SECRET,
        **overrides,
    }
    services = build_services(load_settings(**values), engine=engine, clock=clock)
    services.senders["test"] = RecordingSender()
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(services)))
    await client.start_server()
    return Console(client, services, engine, clock, services.rules.calendar)
