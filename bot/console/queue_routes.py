"""Queue pages (with filters and search) and the supervisors' dashboard."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlmodel import Session

from bot.console.common import ConsoleWeb
from handlers.console_auth import SignedIn
from handlers.console_dashboard import dashboard
from handlers.console_queries import (
    ALL_QUEUES,
    QueueRefused,
    clean_filters,
    queue_page,
    queues_for,
)
from handlers.console_search import catch_up
from handlers.staff_actions import PermissionDenied
from nlp.labels import CATEGORIES
from storage.lifecycle import TicketStatus
from storage.models import Staff
from storage.staffing import active_units

log = logging.getLogger(__name__)

FILTER_KEYS = ("status", "category", "unit", "channel", "from", "to", "q")
CHANNELS = ("wechat", "telegram", "web")


class QueueRoutes:
    """/console/q/{queue} and /console/dashboard."""

    def __init__(self, web_: ConsoleWeb) -> None:
        self.web = web_

    async def queue(self, request: web.Request) -> web.Response:
        """One page of a queue, filtered and optionally searched."""
        name = request.match_info["queue"]
        if name not in ALL_QUEUES:
            raise self.web.http_error(web.HTTPNotFound, "没有这个队列。")
        raw = {k: request.query.get(k, "")[:200] for k in FILTER_KEYS}
        filters = clean_filters(raw)
        cursor = request.query.get("after", "")[:64] or None
        now = self.web.now()

        def work(session: Session, user: SignedIn) -> dict[str, Any]:
            person = session.get(Staff, user.staff_id)
            assert person is not None
            if filters.q:
                indexed = catch_up(session)
                if indexed:
                    log.info("search index caught up with %d tickets", indexed)
            page = queue_page(
                session,
                person=person,
                queue=name,
                filters=filters,
                now=now,
                tz=self.web.tz,
                cursor=cursor,
            )
            units = {u.id: u.name for u in active_units(session)}
            return {"user": user, "page": page, "units": units, "queues": queues_for(person)}

        try:
            values = await self.web.as_staff(request, work)
        except QueueRefused:
            log.warning("console queue %s refused", name)
            raise self.web.http_error(web.HTTPForbidden, "您的岗位不能查看这个队列。") from None
        if filters.q:
            log.info("console search on %s: %d results", name, len(values["page"].rows))
        kept = {k: v for k, v in raw.items() if v}
        page = values["page"]
        next_url = (
            f"/console/q/{name}?" + urlencode({**kept, "after": page.next_cursor})
            if page.next_cursor
            else ""
        )
        return self.web.render(
            "queue.html",
            queue=name,
            filters=raw,
            next_url=next_url,
            statuses=[s.value for s in TicketStatus],
            categories=CATEGORIES,
            channels=CHANNELS,
            now=now,
            **values,
        )

    async def dashboard(self, request: web.Request) -> web.Response:
        """Today's intake, overdue work, hot spots and KPIs for a supervisor's jurisdiction."""
        now = self.web.now()

        def work(session: Session, user: SignedIn) -> dict[str, Any]:
            person = session.get(Staff, user.staff_id)
            assert person is not None
            board = dashboard(session, staff_id=user.staff_id, now=now, tz=self.web.tz)
            return {"user": user, "board": board, "queues": queues_for(person)}

        try:
            values = await self.web.as_staff(request, work)
        except PermissionDenied:
            raise self.web.http_error(
                web.HTTPForbidden, "工作台仅供督办人员和管理员使用。"
            ) from None
        return self.web.render("dashboard.html", now=now, **values)
