"""Is the exchange answering for each pair? Degraded pairs and their back-off.

Transient trouble (a reply lost, rate limited, the exchange down) degrades a pair: its
stops stay where they are, the error is journaled once per episode, and the pair is
tried again after a bounded exponential back-off with jitter; the first full answer
ends the episode (journaled too). A permanent error is `ExchangeHalted`: the run stops.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from tradekit.exchange.types import ExchangeError
from tradekit.store.sqlite import Store

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0


@dataclass
class PairHealth:
    """Is the exchange answering for this pair? `degraded` says why not ("" = healthy)."""

    degraded: str = ""
    since_ns: int = 0
    errors: int = 0  # transient errors since the start
    retry_at: float = 0.0  # monotonic time of the next attempt while degraded
    backoff_s: float = 0.0
    recovered: bool = False  # its saved state reconciled with the exchange


class ExchangeHalted(ExchangeError):
    """A permanent error (the key refused, a request the exchange will never accept):
    the portfolio stopped and left its stops in place; the message says where."""


class HealthBook:
    """Every pair's health, and the notes an episode of trouble leaves in the store."""

    def __init__(self, pids: list[str], store: Store) -> None:
        self.pairs: dict[str, PairHealth] = {pid: PairHealth() for pid in pids}
        self.store = store
        self._rng = random.Random()

    def degrade(self, pid: str, reason: str, retry: bool, last_ts: int) -> None:
        """Start an episode, or (a retry that failed) wait longer before the next one."""
        health = self.pairs[pid]
        health.errors += 1
        if health.degraded and not retry:
            return  # trouble seen again meanwhile: the back-off schedule stands
        if not health.degraded:
            health.degraded = reason
            health.since_ns = time.time_ns()
            health.backoff_s = BACKOFF_MIN_S
            self.store.note(
                pid,
                f"{pid} degraded: {reason}; stops left where they are, retrying with back-off",
                last_ts or health.since_ns,
                {"degraded": True},
            )
        else:
            health.backoff_s = min(BACKOFF_MAX_S, health.backoff_s * 2)
        health.retry_at = time.monotonic() + self._rng.uniform(0.5, 1.0) * health.backoff_s

    def answered(self, pid: str, last_ts: int) -> None:
        """The exchange answered in full for the pair: an episode of trouble ends."""
        health = self.pairs[pid]
        if health.degraded:
            self.store.note(
                pid,
                f"{pid} recovered after {health.degraded}",
                last_ts or time.time_ns(),
                {"degraded": False},
            )
            health.degraded = ""
            health.backoff_s = 0.0

    def waiting(self, pid: str) -> bool:
        """Degraded and its back-off not over yet."""
        health = self.pairs[pid]
        return bool(health.degraded) and time.monotonic() < health.retry_at
