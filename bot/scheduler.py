"""Scheduled jobs: a few interval jobs reading the database, never one job per ticket."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services import Services

log = logging.getLogger(__name__)


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """The in-memory scheduler with the service's jobs (state lives in our tables)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    # coalesce + generous misfire grace: a job missed while busy runs once, not zero times.
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}

    async def deliver_outbox() -> None:
        report = await services.delivery.deliver_due(limit=100)
        if report.sent or report.failed or report.unknown:
            log.info("outbox: %s", report)

    async def flag_stale_sends() -> None:
        services.delivery.flag_stale(older_than=timedelta(minutes=5))

    scheduler.add_job(deliver_outbox, "interval", seconds=2, id="outbox", **defaults)
    scheduler.add_job(flag_stale_sends, "interval", minutes=1, id="outbox-stale", **defaults)
    return scheduler
