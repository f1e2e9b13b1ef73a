"""The staff web console at /console: server-rendered pages, zh-CN, no script.

Routes (a sub-application, so its middleware touches nothing else):

- GET /console → the role's first page; GET|POST /console/login; GET|POST /console/link
  (one-time login link, confirmed by a button); POST /console/logout
- GET /console/q/{queue}?status=&category=&unit=&channel=&from=&to=&q=&after= → a queue
  (mine, unit, incoming, overdue, due_soon, supervised, urgent, discipline, all)
- GET /console/dashboard → supervisors' and administrators' dashboard
- GET /console/t/{ticket_no}; POST /console/t/{ticket_no}/{action} (sign, handle, note,
  reply, close, reject, transfer, accept, return, extend, approve, assign, supervise,
  recategorize); POST …/identity (show identity, with a reason); POST …/attach (upload)
- GET /console/a/{attachment_id} → a file of a visible ticket (?inline=1 for images)
- GET /console/static/console.css
"""

from __future__ import annotations

from aiohttp import web

from bot.console.auth_routes import AuthRoutes
from bot.console.common import STATIC_CSS, ConsoleWeb, security_headers
from bot.console.queue_routes import QueueRoutes
from bot.console.ticket_routes import TicketRoutes
from bot.services import Services

TICKET = "{ticket_no:[A-Za-z0-9-]{1,40}}"


async def _css(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC_CSS,
        headers={"Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600"},
    )


def setup_console(app: web.Application, services: Services) -> None:
    """Mount the console under /console."""
    shared = ConsoleWeb(services)
    auth, queues, tickets = AuthRoutes(shared), QueueRoutes(shared), TicketRoutes(shared)
    console = web.Application(middlewares=[security_headers])
    router = console.router
    router.add_get("", auth.home)
    router.add_get("/", auth.home)
    router.add_get("/login", auth.login_page)
    router.add_post("/login", auth.login)
    router.add_get("/link", auth.link_page)
    router.add_post("/link", auth.link)
    router.add_post("/logout", auth.logout)
    router.add_get("/static/console.css", _css)
    router.add_get("/dashboard", queues.dashboard)
    router.add_get("/q/{queue}", queues.queue)
    router.add_get(f"/t/{TICKET}", tickets.page)
    router.add_post(f"/t/{TICKET}/identity", tickets.identity)
    router.add_post(f"/t/{TICKET}/attach", tickets.upload)
    router.add_post(f"/t/{TICKET}/{{action:[a-z]{{1,20}}}}", tickets.act)
    router.add_get("/a/{attachment_id:[0-9]{1,11}}", tickets.download)
    app.add_subapp("/console", console)
