"""The simulator's recent market past, per product: trades, one-minute bars, extremes.

Why it exists: the streaming channels (ticker's 24 h figures, `candles`, the
`market_trades` snapshot) and REST (`/products/{id}/candles`, market trades) all need
the recent past, and a simulator left running for days at max speed must not grow
without bound. `SimState.advance` feeds every trade here (before publishing it), so
whoever reads `state.history[product_id]` sees the same past.

Bounds and approximations:
- `trades`: the last `max_trades` trades (default 10,000), oldest first.
- `bars`: one-minute OHLCV bars by trade timestamp (unix minute buckets), the last
  `max_bars` (default two days). A trade older than the newest bar (a source out of time
  order) is folded into the newest bar rather than reopening an old one.
- 24 h figures (`day_stats`): over the bars whose minute started within 24 h of the
  newest trade, so at one-minute resolution. Under a fast `--speed` the trades are
  stamped with wall-clock times and so all fall into a few minutes: the "24 h" figures
  then cover the whole run.
- 52-week figures: the lowest/highest price since the simulator started (`low`, `high`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.exchange.types import Candle

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_DAY = 86_400 * NS_PER_SECOND
DEFAULT_MAX_TRADES = 10_000
DEFAULT_MAX_BARS = 2 * 1440
_ZERO = Decimal(0)


def tick_side(previous_price: Decimal | None, previous_side: str, price: Decimal) -> str:
    """The taker side by the tick rule: an uptick was a BUY, a downtick a SELL.

    The paper exchange prints trades without an aggressor, so `market_trades` needs a
    rule; a zero tick repeats the previous side (the first trade counts as a BUY).
    """
    if previous_price is None or price > previous_price:
        return "BUY"
    if price < previous_price:
        return "SELL"
    return previous_side


class Bar:
    """One mutable one-minute OHLCV bar (`start` in ns, a multiple of a minute)."""

    __slots__ = ("close", "high", "low", "open", "start", "volume")

    def __init__(self, start: int, trade: MarketTrade) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = trade.price
        self.volume = trade.size

    def add(self, trade: MarketTrade) -> None:
        price = trade.price
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.volume += trade.size


@dataclass(frozen=True, slots=True)
class DayStats:
    """The 24 h figures of the ticker channel (see the module docstring)."""

    volume: Decimal
    low: Decimal
    high: Decimal
    open: Decimal  # the first price of the window, for price_percent_chg_24_h


class TradeHistory:
    """The bounded recent past of one product; fed by `SimState.advance`."""

    def __init__(
        self, max_trades: int = DEFAULT_MAX_TRADES, max_bars: int = DEFAULT_MAX_BARS
    ) -> None:
        if max_trades < 1 or max_bars < 1:
            raise ValueError("max_trades and max_bars must be >= 1")
        self.trades: deque[MarketTrade] = deque(maxlen=max_trades)
        self.sides: deque[str] = deque(maxlen=max_trades)  # tick-rule side of each trade
        self.bars: deque[Bar] = deque(maxlen=max_bars)
        self.low: Decimal | None = None
        self.high: Decimal | None = None
        self.count = 0  # trades ever added
        self._day_key: tuple[int, int] | None = None
        self._day_closed: tuple[Decimal, Decimal | None, Decimal | None, Decimal | None] = (
            _ZERO,
            None,
            None,
            None,
        )

    @property
    def last(self) -> MarketTrade | None:
        return self.trades[-1] if self.trades else None

    @property
    def last_side(self) -> str:
        return self.sides[-1] if self.sides else "BUY"

    def add(self, trade: MarketTrade) -> None:
        last = self.last
        previous = None if last is None else last.price
        self.sides.append(tick_side(previous, self.last_side, trade.price))
        self.trades.append(trade)
        self.count += 1
        price = trade.price
        if self.low is None or price < self.low:
            self.low = price
        if self.high is None or price > self.high:
            self.high = price
        start = trade.ts - trade.ts % NS_PER_MINUTE
        bars = self.bars
        if bars and start <= bars[-1].start:
            bars[-1].add(trade)
        else:
            bars.append(Bar(start, trade))

    def day_stats(self) -> DayStats | None:
        """24 h volume/low/high/open up to the newest trade; None before any trade.

        The closed bars' part is cached per (newest bar, window start), so a ticker per
        trade costs O(1) except once a minute.
        """
        if not self.bars:
            return None
        current = self.bars[-1]
        since = current.start + NS_PER_MINUTE - NS_PER_DAY
        key = (current.start, since)
        if key != self._day_key:
            volume = _ZERO
            low: Decimal | None = None
            high: Decimal | None = None
            first: Decimal | None = None
            for i in range(len(self.bars) - 2, -1, -1):
                bar = self.bars[i]
                if bar.start < since:
                    break
                volume += bar.volume
                if low is None or bar.low < low:
                    low = bar.low
                if high is None or bar.high > high:
                    high = bar.high
                first = bar.open
            self._day_key = key
            self._day_closed = (volume, low, high, first)
        volume, low, high, first = self._day_closed
        return DayStats(
            volume=volume + current.volume,
            low=current.low if low is None or current.low < low else low,
            high=current.high if high is None or current.high > high else high,
            open=current.open if first is None else first,
        )

    def candles(
        self, granularity_s: int, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[Candle]:
        """Bars merged into `granularity_s` candles (a multiple of 60), oldest first.

        Only candles whose start lies in [start_ns, end_ns) (when given) are returned;
        a candle covers what the kept one-minute bars hold (older ones are gone).
        """
        width = _width(granularity_s)
        out: list[Candle] = []
        acc: list[Bar] = []
        for bar in self.bars:
            bucket = bar.start - bar.start % width
            if start_ns is not None and bucket < start_ns:
                continue
            if end_ns is not None and bucket >= end_ns:
                break
            if acc and acc[0].start - acc[0].start % width != bucket:
                out.append(_merge(acc, width))
                acc = []
            acc.append(bar)
        if acc:
            out.append(_merge(acc, width))
        return out

    def current_candle(self, granularity_s: int) -> Candle | None:
        """The candle (of `granularity_s`) holding the newest trade, None before any."""
        width = _width(granularity_s)
        if not self.bars:
            return None
        newest = self.bars[-1].start
        bucket = newest - newest % width
        acc: list[Bar] = []
        for i in range(len(self.bars) - 1, -1, -1):
            bar = self.bars[i]
            if bar.start < bucket:
                break
            acc.append(bar)
        acc.reverse()
        return _merge(acc, width)


def _width(granularity_s: int) -> int:
    if granularity_s <= 0 or granularity_s % 60:
        raise ValueError(f"granularity must be a positive multiple of 60 s: {granularity_s}")
    return granularity_s * NS_PER_SECOND


def _merge(bars: list[Bar], width: int) -> Candle:
    start = bars[0].start - bars[0].start % width
    return Candle(
        start=start,
        open=bars[0].open,
        high=max(b.high for b in bars),
        low=min(b.low for b in bars),
        close=bars[-1].close,
        volume=sum((b.volume for b in bars), _ZERO),
    )
