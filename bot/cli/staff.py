"""`complaintbot staff import FILE | bind USERNAME`: the city configuration and chat binding."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.settings import get_settings
from handlers.staff_config import ConfigError, apply_config, load_config
from storage.engine import make_engine, transaction
from storage.staffing import STAFF_CHANNELS, issue_binding_code, staff_by_username
from storage.types import utcnow

MAX_TTL_MINUTES = 24 * 60


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `staff` command."""
    parser = subparsers.add_parser("staff", help="units, staff, routing rules, chat binding")
    actions = parser.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    load = actions.add_parser("import", help="load a city configuration file (idempotent)")
    load.add_argument("file", help="TOML file, see docs/city.sample.toml")
    load.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    load.set_defaults(func=run_import)
    bind = actions.add_parser("bind", help="one-time code linking a staff member's chat account")
    bind.add_argument("username")
    bind.add_argument("--channel", choices=STAFF_CHANNELS, help="only redeemable on this channel")
    bind.add_argument("--ttl-minutes", type=int, default=30, help="minutes the code is valid")
    bind.set_defaults(func=run_bind)


def run_import(args: argparse.Namespace) -> int:
    """Check the whole file, then write it in one transaction and print what changed."""
    try:
        config = load_config(Path(args.file))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("complaintbot: nothing imported", file=sys.stderr)
        return 1
    engine = make_engine(get_settings().database_url)
    try:
        if args.dry_run:
            with Session(engine) as session:
                report = apply_config(session, config=config, now=utcnow())
                session.rollback()
        else:
            with transaction(engine) as session:
                report = apply_config(session, config=config, now=utcnow())
    except SQLAlchemyError as exc:
        print(
            f"complaintbot: database error ({type(exc).__name__}); is it migrated? "
            "run `complaintbot db upgrade`",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    for kind in ("units", "staff", "rules"):
        counts = report.counts.get(kind, {})
        line = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()) if n)
        print(f"{kind}: {line or 'none'}")
    verdict = "would change" if args.dry_run else "changed"
    print(f"{verdict}: {'yes' if report.changed else 'nothing'}")
    return 0


def run_bind(args: argparse.Namespace) -> int:
    """Print a single-use code the staff member sends to the bot as 「绑定 CODE」."""
    if not 1 <= args.ttl_minutes <= MAX_TTL_MINUTES:
        print(f"complaintbot: --ttl-minutes must be 1-{MAX_TTL_MINUTES}", file=sys.stderr)
        return 2
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(engine) as session:
            person = staff_by_username(session, username=args.username)
            if person is None or person.id is None or not person.active:
                print(f"complaintbot: no active staff member {args.username!r}", file=sys.stderr)
                return 1
            now = utcnow()
            ttl = timedelta(minutes=args.ttl_minutes)
            code = issue_binding_code(
                session, staff_id=person.id, now=now, ttl=ttl, channel=args.channel
            )
    finally:
        engine.dispose()
    until = (now + ttl).astimezone(ZoneInfo(settings.timezone))
    where = args.channel or " or ".join(STAFF_CHANNELS)
    print(f"binding code for {args.username}: {code}")
    print(f"single use, valid until {until:%Y-%m-%d %H:%M} ({settings.timezone});")
    print(f"send 「绑定 {code}」 to the bot on {where}")
    return 0
