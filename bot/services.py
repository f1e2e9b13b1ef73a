"""The composition root: everything a request or a job needs, built once at start-up."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from bot.dispatcher import Dispatcher
from bot.outbox import OutboxDelivery, Sender
from bot.settings import Settings
from handlers.context import IntakeConfig, Rules
from handlers.deadlines import DeadlinePolicy
from handlers.workdays import WorkCalendar
from storage.engine import make_engine
from storage.types import utcnow


@dataclass
class Services:
    """Shared dependencies of the web app, channels and scheduler jobs."""

    settings: Settings
    engine: Engine
    rules: Rules
    dispatcher: Dispatcher
    delivery: OutboxDelivery
    # Channel adapters register their sender here when they are set up.
    senders: dict[str, Sender] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=utcnow)


def build_rules(settings: Settings) -> Rules:
    """Calendar, deadline policy and intake limits from settings."""
    return Rules(
        calendar=WorkCalendar(overrides_path=settings.workday_overrides_file),
        policy=DeadlinePolicy(),
        config=IntakeConfig(
            draft_ttl=timedelta(hours=settings.draft_ttl_hours),
            repeat_window=timedelta(days=settings.repeat_window_days),
            max_description_chars=settings.max_description_chars,
            max_upload_bytes=settings.max_upload_bytes,
        ),
    )


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """Wire settings, database, rules and the dispatcher together."""
    engine = engine or make_engine(settings.database_url)
    rules = build_rules(settings)
    senders: dict[str, Sender] = {}
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    return Services(
        settings=settings,
        engine=engine,
        rules=rules,
        dispatcher=Dispatcher(engine=engine, rules=rules, clock=clock),
        delivery=OutboxDelivery(engine=engine, senders=senders, clock=clock, worker_id=worker_id),
        senders=senders,
        clock=clock,
    )
