"""Settings validation, the CLI's answers to bad input, and the health endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.cli import main
from bot.services import build_services
from bot.settings import SettingsError, load_settings
from storage.migrate import head_revision


def test_malformed_database_url_is_one_clear_line() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(database_url="not a url at all")
    message = str(info.value)
    assert "DATABASE_URL" in message and "\n" not in message


def test_non_numeric_port_is_one_clear_line() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(http_port="eighty")
    assert "HTTP_PORT" in str(info.value)


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environment="production")
    assert "SECRET_KEY" in str(info.value)
    assert load_settings(environment="production", secret_key="x" * 40).environment == "production"


def test_cli_reports_invalid_settings_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "tickets", "list"],
        env={"DATABASE_URL": "mysql://nope", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unknown_ticket_is_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        assert main(["tickets", "show", "TS20260101-0001"]) == 1
        assert "no ticket numbered 'TS20260101-0001'" in capsys.readouterr().err
        assert main(["tickets", "list"]) == 0
    finally:
        get_settings.cache_clear()


async def test_healthz_names_backend_and_migration(sqlite_engine) -> None:  # type: ignore[no-untyped-def]
    services = build_services(load_settings(), engine=sqlite_engine)
    async with TestClient(TestServer(create_app(services))) as client:
        response = await client.get("/healthz")
        assert response.status == 200
        body = json.loads(await response.text())
    assert body == {
        "status": "ok",
        "database": "sqlite",
        "migration": head_revision(),
        "migration_current": True,
    }
