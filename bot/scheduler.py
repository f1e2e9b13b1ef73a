"""Scheduled jobs: a few interval jobs reading the database, never one job per ticket."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.periodic import monthly_work, survey_pass
from bot.services import Services
from handlers.escalation import SweepReport, sweep
from handlers.hot_spots import detect_hot_spots
from storage.engine import transaction

log = logging.getLogger(__name__)

# Hot spots (预防预警): this many complaints about one unit, station, road or officer number
# within this many days warn the supervisors once. Fixed until a deployment needs to tune them.
HOT_SPOT_MIN_COUNT = 3
HOT_SPOT_WINDOW_DAYS = 30


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

    def _sweep() -> SweepReport:
        with transaction(services.engine) as session:
            return sweep(session, now=services.clock(), calendar=services.rules.calendar)

    async def sla_sweep() -> None:
        # Every replica may run it: the escalation rows make each warning happen once.
        report = await asyncio.to_thread(_sweep)
        if report.tickets or report.lost:
            log.info(
                "sla sweep: yellow %d, red %d, superior %d, urgent %d, lost races %d",
                report.yellow,
                report.red,
                report.superior,
                report.urgent_alert,
                report.lost,
            )

    def _hot_spots() -> int:
        with transaction(services.engine) as session:
            found = detect_hot_spots(
                session,
                now=services.clock(),
                min_count=HOT_SPOT_MIN_COUNT,
                window_days=HOT_SPOT_WINDOW_DAYS,
                calendar=services.rules.calendar,
            )
            return len(found)

    async def hot_spot_scan() -> None:
        found = await asyncio.to_thread(_hot_spots)
        if found:
            log.info("hot spots: %d new", found)

    async def surveys() -> None:
        # Every replica may run it: surveys are claimed row by row (handlers.surveys).
        run = await asyncio.to_thread(survey_pass, services)
        if run.total or run.postponed:
            log.info("surveys: %s", run)

    async def monthly() -> None:
        await monthly_work(services)

    scheduler.add_job(deliver_outbox, "interval", seconds=2, id="outbox", **defaults)
    scheduler.add_job(surveys, "interval", minutes=1, id="surveys", **defaults)
    scheduler.add_job(monthly, "interval", minutes=30, id="monthly", **defaults)
    scheduler.add_job(sla_sweep, "interval", minutes=5, id="sla-sweep", **defaults)
    scheduler.add_job(hot_spot_scan, "interval", minutes=30, id="hot-spots", **defaults)
    scheduler.add_job(flag_stale_sends, "interval", minutes=1, id="outbox-stale", **defaults)
    return scheduler
