"""The console's plumbing: templates, security headers, sessions and CSRF for every route.

Every page runs its database work in one transaction in a worker thread, with the session
check first; a POST also checks the CSRF token before anything else happens. Cookies are
HttpOnly, SameSite=Strict, scoped to /console and Secure under https.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from sqlmodel import Session

from bot.console import labels
from bot.services import Services
from handlers.console_auth import SESSION_TTL, SessionProblem, SignedIn, check_session, same_token
from storage.engine import transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_CSS = PACKAGE_DIR / "static" / "console.css"
SESSION_COOKIE = "cb_console"
LOGIN_COOKIE = "cb_console_login"
HEADERS = {
    # Server-rendered pages with no script at all: nothing inline may run, nothing loads from
    # elsewhere, forms post only here, and no other site may frame the console.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not no-referrer: with it Chromium sends "Origin: null" on our own form posts, and the
    # origin check below needs the real one. Nothing leaves the site either way.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Add the console's security headers to every answer, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for name, value in HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    if not isinstance(response, web.FileResponse):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def _local(tz: ZoneInfo) -> Callable[[datetime | None, str], str]:
    def render(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(tz).strftime(fmt) if moment is not None else ""

    return render


def _filesize(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size //= 1024
    return f"{size} GB"


class ConsoleWeb:
    """Shared pieces of the console routes."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tz = ZoneInfo(services.settings.timezone)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["local"] = _local(self.tz)
        self.templates.filters["filesize"] = _filesize
        self.templates.globals.update(
            label=labels.label,
            queue_labels=labels.QUEUE_LABELS,
            event_labels=labels.EVENT_LABELS,
            action_labels=labels.ACTION_LABELS,
            levels=labels.SUPERVISION_LEVELS,
            reject_reasons=labels.REJECT_REASONS,
            anonymity_labels=labels.ANONYMITY,
            hot_spot_kinds=labels.HOT_SPOT_KINDS,
        )

    # -- small helpers -------------------------------------------------------------------

    @property
    def secret(self) -> str:
        """The service secret the console derives its keys from."""
        return self.services.settings.secret_key.get_secret_value()

    def now(self) -> datetime:
        """The services' clock."""
        return self.services.clock()

    def secure(self, request: web.Request) -> bool:
        """Whether cookies get the Secure flag."""
        return request.secure or self.services.settings.public_base_url.startswith("https://")

    @staticmethod
    def ip(request: web.Request) -> str:
        """The client address as the server sees it (put a trusted proxy's in front)."""
        return (request.remote or "unknown")[:64]

    def render(
        self, name: str, *, status: int = 200, user: SignedIn | None = None, **values: Any
    ) -> web.Response:
        """A rendered template (autoescaped) with the console headers."""
        html = self.templates.get_template(f"console/{name}").render(user=user, **values)
        return web.Response(text=html, status=status, content_type="text/html")

    def error(self, status: int, message: str, *, user: SignedIn | None = None) -> web.Response:
        """A plain error page."""
        return self.render("error.html", status=status, user=user, message=message)

    def set_session_cookie(self, request: web.Request, response: web.Response, value: str) -> None:
        """Hand the browser its session cookie."""
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=int(SESSION_TTL.total_seconds()),
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=self.secure(request),
        )

    def drop_session_cookie(self, response: web.StreamResponse) -> None:
        """Make the browser forget its session cookie."""
        response.del_cookie(SESSION_COOKIE, path="/console")

    def same_origin(self, request: web.Request) -> bool:
        """False when a browser says the post comes from another site."""
        origin = request.headers.get("Origin")
        if origin is None or origin == "null":
            return origin is None
        return origin.rstrip("/") == f"{request.scheme}://{request.host}"

    # -- database work -------------------------------------------------------------------

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction in a worker thread."""

        def run() -> T:
            with transaction(self.services.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def as_staff(
        self,
        request: web.Request,
        work: Callable[[Session, SignedIn], T],
        *,
        form: Mapping[str, Any] | None = None,
    ) -> T:
        """Run `work` for the signed-in staff member; a `form` must carry the CSRF token.

        No valid session: a GET is sent to the login page, a POST refused with 403.
        """
        cookie = request.cookies.get(SESSION_COOKIE)
        now = self.now()
        posting = request.method == "POST"
        # A form means a change is asked for; re-rendering a page after a post passes none.
        changing = form is not None
        if changing and not self.same_origin(request):
            log.warning("console post from another origin refused on %s", request.path)
            raise self.csrf_refused()

        def run(session: Session) -> T:
            user = check_session(session, cookie=cookie, secret=self.secret, now=now)
            if form is not None:
                given = form.get("csrf")
                if not same_token(user.csrf, given if isinstance(given, str) else None):
                    raise CsrfFailed()
            return work(session, user)

        try:
            return await self.db(run)
        except SessionProblem as problem:
            if problem.reason != "missing":
                log.warning("console session refused on %s: %s", request.path, problem.reason)
            if posting:
                raise self.http_error(web.HTTPForbidden, "会话无效或已过期，请重新登录。") from None
            response = web.HTTPSeeOther("/console/login")
            self.drop_session_cookie(response)
            raise response from None
        except CsrfFailed:
            log.warning("console post without a valid CSRF token refused on %s", request.path)
            raise self.csrf_refused() from None

    def http_error(
        self, kind: type[web.HTTPException], message: str, *, user: SignedIn | None = None
    ) -> web.HTTPException:
        """An HTTP error to raise, with the console's error page as its body."""
        html = self.templates.get_template("console/error.html").render(user=user, message=message)
        return kind(text=html, content_type="text/html")

    def csrf_refused(self) -> web.HTTPException:
        """The answer to a post whose CSRF token (or origin) is missing or wrong."""
        return self.http_error(
            web.HTTPForbidden, "表单已失效（缺少或错误的校验码），请刷新页面后重试。"
        )
