"""Shared fixtures: migrated databases on SQLite and, where available, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

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
