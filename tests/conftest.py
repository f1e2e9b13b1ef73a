"""Shared fixtures: migrated databases on SQLite and, where available, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from handlers.context import Rules
from handlers.messages import IncomingAttachment, IncomingMessage, Location, Reply
from handlers.workdays import WorkCalendar
from storage.engine import make_engine
from storage.migrate import upgrade

PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        probe = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} not reachable ({type(exc).__name__})"
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A migrated private schema in the PostgreSQL test database, dropped at the end."""
    reason = _pg_available()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests")
        pytest.skip(f"{reason}: PostgreSQL tests skipped on this machine")
    schema = f"cbtest_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as connection:
        tables = connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        names = ", ".join(tables)
        if names:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated SQLite database in a temp file (never :memory:, see PITFALLS.md)."""
    path = tmp_path / "complaintbot.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_schema_url: str) -> Iterator[Engine]:
    """A clean migrated PostgreSQL schema."""
    engine = make_engine(pg_schema_url)
    _truncate_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on both backends."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    engine: Engine = request.getfixturevalue(fixture)
    return engine


# ---------------------------------------------------------------- conversation harness


_message_ids = count(1)


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


@dataclass
class FakeChat:
    """One user talking to the dispatcher through a fake channel, recording a transcript."""

    dispatcher: object
    user: str = "driver-1"
    channel: str = "test"
    language: str = "zh"
    transcript: list[tuple[str, str]] = field(default_factory=list)

    def send(
        self,
        text: str = "",
        *,
        choice: str | None = None,
        attachments: tuple[IncomingAttachment, ...] = (),
        location: Location | None = None,
        deep_link: str | None = None,
        event: str | None = None,
        message_id: str | None = None,
    ) -> list[Reply]:
        """Deliver one message and return the bot's replies."""
        from bot.dispatcher import Dispatcher

        assert isinstance(self.dispatcher, Dispatcher)
        message = IncomingMessage(
            channel=self.channel,
            message_id=message_id or f"m{next(_message_ids)}",
            user_key=self.user,
            received_at=self.dispatcher.clock(),
            text=text,
            choice=choice,
            attachments=attachments,
            location=location,
            deep_link=deep_link,
            language=self.language,
            event=event,
        )
        self.transcript.append(("driver", text or f"[{choice or event or 'attachment'}]"))
        replies = self.dispatcher.handle(message).replies
        self.transcript.extend(("bot", r.text) for r in replies)
        return replies

    def press(self, value: str) -> list[Reply]:
        """Press the button with this value."""
        return self.send(choice=value)


@pytest.fixture
def clock() -> FakeClock:
    """A controllable clock starting Monday 2026-11-23 10:00 Beijing time."""
    return FakeClock()


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    """The working-day calendar (built once: it caches years)."""
    return WorkCalendar()


@pytest.fixture
def dispatcher(sqlite_engine: Engine, clock: FakeClock, calendar: WorkCalendar) -> object:
    """A dispatcher on a fresh SQLite database and the fake clock."""
    from bot.dispatcher import Dispatcher

    return Dispatcher(engine=sqlite_engine, rules=Rules(calendar=calendar), clock=clock)


@pytest.fixture
def chat(dispatcher: object) -> FakeChat:
    """A driver on the fake channel."""
    return FakeChat(dispatcher)


@pytest.fixture
def another_chat(dispatcher: object) -> FakeChat:
    """A second driver on the same channel and database."""
    return FakeChat(dispatcher, user="driver-2")
