"""What a portfolio's run counted: events, commands, polls, trades not decided on, and
how long a feed event took to reach a decision (exact figures for benchmarks and the
monitor; nothing here steers trading)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["PortfolioStats"]


@dataclass
class PortfolioStats:
    messages: int = 0  # events taken from the feed
    commands: int = 0
    polls: int = 0  # REST lookups made because the user channel was silent
    unrouted: int = 0  # order events for no pair of ours
    deferred: int = 0  # trades seen too late to decide on (older than stale_after_s)
    superseded: int = 0  # trades only observed: a newer one of the pair was waiting
    # trades neither decided on nor observed: older than max_trade_age when received, or
    # older than the newest trade of their pair already seen (this run or the last)
    too_old: int = 0
    # a feed event's receipt to the end of the commands it caused (REST calls included)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    # ... to the moment its pair decided on it (how old the price was), same events
    decision_waits_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
