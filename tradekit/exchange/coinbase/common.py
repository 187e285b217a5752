"""What the async adapters and their generated sync twins share, defined once: errors
(so `except AuthenticationError` catches both flavours) and small value types."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tradekit.exchange.types import ExchangeBusy, ExchangeError


class AuthenticationError(ExchangeError):
    """401/403: the key was refused (its secret is never in the message)."""


class RateLimited(ExchangeBusy):
    """Still 429 after every retry (transient: ask again later)."""


class RequestRejected(ExchangeError):
    """400-class answer: the request itself was wrong."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


@dataclass(frozen=True)
class EditResult:
    success: bool
    failure_reason: str = ""
