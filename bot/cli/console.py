"""`complaintbot console passwd USERNAME | login-link USERNAME | reindex`: staff web console."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.settings import get_settings
from handlers.console_auth import (
    MAX_LINK_TTL,
    hash_password,
    issue_login_link,
    login_link_url,
    set_password,
)
from handlers.console_search import reindex_all
from storage.engine import make_engine, transaction
from storage.staffing import staff_by_username
from storage.types import utcnow


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `console` command."""
    parser = subparsers.add_parser("console", help="staff web console: passwords, login links")
    actions = parser.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    passwd = actions.add_parser("passwd", help="set a staff member's console password")
    passwd.add_argument("username")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of stdin"
    )
    passwd.set_defaults(func=run_passwd)
    link = actions.add_parser("login-link", help="print a single-use console login link")
    link.add_argument("username")
    link.add_argument("--ttl-minutes", type=int, default=15, help="minutes the link is valid")
    link.set_defaults(func=run_login_link)
    reindex = actions.add_parser("reindex", help="(re)build the ticket search index")
    reindex.set_defaults(func=run_reindex)


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        print("complaintbot: the two passwords differ; nothing changed", file=sys.stderr)
        return None
    return first


def run_passwd(args: argparse.Namespace) -> int:
    """Hash the password (argon2id) and end the member's open console sessions."""
    password = _read_password(args.stdin)
    if password is None:
        return 1
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        print(f"complaintbot: {exc}; nothing changed", file=sys.stderr)
        return 1
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(engine) as session:
            ended = set_password(
                session, username=args.username, password_hash=password_hash, now=utcnow()
            )
    except LookupError:
        print(f"complaintbot: no staff member {args.username!r}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"password set for {args.username}; {ended} open console sessions ended")
    return 0


def run_login_link(args: argparse.Namespace) -> int:
    """Print a link that signs the staff member in once, within the lifetime given."""
    ttl = timedelta(minutes=args.ttl_minutes)
    if not timedelta(minutes=1) <= ttl <= MAX_LINK_TTL:
        print(
            f"complaintbot: --ttl-minutes must be 1-{int(MAX_LINK_TTL.total_seconds() // 60)}",
            file=sys.stderr,
        )
        return 2
    settings = get_settings()
    engine = make_engine(settings.database_url)
    now = utcnow()
    try:
        with transaction(engine) as session:
            person = staff_by_username(session, username=args.username)
            if person is None or person.id is None or not person.active:
                print(f"complaintbot: no active staff member {args.username!r}", file=sys.stderr)
                return 1
            token = issue_login_link(
                session,
                staff_id=person.id,
                secret=settings.secret_key.get_secret_value(),
                now=now,
                ttl=ttl,
            )
    finally:
        engine.dispose()
    base = settings.public_base_url or f"http://{settings.http_host}:{settings.http_port}"
    until = (now + ttl).astimezone(ZoneInfo(settings.timezone))
    print(login_link_url(base, token))
    print(f"single use, valid until {until:%Y-%m-%d %H:%M} ({settings.timezone})")
    return 0


def run_reindex(args: argparse.Namespace) -> int:
    """Index every ticket whose search row is missing or stale."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(engine) as session:
            done = reindex_all(session)
    finally:
        engine.dispose()
    print(f"search index: {done} tickets (re)indexed")
    return 0
