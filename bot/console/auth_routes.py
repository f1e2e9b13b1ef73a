"""Sign-in routes: the password form, one-time login links, logout."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from aiohttp import web
from sqlmodel import Session

from bot.console.common import LOGIN_COOKIE, ConsoleWeb
from handlers.console_auth import (
    LinkRefused,
    SignedIn,
    begin_login,
    end_session,
    finish_login,
    login_csrf,
    redeem_login_link,
    same_token,
    verify_password,
)
from storage.staffing import Role

log = logging.getLogger(__name__)

MAX_USERNAME_CHARS = 100
MAX_FORM_PASSWORD_CHARS = 200
LINK_REFUSALS = {
    "unknown": "登录链接无效。",
    "used": "登录链接已经用过，每个链接只能用一次。",
    "expired": "登录链接已过期，请重新获取。",
    "inactive": "该工作人员账号已停用。",
}


class AuthRoutes:
    """/console/login, /console/link, /console/logout."""

    def __init__(self, web_: ConsoleWeb) -> None:
        self.web = web_

    def _pre_token(self, request: web.Request) -> tuple[str, bool]:
        token = request.cookies.get(LOGIN_COOKIE, "")
        if len(token) == 43 and token.replace("-", "").replace("_", "").isalnum():
            return token, False
        return secrets.token_urlsafe(32), True

    def _form_page(
        self, request: web.Request, template: str, *, status: int = 200, **values: Any
    ) -> web.Response:
        token, fresh = self._pre_token(request)
        response = self.web.render(
            template, status=status, csrf=login_csrf(self.web.secret, token), **values
        )
        if fresh:
            response.set_cookie(
                LOGIN_COOKIE,
                token,
                path="/console",
                httponly=True,
                samesite="Strict",
                secure=self.web.secure(request),
            )
        return response

    def _login_csrf_ok(self, request: web.Request, given: object) -> bool:
        token = request.cookies.get(LOGIN_COOKIE, "")
        ok = (
            bool(token)
            and isinstance(given, str)
            and same_token(login_csrf(self.web.secret, token), given)
            and self.web.same_origin(request)
        )
        if not ok:
            log.warning("console login form without a valid CSRF token")
        return ok

    def _signed_in(self, request: web.Request, cookie: str) -> web.Response:
        response = web.HTTPSeeOther("/console")
        self.web.set_session_cookie(request, response, cookie)
        response.del_cookie(LOGIN_COOKIE, path="/console")
        raise response

    async def login_page(self, request: web.Request) -> web.Response:
        """The password form."""
        return self._form_page(request, "login.html", error="", username="")

    async def login(self, request: web.Request) -> web.Response:
        """Check a password (throttled) and open a session."""
        form = await request.post()
        if not self._login_csrf_ok(request, form.get("csrf")):
            return self._form_page(
                request, "login.html", status=403, error="页面已失效，请重新输入。", username=""
            )
        username = str(form.get("username", ""))[:MAX_USERNAME_CHARS].strip()
        password = str(form.get("password", ""))[:MAX_FORM_PASSWORD_CHARS]
        ip, now = self.web.ip(request), self.web.now()
        check = await self.web.db(lambda s: begin_login(s, username=username, ip=ip, now=now))
        if check.wait_seconds:
            minutes = max(1, -(-check.wait_seconds // 60))
            return self._form_page(
                request,
                "login.html",
                status=429,
                error=f"登录失败次数过多，请 {minutes} 分钟后再试。",
                username=username,
            )
        ok, new_hash = await asyncio.to_thread(verify_password, check.password_hash, password)
        cookie = await self.web.db(
            lambda s: finish_login(
                s,
                check=check,
                username=username,
                ip=ip,
                ok=ok,
                new_hash=new_hash,
                secret=self.web.secret,
                now=now,
            )
        )
        if cookie is None:
            return self._form_page(
                request, "login.html", status=401, error="用户名或密码错误。", username=username
            )
        return self._signed_in(request, cookie)

    async def link_page(self, request: web.Request) -> web.Response:
        """A login link asks before it is used: chat apps open links to preview them."""
        token = request.query.get("t", "")[:64]
        return self._form_page(request, "link.html", token=token, error="")

    async def link(self, request: web.Request) -> web.Response:
        """Use a login link once and open a session."""
        form = await request.post()
        token = str(form.get("t", ""))[:64]
        if not self._login_csrf_ok(request, form.get("csrf")):
            return self._form_page(
                request, "link.html", status=403, token=token, error="页面已失效，请重试。"
            )
        ip, now = self.web.ip(request), self.web.now()
        try:
            cookie = await self.web.db(
                lambda s: redeem_login_link(s, token=token, secret=self.web.secret, now=now, ip=ip)
            )
        except LinkRefused as refused:
            log.warning("console login link refused: %s", refused.reason)
            return self._form_page(
                request, "link.html", status=403, token="", error=LINK_REFUSALS[refused.reason]
            )
        return self._signed_in(request, cookie)

    async def logout(self, request: web.Request) -> web.Response:
        """End the session everywhere and forget the cookie."""
        form = await request.post()
        now = self.web.now()

        def work(session: Session, user: SignedIn) -> None:
            end_session(session, session_id=user.session_id, now=now)

        await self.web.as_staff(request, work, form=form)
        response = web.HTTPSeeOther("/console/login")
        self.web.drop_session_cookie(response)
        raise response

    async def home(self, request: web.Request) -> web.Response:
        """Each role's first page."""

        def work(session: Session, user: SignedIn) -> str:
            if user.role in (Role.SUPERVISOR, Role.ADMIN):
                return "/console/dashboard"
            if user.role == Role.DISCIPLINE:
                return "/console/q/discipline"
            return "/console/q/unit"

        raise web.HTTPSeeOther(await self.web.as_staff(request, work))
