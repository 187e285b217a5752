"""Client-side rate limits: requests spread to Coinbase's rates before it has to refuse.

A portfolio that moves stops on every new high (min_ratchet 0 on a one-cent grid) can
send bursts of cancels and placements; Coinbase answers past its limits with 429s whose
bodies are unreliable. So every request first takes its turn from a `Pacer`: a token
bucket holding one second's worth that never refuses — a request past the burst waits
its turn (the wait `reserve` returns), so a burst is spread, not dropped.

Defaults are Coinbase's documented rates (coinbase_api.md, "Rate limits"): 30 private
requests per second per key, 10 public requests per second per IP. A pacer is shared by
every adapter in the process that uses the same key (private) or host (public), since
that is what Coinbase counts. When the server announces its limit (`x-ratelimit-limit`,
requests per second, and `x-ratelimit-remaining`, as Coinbase's SDK reads them and the
simulator sends them), the pacer follows the server's figures. The clock is injectable
so that tests drive time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["PRIVATE_PER_S", "PUBLIC_PER_S", "Pacer", "shared_pacer"]

PRIVATE_PER_S = 30.0  # Coinbase: private endpoints, per API key
PUBLIC_PER_S = 10.0  # Coinbase: public endpoints, per IP

_PACERS: dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


class Pacer:
    """A token bucket that never refuses: `reserve()` is how long to wait for one's turn.

    Tokens may go below zero: each reservation past the burst queues behind the earlier
    ones, 1/rate seconds apart. Thread-safe (sync adapters may share it across threads).
    """

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        self.rate = float(rate_per_s)
        self._clock = clock
        self._tokens = self.capacity
        self._at: float | None = None
        self._lock = threading.Lock()

    @property
    def capacity(self) -> float:
        """The burst: one second's worth (at least one request)."""
        return max(1.0, self.rate)

    def reserve(self) -> float:
        """Take a turn; the seconds to wait before sending (0.0: send now)."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def _refill(self) -> None:
        now = self._clock()
        if self._at is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def announce(self, rate_per_s: float, remaining: float | None = None) -> None:
        """The server said its limit (and how many requests it has left): follow it.

        A lower burst applies at once; never more turns than the server has left."""
        if rate_per_s <= 0:
            return
        with self._lock:
            self._refill()
            self.rate = float(rate_per_s)
            self._tokens = min(self._tokens, self.capacity)
            if remaining is not None and remaining >= 0:
                self._tokens = min(self._tokens, remaining)


def shared_pacer(
    name: str, default_rate_per_s: float, clock: Callable[[], float] = time.monotonic
) -> Pacer:
    """The process-wide pacer for `name` (a key, or a host for public calls)."""
    with _PACERS_LOCK:
        pacer = _PACERS.get(name)
        if pacer is None:
            pacer = _PACERS[name] = Pacer(default_rate_per_s, clock)
        return pacer
