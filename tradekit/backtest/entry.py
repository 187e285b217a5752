"""The entry rule a backtest needs most: buy once, at a given trade index or time.

"What would a 2 % trail have done on last month's BTC-USD?" asks for one position,
entered at the start (or at a chosen bar) and then trailed until the stop sells. The
rules in `tradekit.core.entry` enter again after every exit; this one never does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradekit.core.money import ONE, ZERO, to_decimal


class EnterOnce:
    """Bid `offset_pct` below the last trade once, at the first trade whose index is
    at least `at_tick` (0 = the first trade) and whose time is at least `at_ts`.

    After that it never signals again, whether the entry filled, timed out or was refused.
    """

    name = "once"

    def __init__(self, at_tick: int = 0, at_ts: int | None = None, offset_pct: object = ZERO):
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
