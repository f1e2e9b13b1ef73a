"""What a conversation step gets besides the message: the session, the clock, the rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from handlers.deadlines import DeadlinePolicy
from handlers.workdays import WorkCalendar


@dataclass(frozen=True)
class IntakeConfig:
    """Intake settings an administrator may change."""

    draft_ttl: timedelta = timedelta(hours=24)
    repeat_window: timedelta = timedelta(days=30)
    max_description_chars: int = 2000
    max_upload_bytes: int = 10 * 1024 * 1024
    max_reasks: int = 3
    allowed_mime_prefixes: tuple[str, ...] = ("image/", "video/", "audio/", "application/pdf")


@dataclass(frozen=True)
class Rules:
    """Long-lived dependencies shared by every step (built once at start-up)."""

    calendar: WorkCalendar
    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    config: IntakeConfig = field(default_factory=IntakeConfig)


@dataclass
class StepContext:
    """One message's worth of context: its transaction, its time and the rules."""

    session: Session
    now: datetime
    rules: Rules
    channel: str
    user_key: str
    language: str = "zh"
