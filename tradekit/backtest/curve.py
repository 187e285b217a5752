"""The event engine's equity curve, built chunk by chunk as the trades stream past.

Equity is cash + held x price, piecewise between fills; after each chunk of trades
(`Curve.add`, with the trace's fills so far) it is computed for that chunk, and what a
result needs is kept: the deepest drawdown (every trade),
each period's last sample (the statistics' returns: `tradekit.backtest.result`) and,
for runs short enough to draw whole, every trade's price and equity. So a year of
one-second ticks costs the memory of one chunk and of its periods, not of its trades.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from tradekit.core.money import MONEY_CONTEXT, ZERO

KEEP_EVERY_TRADE = 4_000_000  # a longer run keeps one sample a period for its chart


class Curve:
    def __init__(
        self,
        balance: Decimal,
        period_ns: int | None,
        bars: bool,
        keep_all: bool,
        total: int | None = None,
    ) -> None:
        self.cash = balance
        self.held = ZERO
        self.period_ns = period_ns
        self.bars = bars
        self.keep_all = keep_all
        self.used_fills = 0
        self.peak: float | None = None
        self.worst = 0.0
        self.t0: int | None = None
        self.pending: tuple[int, int, float, float] | None = None  # bucket, ts, price, eq
        self.ends: list[tuple[Any, Any, Any]] = []  # (times, prices, equity) per chunk
        # every trade's (times, prices, equity) (keep_all): written into arrays of the
        # run's length when it is known (`total`) and comes in several chunks, else kept
        # as the chunks (joined at the end). Chunks joined at the end cost twice: the
        # freed chunks stay in the heap, the joined arrays are new.
        self.total = total
        self.every: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        self.whole: tuple[Any, Any, Any] | None = None
        self.kept = 0  # trades written into `whole`

    def add(self, offset: int, prices: Any, times: Any, fills: list[Any]) -> None:
        """Trades offset.. (float `prices`, int64 `times`); `fills` the trace's (tick,
        Fill) list, of which those not yet counted fall in this chunk or before."""
        import numpy as np

        n = len(prices)
        if not n:
            return
        fill_ticks = []
        cash = [float(self.cash)]
        held = [float(self.held)]
        with localcontext(MONEY_CONTEXT):
            for tick, f in fills[self.used_fills :]:
                value = f.price * f.size
                if f.side.value == "BUY":
                    self.cash -= value + f.commission
                    self.held += f.size
                else:
                    self.cash += value - f.commission
                    self.held -= f.size
                fill_ticks.append(max(tick - offset, 0))
                cash.append(float(self.cash))
                held.append(float(self.held))
        self.used_fills = len(fills)
        # cash and held are constant between fills: each repeated over its stretch (NumPy,
        # not the compiled kernel: an event run need not load Numba)
        at = np.asarray(fill_ticks, dtype=np.int64)
        lengths = np.diff(np.concatenate(([0], at, [n])))
        equity = np.repeat(np.asarray(held), lengths)
        equity *= prices
        equity += np.repeat(np.asarray(cash), lengths)
        peak = np.maximum.accumulate(equity)
        if self.peak is not None:
            np.maximum(peak, self.peak, out=peak)
        self.worst = max(self.worst, float(((peak - equity) / peak).max()))
        self.peak = float(peak[-1])
        if self.keep_all:
            self._keep(offset, (times, prices, equity))
        if self.period_ns is None:
            from tradekit.backtest.result import period_of

            self.period_ns = period_of(times, self.bars, None)
        if self.bars:
            ends = np.arange(3, n, 4)
        else:
            if self.t0 is None:
                self.t0 = int(times[0])
            bucket = (times - self.t0) // self.period_ns
            if self.pending is not None and self.pending[0] != int(bucket[0]):
                self._emit_pending()
            self.pending = (int(bucket[-1]), int(times[-1]), float(prices[-1]), float(equity[-1]))
            ends = np.flatnonzero(np.diff(bucket))
        self.ends.append((times[ends], prices[ends], equity[ends]))

    def _keep(self, offset: int, parts: tuple[Any, Any, Any]) -> None:
        import numpy as np

        n = len(parts[0])
        total = self.total
        if total is not None and offset + n > total:  # more than the source said: chunks
            if self.whole is not None:
                for column, whole in zip(self.every, self.whole, strict=True):
                    column.append(whole[: self.kept])
            total = self.total = self.whole = None
        if total is None or (offset == 0 and n == total):  # unknown, or one chunk
            for column, part in zip(self.every, parts, strict=True):
                column.append(part)
            return
        if self.whole is None:
            self.whole = (np.empty(total, np.int64), np.empty(total), np.empty(total))
        for column, part in zip(self.whole, parts, strict=True):
            column[offset : offset + n] = part
        self.kept = offset + n

    def _emit_pending(self) -> None:
        import numpy as np

        assert self.pending is not None
        _, ts, price, eq = self.pending
        self.ends.append((np.asarray([ts]), np.asarray([price]), np.asarray([eq])))
        self.pending = None

    def finish(self, first_ts: int, initial: Decimal) -> dict[str, Any]:
        """The result's curve fields: equity_times/values and prices (every trade, or one
        a period), period_times/period_equity (from the start), drawdown. Called once:
        the chunks' samples are let go as they are joined."""
        import numpy as np

        if self.pending is not None:
            self._emit_pending()

        def joined(parts: list[tuple[Any, Any, Any]], k: int, dtype: Any, *head: Any) -> Any:
            return np.concatenate([np.asarray(head, dtype=dtype), *(p[k] for p in parts)])

        # the periods' samples from the start; without every trade's, the chart draws
        # the periods' own (views, not copies: a year holds half a million minutes)
        period_times = joined(self.ends, 0, np.int64, first_ts)
        period_equity = joined(self.ends, 2, np.float64, float(initial))
        if self.whole is not None:  # up to KEEP_EVERY_TRADE samples
            times, prices, equity = (column[: self.kept] for column in self.whole)
        elif self.keep_all:
            times, prices, equity = (
                _taken(parts, dtype) for parts, dtype in zip(self.every, _DTYPES, strict=True)
            )
        else:
            times, equity = period_times[1:], period_equity[1:]
            prices = joined(self.ends, 1, np.float64)
        return {
            "equity_times": times,
            "prices": prices,
            "equity_values": equity,
            "period_times": period_times,
            "period_equity": period_equity,
            "drawdown": self.worst,
            "period_ns": self.period_ns or 60 * 10**9,
        }


_DTYPES = ("int64", "float64", "float64")  # times, prices, equity


def _taken(parts: list[Any], dtype: Any) -> Any:
    """The parts as one array (a single part as it is), the list emptied so that they
    can be freed before the next column is joined."""
    import numpy as np

    if len(parts) == 1:
        whole = np.asarray(parts[0]).astype(dtype, copy=False)
    else:
        whole = np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)
    parts.clear()
    return whole
