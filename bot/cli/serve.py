"""`complaintbot serve`: run the web app, channels and scheduler."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from bot.app import create_app
from bot.logs import configure_logging
from bot.scheduler import build_scheduler
from bot.services import build_services
from bot.settings import get_settings
from nlp import LexiconError, get_classifier
from storage.engine import make_engine
from storage.migrate import current_revision, head_revision, is_current, upgrade

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `serve` command."""
    parser = subparsers.add_parser("serve", help="run the service")
    parser.add_argument("--host", help="override HTTP_HOST")
    parser.add_argument("--port", type=int, help="override HTTP_PORT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the database and serve until stopped."""
    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    engine = make_engine(settings.database_url)
    try:
        if settings.backend == "sqlite":
            # The embedded default looks after itself; PostgreSQL is upgraded deliberately.
            upgrade(engine)
        elif not is_current(engine):
            print(
                f"complaintbot: database schema is at {current_revision(engine) or 'nothing'}, "
                f"this code needs {head_revision()}: run `complaintbot db upgrade`",
                file=sys.stderr,
            )
            return 2
    except Exception as exc:
        print(f"complaintbot: cannot use the database: {exc}", file=sys.stderr)
        return 2
    try:
        # Load jieba and the lexicon once, before serving: a malformed lexicon stops here.
        get_classifier(settings.lexicon_file, settings.jieba_cache_dir)
    except LexiconError as exc:
        print(f"complaintbot: {exc}", file=sys.stderr)
        return 2
    services = build_services(settings, engine=engine)
    app = create_app(services)
    scheduler = build_scheduler(services)

    async def start_jobs(_app: web.Application) -> None:
        scheduler.start()  # needs the running loop (PITFALLS.md)

    async def stop_jobs(_app: web.Application) -> None:
        scheduler.shutdown(wait=False)

    app.on_startup.append(start_jobs)
    app.on_cleanup.append(stop_jobs)
    host = args.host or settings.http_host
    port = args.port or settings.http_port
    log.info("serving on http://%s:%d (database %s)", host, port, settings.backend)
    web.run_app(app, host=host, port=port, print=None, handle_signals=True)
    return 0
