"""The simulator's rate limits: a token bucket per API key (private) and per client IP
(public), holding one second's worth; every answer says where the bucket stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by name (an API key, a client IP); one second's worth of burst.

    Times come from the event loop's monotonic clock; rates are read on every call, so
    a changed `state.rate_limit_per_s` takes effect at once.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, rate: float) -> tuple[bool, dict[str, str]]:
        now = self._clock()
        capacity = max(1.0, rate)
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._prune(now, rate)
            bucket = self._buckets[name] = _Bucket(capacity, now)
        elif rate > 0:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        reset = (capacity - bucket.tokens) / rate if rate > 0 else 0.0
        headers = {
            "x-ratelimit-limit": str(int(capacity)),
            "x-ratelimit-remaining": str(int(bucket.tokens)),
            "x-ratelimit-reset": f"{reset:.3f}",
        }
        return allowed, headers

    def _prune(self, now: float, rate: float) -> None:
        """Forget buckets idle long enough to be full again (they restart full)."""
        idle = 1.0 + (1.0 / rate if rate > 0 else 0.0)
        for name in [n for n, b in self._buckets.items() if now - b.updated > idle]:
            del self._buckets[name]
