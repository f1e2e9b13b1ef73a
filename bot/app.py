"""The aiohttp application: health, channels, console; no business logic here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from bot.channels.webchat import setup_webchat
from bot.console import setup_console
from bot.services import Services
from storage.migrate import current_revision, head_revision

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", Services)
# Bodies larger than this are refused with 413 before any handler reads them.
MAX_BODY_BYTES = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn unexpected exceptions into a plain 500 without a traceback to the caller."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


async def healthz(request: web.Request) -> web.Response:
    """Liveness plus the database backend and schema revision."""
    services = request.app[SERVICES_KEY]

    def probe() -> tuple[str | None, str | None]:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return current_revision(services.engine), head_revision()

    try:
        revision, head = await asyncio.to_thread(probe)
    except Exception as exc:  # the database being down is the answer, not an error
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        body = {"status": "error", "database": services.engine.dialect.name, "error": "unreachable"}
        return web.json_response(body, status=503)
    return web.json_response(
        {
            "status": "ok",
            "database": services.engine.dialect.name,
            "migration": revision,
            "migration_current": revision == head,
        }
    )


def create_app(services: Services) -> web.Application:
    """Build the web application around already-constructed services."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICES_KEY] = services
    app.router.add_get("/healthz", healthz)
    setup_webchat(app, services)
    setup_console(app, services)
    settings = services.settings
    # Channels with credentials are set up only when configured; web chat needs none.
    if settings.wechat_enabled:
        from bot.channels.wechat import setup_wechat

        setup_wechat(app, services)
    if settings.telegram_enabled:
        from bot.channels.telegram import setup_telegram

        setup_telegram(app, services)
    return app
