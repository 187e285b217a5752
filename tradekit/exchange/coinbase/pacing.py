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

**Protective requests first.** Under a burst (a 429 storm, many pairs moving at once) a
first-come queue would make a stop's re-placement wait behind other pairs' polls and
entries while its position is unprotected. So the adapter waits with a ticket
(`enter`/`turn`/`leave`) that carries a `Priority`: the requests of a protective
command (a stop's placement, an exit, the cancel that makes way for either) are served
ahead of entries, polls, lookups and entry cancels, under the same budget per key. The
driver says what a request is for with `request_priority(priority_of(command))` (a
context variable: nothing else in between needs to know).
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from enum import IntEnum
from typing import Any

__all__ = [
    "PRIVATE_PER_S",
    "PUBLIC_PER_S",
    "Pacer",
    "Priority",
    "current_priority",
    "priority_of",
    "request_priority",
    "shared_pacer",
]

PRIVATE_PER_S = 30.0  # Coinbase: private endpoints, per API key
PUBLIC_PER_S = 10.0  # Coinbase: public endpoints, per IP

EPSILON = 1e-6  # a turn's token, allowing for float rounding of the refill
MIN_WAIT_S = 1e-4  # never a wait so short that the clock cannot show it passed


class Priority(IntEnum):
    """Who goes first when requests wait for a turn (lower first)."""

    PROTECT = 0  # a stop's placement, an exit, the cancels that make way for them
    ROUTINE = 1  # entries, polls and lookups, cancels of entries


# Cancels that open or end an unprotected moment: served with the placement they lead to.
_PROTECTIVE_CANCELS = frozenset(
    {"stop_move", "stop_resize", "flatten", "breach", "gap_through", "exit_reprice"}
)

_PROTECTIVE_KINDS = frozenset({"PlaceStopLimitSell", "PlaceLimitSell", "EditStopOrder"})

_PRIORITY: ContextVar[Priority] = ContextVar("tradekit_request_priority", default=Priority.ROUTINE)


def priority_of(command: Any) -> Priority:
    """A core command's priority: every stop placement (a re-placement after its
    cancel, or a new fill's first stop) and every exit (`PlaceLimitSell`) is protective,
    and so is a cancel whose reason makes way for one, and a lookup of a stop or an exit
    in doubt; entries, entry cancels and other lookups are routine."""
    kind = type(command).__name__
    if kind in _PROTECTIVE_KINDS:
        return Priority.PROTECT
    if kind == "QueryOrder" and getattr(command, "protective", False):
        return Priority.PROTECT  # the truth about a stop or an exit in doubt
    if kind == "CancelOrder" and str(getattr(command, "reason", "")) in _PROTECTIVE_CANCELS:
        return Priority.PROTECT
    return Priority.ROUTINE


class request_priority:  # lower case: used as a function, `with request_priority(p):`
    """Every request made inside (in this task or thread) waits with this priority.
    A class, not a generator: every command a driver performs (a backtest's stop moves
    included) enters one."""

    __slots__ = ("_priority", "_token")

    def __init__(self, priority: Priority) -> None:
        self._priority = priority

    def __enter__(self) -> None:
        self._token = _PRIORITY.set(self._priority)

    def __exit__(self, *exc: object) -> None:
        _PRIORITY.reset(self._token)


def current_priority() -> Priority:
    return _PRIORITY.get()


_PACERS: dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


class Pacer:
    """A token bucket that never refuses: `reserve()` is how long to wait for one's turn.

    Tokens may go below zero: each reservation past the burst queues behind the earlier
    ones, 1/rate seconds apart. Thread-safe (sync adapters may share it across threads).

    Waiting by priority: `enter(priority)` takes a ticket, `turn(ticket)` is 0.0 when it
    is the ticket's turn (the token taken) or how long to wait before asking again (a
    more urgent ticket may have come in meanwhile), `leave(ticket)` gives up a ticket
    that never got its turn (a cancelled caller). Tickets queue by (priority, arrival),
    behind any `reserve()` already made.
    """

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        self.rate = float(rate_per_s)
        self._clock = clock
        self._tokens = self.capacity
        self._at: float | None = None
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, int]] = []  # tickets, sorted: (priority, arrival)
        self._arrivals = itertools.count()

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

    def enter(self, priority: Priority = Priority.ROUTINE) -> tuple[int, int]:
        ticket = (int(priority), next(self._arrivals))
        with self._lock:
            bisect.insort(self._waiting, ticket)
        return ticket

    def turn(self, ticket: tuple[int, int]) -> float:
        """0.0: go now (the token is taken); else the seconds to wait before asking again."""
        with self._lock:
            self._refill()
            ahead = bisect.bisect_left(self._waiting, ticket)  # tickets served before it
            need = ahead + 1 - self._tokens
            if need <= EPSILON:
                self._tokens -= 1.0
                del self._waiting[ahead]
                return 0.0
            return max(need / self.rate, MIN_WAIT_S)

    def leave(self, ticket: tuple[int, int]) -> None:
        with self._lock:
            i = bisect.bisect_left(self._waiting, ticket)
            if i < len(self._waiting) and self._waiting[i] == ticket:
                del self._waiting[i]

    @property
    def waiting(self) -> int:
        """Tickets waiting for their turn now."""
        return len(self._waiting)

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
