"""Which live trades are news: a trade older than what the pair has already seen, or
older than `max_trade_age_s` when it was received, is neither decided on nor observed;
and whether a pair's market time is the wall clock's (a live market, not a replay)."""

from __future__ import annotations

import time

from tradekit.core.events import MarketTrade
from tradekit.store.sqlite import Store

__all__ = ["LIVE_CLOCK_NS", "TradeAges", "is_live"]

LIVE_CLOCK_NS = 120 * 10**9  # market time this close to the wall clock counts as live


def is_live(last_ts: int, now_ns: int) -> bool:
    """A pair's market time (`last_ts`, 0 before its first trade) is the wall clock's:
    a live market, not a replay of historical data."""
    return bool(last_ts) and 0 <= now_ns - last_ts <= LIVE_CLOCK_NS


class TradeAges:
    """The newest trade each pair has seen, and the episodes of old trades (journaled)."""

    def __init__(self, max_age_ns: int | None, store: Store) -> None:
        self.max_age_ns = max_age_ns
        self.store = store
        self._newest: dict[str, int] = {}  # pair -> the newest trade's time seen
        self._too_old_since: dict[str, int] = {}  # pair -> an episode of old trades began

    def seen(self, pid: str, ts: int) -> None:
        """Across a restart: nothing older than what the last run already knew."""
        self._newest[pid] = max(self._newest.get(pid, 0), ts)

    def too_old(self, pid: str, trade: MarketTrade, received: float) -> bool:
        """A live market's trade that is no news: older than the newest trade of its pair
        already seen (a replay after a reconnect or a restart: `last_ts` is persisted),
        or older than `max_trade_age_s` by the local clock when it was received (an
        exchange catching up after an outage). Neither decided on nor observed (its
        high would move the stop above today's market); counted, and journaled once per
        episode with its age. The core never reads a clock: this is the driver layer's."""
        newest = self._newest.get(pid, 0)
        why = ""
        if self.max_age_ns is not None:
            now = time.time_ns() - int((time.perf_counter() - received) * 1e9)  # at receipt
            age = now - trade.ts
            if age > self.max_age_ns:
                limit = self.max_age_ns / 1e9
                why = f"{age / 1e9:.1f} s old when received (max_trade_age {limit:g} s)"
        if not why and trade.ts < newest:
            why = f"older than the newest trade seen ({(newest - trade.ts) / 1e9:.3f} s)"
        if not why:
            self._newest[pid] = trade.ts
            if self._too_old_since.pop(pid, None) is not None:
                self.store.note(pid, f"{pid}: trades are current again", trade.ts, {"old": False})
            return False
        if pid not in self._too_old_since:
            self._too_old_since[pid] = trade.ts
            self.store.note(
                pid,
                f"{pid}: a trade at {trade.price} is {why}: not decided on, nor its high",
                time.time_ns(),
                {"old": True},
            )
        return True
