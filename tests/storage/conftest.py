"""Storage-suite fixtures: a cheaper PostgreSQL reset than TRUNCATE for this many tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage.engine import make_engine


def _empty_tables(engine: Engine) -> bool:
    """DELETE every row with triggers and FKs off; False where that needs rights we lack."""
    try:
        with engine.begin() as connection:
            # Superuser only: skips the append-only trigger and FK checks for this transaction.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            tables = connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            for table in list(tables):
                connection.execute(text(f"DELETE FROM {table}"))
    except DBAPIError:
        return False
    return True


@pytest.fixture
def pg_engine(pg_schema_url: str) -> Iterator[Engine]:
    """A clean migrated PostgreSQL schema; DELETE is ~5x faster than TRUNCATE on tiny tables."""
    engine = make_engine(pg_schema_url)
    if not _empty_tables(engine):
        with engine.begin() as connection:
            tables = connection.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()
