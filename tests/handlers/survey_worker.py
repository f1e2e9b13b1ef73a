"""A delivery worker that dies for real between claiming outbox rows and sending them.

Run as `python survey_worker.py DATABASE_URL NOW_ISO LIMIT`: it claims up to LIMIT due rows
of the `test` channel, then kills itself with SIGKILL as the first send begins, leaving the
claimed rows 'sending' exactly as a crashed replica would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from typing import Any

from bot.outbox import OutboxDelivery
from storage.engine import make_engine


class DyingSender:
    """Dies the moment it is asked to send anything."""

    async def send(self, *, recipient: str, payload: dict[str, Any]) -> None:
        """SIGKILL this process: no cleanup, no exception handling, nothing sent."""
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    """Claim and die."""
    url, now, limit = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
    delivery = OutboxDelivery(
        engine=make_engine(url),
        senders={"test": DyingSender()},
        clock=lambda: now,
        worker_id="doomed",
    )
    asyncio.run(delivery.deliver_due(limit=limit))


if __name__ == "__main__":
    main()
