"""The channel-neutral message types: what adapters hand in and what handlers hand back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ChannelName = Literal["web", "telegram", "wechat", "test"]


@dataclass(frozen=True)
class IncomingAttachment:
    """Evidence that came with a message: a platform file id and/or a stored file."""

    kind: Literal["image", "video", "voice", "file"]
    mime: str = "application/octet-stream"
    size: int = 0
    channel_file_id: str | None = None
    sha256: str | None = None
    filename: str | None = None
    storage_path: str | None = None


@dataclass(frozen=True)
class Location:
    """A shared location."""

    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class IncomingMessage:
    """One thing a user did: typed text, pressed a choice, sent a file or a location."""

    channel: str
    message_id: str
    user_key: str
    received_at: datetime
    text: str = ""
    choice: str | None = None  # the value of a pressed button or a chosen menu number
    attachments: tuple[IncomingAttachment, ...] = ()
    location: Location | None = None
    deep_link: str | None = None  # QR / start payload naming a unit, station or case
    language: str = "zh"
    event: str | None = None  # platform events: subscribe, unsubscribe, menu_click, ...


@dataclass(frozen=True)
class Choice:
    """A button or numbered option; `value` comes back as `IncomingMessage.choice`."""

    label: str
    value: str


@dataclass(frozen=True)
class Reply:
    """Text to show the user, with optional choices that each channel renders its own way."""

    text: str
    choices: tuple[Choice, ...] = ()
    key: str = ""  # the catalog key the text came from, for tests and metrics

    def to_json(self) -> dict[str, object]:
        """The web chat JSON form."""
        return {
            "text": self.text,
            "choices": [{"label": c.label, "value": c.value} for c in self.choices],
        }


@dataclass
class StepResult:
    """What a conversation step decided: replies now and the next state."""

    replies: list[Reply] = field(default_factory=list)
    state: str = "idle"
    data: dict[str, object] = field(default_factory=dict)
