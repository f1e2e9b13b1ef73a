"""The composition root's product: everything a request or a job needs, built once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from bot.settings import Settings
from storage.types import utcnow


@dataclass
class Services:
    """Shared dependencies of the web app, channels and scheduler jobs."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = field(default=utcnow)
