"""Entry rules: given the market, say when and at what limit price to buy.

A rule sees every trade (`observe`), and is asked for a signal (`signal`) only while the
pair is flat. It returns a limit price (the engine rounds it down to the price grid) or
None. Rules are pure and carry their own state, which `snapshot`/`restore` persist.

Two optional members let a backtest skip the trades that cannot matter (see
`DecisionEngine.quiet_band`): `skipped(count)` observes `count` trades at once (only for a
rule whose state does not depend on their prices), and `idle` is True while `signal` will
return None whatever the trade. A rule without them is shown every trade.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from tradekit.core.money import ONE, ZERO, to_decimal


@runtime_checkable
class EntryRule(Protocol):
    name: str

    def observe(self, price: Decimal, ts: int) -> None:
        """See one trade, whatever the pair is doing."""

    def signal(self, price: Decimal, ts: int) -> Decimal | None:
        """While flat, after `observe`: a limit price to enter at now, or None."""

    def snapshot(self) -> dict[str, Any]:
        """State to persist (JSON-able)."""

    def restore(self, state: dict[str, Any]) -> None:
        """Load what `snapshot` returned."""


class FixedOffsetEntry:
    """Enter at once, at a fixed fraction below the last trade: `price * (1 - offset_pct)`."""

    name = "fixed_offset"

    def __init__(self, offset_pct: Decimal) -> None:
        self.offset_pct = to_decimal(offset_pct, "offset_pct")
        if not ZERO <= self.offset_pct < ONE:
            raise ValueError(f"offset_pct must be in [0, 1), got {self.offset_pct}")
        self._keep = ONE - self.offset_pct

    idle = False  # while flat it bids on every trade

    def observe(self, price: Decimal, ts: int) -> None:
        pass

    def skipped(self, count: int) -> None:
        pass

    def signal(self, price: Decimal, ts: int) -> Decimal | None:
        return price * self._keep

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        pass


class PullbackEntry:
    """Enter on a pullback: when the price is `pullback_pct` below the highest trade of
    the last `window_ns`, bid `offset_pct` below the current price.

    The rolling high is a monotonic deque: O(1) per trade, whatever the window.
    """

    name = "pullback"

    def __init__(self, pullback_pct: Decimal, window_ns: int, offset_pct: Decimal = ZERO) -> None:
        self.pullback_pct = to_decimal(pullback_pct, "pullback_pct")
        self.offset_pct = to_decimal(offset_pct, "offset_pct")
        if not ZERO < self.pullback_pct < ONE:
            raise ValueError(f"pullback_pct must be between 0 and 1, got {self.pullback_pct}")
        if not ZERO <= self.offset_pct < ONE:
            raise ValueError(f"offset_pct must be in [0, 1), got {self.offset_pct}")
        if window_ns <= 0:
            raise ValueError(f"window must be positive, got {window_ns} ns")
        self.window_ns = window_ns
        self._drop = ONE - self.pullback_pct
        self._keep = ONE - self.offset_pct
        self._highs: deque[tuple[int, Decimal]] = deque()  # (ts, price), prices decreasing

    def observe(self, price: Decimal, ts: int) -> None:
        highs = self._highs
        while highs and highs[-1][1] <= price:
            highs.pop()
        highs.append((ts, price))
        horizon = ts - self.window_ns
        while highs[0][0] < horizon:
            highs.popleft()

    @property
    def recent_high(self) -> Decimal | None:
        return self._highs[0][1] if self._highs else None

    def signal(self, price: Decimal, ts: int) -> Decimal | None:
        high = self.recent_high
        if high is None or price > high * self._drop:
            return None
        return price * self._keep

    def snapshot(self) -> dict[str, Any]:
        return {"highs": [[ts, str(p)] for ts, p in self._highs]}

    def restore(self, state: dict[str, Any]) -> None:
        self._highs = deque((int(ts), Decimal(p)) for ts, p in state.get("highs", []))


class EnterOnce:
    """Buy once: what a backtest asks ("what would a 2 % trail have done on last
    month's BTC-USD?"); the other rules enter again after every exit, this one never does.

    Bid `offset_pct` below the last trade once, at the first trade whose index is
    at least `at_tick` (0 = the first trade) and whose time is at least `at_ts`.

    After that it never signals again, whether the entry filled, timed out or was refused.
    """

    name = "once"

    def __init__(
        self, at_tick: int = 0, at_ts: int | None = None, offset_pct: object = ZERO
    ) -> None:
        if isinstance(at_tick, bool) or not isinstance(at_tick, int) or at_tick < 0:
            raise ValueError(f"at_tick must be an int >= 0, got {at_tick!r}")
        if at_ts is not None and (isinstance(at_ts, bool) or not isinstance(at_ts, int)):
            raise ValueError(f"at_ts must be int nanoseconds, got {at_ts!r}")
        self.at_tick = at_tick
        self.at_ts = at_ts
        self.offset_pct = to_decimal(offset_pct, "offset_pct")
        if not ZERO <= self.offset_pct < ONE:
            raise ValueError(f"offset_pct must be in [0, 1), got {self.offset_pct}")
        self._keep = ONE - self.offset_pct
        self.seen = 0  # trades observed
        self.fired = False

    def observe(self, price: Decimal, ts: int) -> None:
        self.seen += 1

    def skipped(self, count: int) -> None:
        self.seen += count

    @property
    def idle(self) -> bool:
        return self.fired

    def signal(self, price: Decimal, ts: int) -> Decimal | None:
        if self.fired or self.seen <= self.at_tick:
            return None
        if self.at_ts is not None and ts < self.at_ts:
            return None
        self.fired = True
        return price * self._keep

    def snapshot(self) -> dict[str, Any]:
        return {"seen": self.seen, "fired": self.fired}

    def restore(self, state: dict[str, Any]) -> None:
        self.seen = int(state.get("seen", 0))
        self.fired = bool(state.get("fired", False))

    def __repr__(self) -> str:
        return (
            f"EnterOnce(at_tick={self.at_tick}, at_ts={self.at_ts}, offset_pct={self.offset_pct})"
        )
