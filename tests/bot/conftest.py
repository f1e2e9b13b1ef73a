"""Fixtures for the bot tests: the web app on a migrated SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine
from webchat_support import SECRET, Chat, ChatFactory

from bot.app import create_app
from bot.services import build_services
from bot.settings import load_settings
from storage.types import utcnow


@pytest.fixture
async def make_chat(sqlite_engine: Engine, tmp_path: Path) -> AsyncIterator[ChatFactory]:
    """Start the web app; keyword arguments override settings, `clock=` the services clock."""
    clients: list[TestClient[Any, Any]] = []

    async def factory(clock: Callable[[], datetime] = utcnow, **overrides: Any) -> Chat:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": str(sqlite_engine.url),
            "attachments_dir": tmp_path / "attachments",
            "secret_key": SECRET,
        }
        values.update(overrides)
        services = build_services(load_settings(**values), engine=sqlite_engine, clock=clock)
        client: TestClient[Any, Any] = TestClient(TestServer(create_app(services)))
        await client.start_server()
        clients.append(client)
        return Chat(client=client, services=services)

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def chat(make_chat: ChatFactory) -> Chat:
    """The web app with default settings."""
    return await make_chat()
