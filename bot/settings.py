"""Service settings: one pydantic-settings class read from the environment and `.env`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Values that ship in .env.example; refusing them outside development keeps a copied
# example file from becoming a production secret.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev-secret-change-me"})


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line meant for an operator."""


class Settings(BaseSettings):
    """Every knob of a deployment; documented one by one in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///data/complaintbot.sqlite3"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    public_base_url: str = ""
    secret_key: SecretStr = SecretStr("dev-secret-change-me")
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    log_json: bool = False

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_url: str = ""
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    wechat_app_id: str = ""
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_encoding_aes_key: SecretStr | None = None
    wechat_api_base_url: str = "https://api.weixin.qq.com/cgi-bin/"

    lexicon_file: Path | None = None
    workday_overrides_file: Path | None = None
    jieba_cache_dir: Path = Path("data/cache")
    attachments_dir: Path = Path("data/attachments")

    draft_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    repeat_window_days: int = Field(default=30, ge=1, le=365)
    max_description_chars: int = Field(default=2000, ge=200, le=20000)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    callback_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    wechat_survey_template_id: str = ""
    reports_dir: Path = Path("data/reports")

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"cannot parse {value!r} as a database URL") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key.get_secret_value() in PLACEHOLDER_SECRETS:
                raise ValueError("SECRET_KEY must be set to a random value in production")
            if self.database_url.startswith("sqlite") and ":memory:" in self.database_url:
                raise ValueError("an in-memory database loses every complaint on restart")
        return self

    @property
    def backend(self) -> str:
        """The database backend name: 'sqlite' or 'postgresql'."""
        return make_url(self.database_url).get_backend_name()

    @property
    def telegram_enabled(self) -> bool:
        """Whether a Telegram bot token is configured."""
        return self.telegram_bot_token is not None and bool(
            self.telegram_bot_token.get_secret_value()
        )

    @property
    def wechat_enabled(self) -> bool:
        """Whether the WeChat Official Account callback is configured."""
        return bool(self.wechat_app_id) and self.wechat_token is not None


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation failures into a one-line `SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{field.upper()}: {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
