"""`complaintbot db upgrade|current`: schema migrations."""

from __future__ import annotations

import argparse

from bot.settings import get_settings
from storage.engine import make_engine
from storage.migrate import current_revision, head_revision, upgrade


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `db` command."""
    parser = subparsers.add_parser("db", help="database schema migrations")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="migrate the database to the newest schema")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=run_upgrade)
    current = actions.add_parser("current", help="show the schema revision")
    current.set_defaults(func=run_current)


def run_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    after = upgrade(engine, revision=args.revision)
    print(f"database ({settings.backend}) at revision {after} (was {before or 'empty'})")
    return 0


def run_current(args: argparse.Namespace) -> int:
    """Print the current and newest revisions."""
    engine = make_engine(get_settings().database_url)
    print(f"current {current_revision(engine) or 'empty'}, newest {head_revision()}")
    return 0
