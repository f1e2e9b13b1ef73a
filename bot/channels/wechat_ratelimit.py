"""A per-user token bucket in memory, so one flooding driver cannot slow the others down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# 20 at once (an album of nine photos fits twice) and 0.9 more per second: 30 messages in
# 10 seconds (20 + 9 allowed) are always slowed, a person typing never is.
BURST = 20
PER_SECOND = 0.9
MAX_USERS = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class RateLimiter:
    """Token buckets keyed by user.

    The buckets live in this process: with several replicas behind a load balancer each
    replica applies the limit on its own, so a driver may get up to replicas × the rate.
    """

    def __init__(
        self,
        *,
        burst: int = BURST,
        per_second: float = PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_USERS,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_users = max_users
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key: str) -> str:
        """'ok' (a token was taken), 'warn' (first refusal: tell the user) or 'drop'."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        else:
            refill = (now - bucket.updated) * self.per_second
            bucket.tokens = min(float(self.burst), bucket.tokens + refill)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return "ok"
        if bucket.warned:
            return "drop"
        bucket.warned = True
        return "warn"

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely carries no information: drop those first.
        full_after = self.burst / self.per_second
        idle = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in idle or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]
