"""Alembic migrations: idempotent upgrade, and a downgrade/upgrade round trip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel
from storage_support import new_ticket

import storage.models  # noqa: F401  (every table on SQLModel.metadata)
from storage.engine import make_engine
from storage.migrate import alembic_config, current_revision, head_revision, is_current, upgrade

TABLES = set(SQLModel.metadata.tables)
PG_URL = os.environ.get("COMPLAINTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _alembic(engine: Engine, verb: str, revision: str) -> None:
    """Run `alembic upgrade|downgrade <revision>` on the engine's connection."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def _tables(engine: Engine) -> set[str]:
    """The application's tables present in the database (alembic_version left out)."""
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _events_are_append_only(engine: Engine) -> bool:
    """Whether the database refuses an UPDATE of a ticket's create event."""
    new_ticket(engine)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE ticket_events SET note = 'x'"))
    except DBAPIError as refused:
        return "append-only" in str(refused)
    return False


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a SQLite file that does not exist yet."""
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def empty_pg_schema(pg_schema_url: str) -> Iterator[Engine]:
    """An engine on a new, empty PostgreSQL schema (skips like every PostgreSQL test)."""
    del pg_schema_url  # requested for its skip/fail rule when PostgreSQL is away
    schema = f"cbmig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_head_is_a_revision() -> None:
    assert head_revision() is not None


def test_upgrade_of_an_empty_sqlite_file_is_idempotent(empty_sqlite: Engine) -> None:
    assert current_revision(empty_sqlite) is None
    assert not is_current(empty_sqlite)

    assert upgrade(empty_sqlite) == head_revision()
    tables = _tables(empty_sqlite)
    assert upgrade(empty_sqlite) == head_revision()

    assert is_current(empty_sqlite)
    assert tables == _tables(empty_sqlite) == TABLES
    assert _events_are_append_only(empty_sqlite)


def test_schema_matches_the_models_after_upgrade(empty_sqlite: Engine) -> None:
    upgrade(empty_sqlite)
    inspector = inspect(empty_sqlite)
    for name, table in SQLModel.metadata.tables.items():
        stored = {column["name"] for column in inspector.get_columns(name)}
        assert stored == set(table.columns.keys()), name


def test_sqlite_downgrade_to_base_and_upgrade_again(empty_sqlite: Engine) -> None:
    _alembic(empty_sqlite, "upgrade", "head")
    assert current_revision(empty_sqlite) == head_revision()

    _alembic(empty_sqlite, "downgrade", "base")
    assert current_revision(empty_sqlite) is None
    assert _tables(empty_sqlite) == set()
    with empty_sqlite.connect() as connection:
        triggers = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).all()
    assert triggers == []

    _alembic(empty_sqlite, "upgrade", "head")
    assert current_revision(empty_sqlite) == head_revision()
    assert _tables(empty_sqlite) == TABLES
    assert _events_are_append_only(empty_sqlite)


@pytest.mark.postgres
def test_postgres_downgrade_to_base_and_upgrade_again(empty_pg_schema: Engine) -> None:
    assert upgrade(empty_pg_schema) == head_revision()
    assert upgrade(empty_pg_schema) == head_revision()
    assert _events_are_append_only(empty_pg_schema)

    _alembic(empty_pg_schema, "downgrade", "base")
    assert current_revision(empty_pg_schema) is None
    assert _tables(empty_pg_schema) == set()
    with empty_pg_schema.connect() as connection:
        leftovers = connection.execute(
            text("SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace")
        ).all()
    assert leftovers == []

    _alembic(empty_pg_schema, "upgrade", "head")
    assert _tables(empty_pg_schema) == TABLES
    assert _events_are_append_only(empty_pg_schema)
