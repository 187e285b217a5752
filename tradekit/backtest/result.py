"""`BacktestResult`: trades, stop history, mark-to-market equity and statistics.

Money stays exact: every price, size, fee and P&L is a Decimal (`to_dataframe()`,
`to_dict()`, `--json` as strings). What is shown to people (`summary()`, `repr`, the
charts' hover text) is rounded to cents or to the product's increments. The equity
curve's per-tick samples are floats (they only draw the chart and locate the
drawdown); the final equity, the return and the P&L are computed exactly.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, overload

from tradekit.core.money import MONEY_CONTEXT, ZERO, ProductSpec, plain
from tradekit.core.orders import Order
from tradekit.format import count, size

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Trade:
    """One position, entry to exit (exit fields None while it is still open at the end).

    Prices are size-weighted averages of the fills; `pnl` is realized P&L with all fees
    for a closed trade, and marked to the last price for an open one."""

    entry_tick: int
    entry_bar: int
    entry_ts: int
    entry_price: Decimal
    size: Decimal
    exit_tick: int | None
    exit_bar: int | None
    exit_ts: int | None
    exit_price: Decimal | None
    fees: Decimal
    pnl: Decimal

    @property
    def is_open(self) -> bool:
        return self.exit_tick is None


@dataclass(frozen=True, slots=True)
class StopLevel:
    """A stop the exchange acknowledged: from `tick` on, this trigger protected the size."""

    tick: int
    bar: int
    ts: int
    trigger: Decimal
    limit: Decimal
    size: Decimal


class StopHistory(Sequence[StopLevel]):
    """A result's stop history (both paths') as integer columns: tick, time, trigger and
    limit in whole quote increments, and each stop's index into `sizes`. Each StopLevel
    (Decimals) is made when asked for, so a run with hundreds of thousands of stop
    moves costs arrays, not objects. Compares equal to a list of the same StopLevels."""

    def __init__(
        self,
        ticks: Any,
        times: Any,
        triggers: Any,
        limits: Any,
        owner: Any,
        sizes: list[Decimal],
        increment: Decimal,
        ticks_per_bar: int,
    ) -> None:
        self._cols = (ticks, times, triggers, limits, owner)
        self._sizes = sizes
        self._q = increment
        self._per_bar = ticks_per_bar

    def __len__(self) -> int:
        return len(self._cols[0])

    @overload
    def __getitem__(self, i: int) -> StopLevel: ...
    @overload
    def __getitem__(self, i: slice) -> list[StopLevel]: ...
    def __getitem__(self, i: int | slice) -> StopLevel | list[StopLevel]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        ticks, times, triggers, limits, owner = self._cols
        t = int(ticks[i])
        q = self._q
        with localcontext(MONEY_CONTEXT):
            return StopLevel(
                t,
                t // self._per_bar,
                int(times[i]),
                int(triggers[i]) * q,
                int(limits[i]) * q,
                self._sizes[int(owner[i])],
            )

    def __iter__(self) -> Iterator[StopLevel]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StopHistory({len(self)} stops)"


@dataclass(eq=True)
class StopLog:
    """The stops the exchange acknowledged during an event run (placed, or edited in
    place), appended as integer columns: the year bench's first 12 M ticks move its stop
    111,944 times, and an object per move (three Decimals, two ints) was most of the
    run's memory. `history()` gives the result's `StopHistory` over the same columns."""

    ticks: array[int] = field(default_factory=lambda: array("q"))
    times: array[int] = field(default_factory=lambda: array("q"))  # ns
    triggers: array[int] = field(default_factory=lambda: array("q"))  # quote increments
    limits: array[int] = field(default_factory=lambda: array("q"))  # quote increments
    owner: array[int] = field(default_factory=lambda: array("q"))  # index into sizes
    sizes: list[Decimal] = field(default_factory=list)  # the distinct sizes, in order
    increment: Decimal | None = None  # the product's quote increment (the first stop's)
    _size_index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ticks)

    def add(self, tick: int, ts: int, order: Order, increment: Decimal) -> None:
        """A stop-limit `order` as acknowledged at `tick`; its trigger and limit must
        lie on the quote grid `increment` (the core rounds them there): a level off it
        raises instead of being rounded into a stop that was never placed."""
        if self.increment is None:
            self.increment = increment
        elif increment != self.increment:
            raise ValueError(
                f"stop {order.client_order_id}: quote increment {increment} in a stop "
                f"history on {self.increment}"
            )
        assert order.stop_price is not None, "a stop-limit order has a trigger"
        trigger = _on_grid(order.stop_price, increment, "trigger", order, tick)
        limit = _on_grid(order.limit_price, increment, "limit", order, tick)
        k = self._owner(order.size)
        self.ticks.append(tick)
        self.times.append(ts)
        self.triggers.append(trigger)
        self.limits.append(limit)
        self.owner.append(k)

    def extend(
        self, ticks: Any, times: Any, triggers: Any, limits: Any, size: Decimal, increment: Decimal
    ) -> None:
        """Moves of one stop (its `size`) given as integer arrays, the levels already in
        whole `increment`s (a ratchet run's, `tradekit.backtest.runner.RatchetRuns`)."""
        if self.increment is None:
            self.increment = increment
        elif increment != self.increment:
            raise ValueError(f"quote increment {increment} in a stop history on {self.increment}")
        k = self._owner(size)
        self.ticks.extend(ticks.tolist())
        self.times.extend(times.tolist())
        self.triggers.extend(triggers.tolist())
        self.limits.extend(limits.tolist())
        self.owner.extend([k] * len(ticks))

    def _owner(self, size: Decimal) -> int:
        key = str(size)  # exact: value and exponent
        k = self._size_index.get(key)
        if k is None:
            k = self._size_index[key] = len(self.sizes)
            self.sizes.append(size)
        return k

    def history(self, ticks_per_bar: int) -> StopHistory:
        """The result's view of these stops (the columns are shared, not copied)."""
        q = self.increment if self.increment is not None else Decimal(1)
        cols = (self.ticks, self.times, self.triggers, self.limits, self.owner)
        return StopHistory(*cols, self.sizes, q, ticks_per_bar)


def _on_grid(price: Decimal, increment: Decimal, what: str, order: Order, tick: int) -> int:
    """`price` in whole `increment`s, exactly; a price between two steps raises."""
    steps, rest = MONEY_CONTEXT.divmod(price, increment)
    if rest:
        raise ValueError(
            f"stop {order.client_order_id} at tick {tick}: {what} {price} is off the "
            f"quote grid (increment {increment}); the stop history keeps whole increments"
        )
    return int(steps)


@dataclass
class BacktestResult:
    """What `tradekit.backtest` returns. See the module docstring."""

    product: ProductSpec
    params: dict[str, Any]
    path: str  # "events" (the backtest path) or "fast" (the NumPy fast path)
    trades: list[Trade]
    stops: Sequence[StopLevel]
    initial_equity: Decimal
    final_equity: Decimal
    fees: Decimal
    stop_moves: int
    n_ticks: int
    ticks_per_bar: int
    first_ts: int
    last_ts: int
    last_price: Decimal | None
    holding_ns: int = 0
    unprotected_ns: int = 0
    equity_times: Any = None  # int64 ns
    equity_values: Any = None  # float64 (for drawing)
    prices: Any = None  # float64 price per sample (for drawing)
    reports: list[Any] = field(default_factory=list, repr=False)  # but StopMoved (`stops`)
    drawdown: float | None = None  # computed by the runner when no curve is kept
    handled: int | None = None  # trades the rules handled one by one (the events path)
    period_ns: int = 60 * 10**9  # what a return is measured over (module docstring)
    period_times: Any = None  # int64 ns: the start, then each period's last sample
    period_equity: Any = None  # float64: the initial equity, then each period's last
    first_price: Decimal | None = None
    refused: dict[str, int] = field(default_factory=dict)  # entries refused, by reason

    # -- statistics --------------------------------------------------------------------

    @property
    def closed_trades(self) -> list[Trade]:
        return [t for t in self.trades if not t.is_open]

    @property
    def total_return(self) -> Decimal:
        """Final over initial equity, minus one (marked to the last price), exact."""
        if not self.initial_equity:
            return ZERO
        with localcontext(MONEY_CONTEXT):
            return self.final_equity / self.initial_equity - 1

    @property
    def pnl(self) -> Decimal:
        with localcontext(MONEY_CONTEXT):
            return self.final_equity - self.initial_equity

    @property
    def win_rate(self) -> float | None:
        closed = self.closed_trades
        if not closed:
            return None
        return sum(1 for t in closed if t.pnl > 0) / len(closed)

    @property
    def max_drawdown(self) -> float:
        """The deepest fall of equity from a previous peak, as a fraction (0.1 = 10 %)."""
        import numpy as np

        if self.drawdown is not None:
            return self.drawdown
        eq = self.equity_values
        if eq is None or len(eq) == 0:
            return 0.0
        peak = np.maximum.accumulate(eq)
        return float(np.max((peak - eq) / peak))

    @property
    def exposure(self) -> float:
        """The fraction of the run's time a position was held."""
        span = self.last_ts - self.first_ts
        return self.holding_ns / span if span > 0 else 0.0

    @property
    def unprotected_s(self) -> float:
        """Market time a position was held without an acknowledged resting stop."""
        return self.unprotected_ns / 1e9

    def stats(self, risk_free: float = 0.0) -> dict[str, Any]:
        """The statistics (module docstring for each definition), exact where they are
        money (Decimal) and floats elsewhere; None where undefined (no trade, no loss).
        `risk_free`: the annual risk-free rate, as a fraction (0.04 = 4 %). Shown
        rounded for people in a notebook (`Facts`)."""
        from tradekit.format import Facts

        out: dict[str, Any] = {
            "ticks": self.n_ticks,
            "bars": -(-self.n_ticks // self.ticks_per_bar),
            "trades": len(self.trades),
            "closed_trades": len(self.closed_trades),
            "initial_equity": self.initial_equity,
            "final_equity": self.final_equity,
            "pnl": self.pnl,
            "return": self.total_return,
            "buy_and_hold_return": self.buy_and_hold_return,
            "max_drawdown": self.max_drawdown,
            "win_rate": self.win_rate,
            "exposure": self.exposure,
            "fees": self.fees,
            "stop_moves": self.stop_moves,
            "unprotected_s": self.unprotected_s,
        }
        out.update(self.return_stats(risk_free))
        out.update(self.trade_stats())
        return Facts(out, product=self.product)

    @property
    def buy_and_hold_return(self) -> Decimal | None:
        if self.first_price is None or self.last_price is None or not self.first_price:
            return None
        with localcontext(MONEY_CONTEXT):
            return self.last_price / self.first_price - 1

    @property
    def periods_per_year(self) -> float:
        return YEAR_NS / self.period_ns

    def return_stats(self, risk_free: float = 0.0) -> dict[str, Any]:
        """Sharpe, Sortino, CAGR, Calmar and the drawdown's duration, from the period
        returns (module docstring)."""
        import numpy as np

        out: dict[str, Any] = {
            "sharpe": None,
            "sortino": None,
            "cagr": None,
            "calmar": None,
            "max_drawdown_duration_s": 0.0,
            "period_s": self.period_ns / 1e9,
            "risk_free": risk_free,
        }
        eq = self.period_equity
        if eq is None or len(eq) < 2:
            return out
        eq = np.asarray(eq, dtype=np.float64)
        ppy = self.periods_per_year
        returns = eq[1:] / eq[:-1] - 1.0
        n = len(returns)
        rf = (1.0 + risk_free) ** (1.0 / ppy) - 1.0
        excess = returns - rf
        mean = float(excess.mean())
        if n > 1:
            sd = float(returns.std(ddof=1))
            out["sharpe"] = mean / sd * math.sqrt(ppy) if sd > 0 else None
        down = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
        out["sortino"] = mean / down * math.sqrt(ppy) if down > 0 else None
        growth = float(eq[-1] / eq[0]) if eq[0] > 0 else 0.0
        if growth > 0:
            try:
                out["cagr"] = growth ** (ppy / n) - 1.0
            except OverflowError:
                out["cagr"] = math.inf
        dd = self.max_drawdown
        if out["cagr"] is not None and dd > 0:
            out["calmar"] = out["cagr"] / dd
        out["max_drawdown_duration_s"] = _underwater_s(eq, self.period_times)
        return out

    def trade_stats(self) -> dict[str, Any]:
        """Profit factor, expectancy, best/worst/average trade, durations (closed
        trades; module docstring)."""
        closed = self.closed_trades
        out: dict[str, Any] = {
            "profit_factor": None,
            "expectancy": None,
            "best_trade": None,
            "worst_trade": None,
            "avg_trade": None,
            "avg_trade_duration_s": None,
            "max_trade_duration_s": None,
        }
        if not closed:
            return out
        with localcontext(MONEY_CONTEXT):
            wins = sum((t.pnl for t in closed if t.pnl > 0), ZERO)
            losses = -sum((t.pnl for t in closed if t.pnl < 0), ZERO)
            out["profit_factor"] = float(wins / losses) if losses else None
            out["expectancy"] = sum((t.pnl for t in closed), ZERO) / len(closed)
            rets = [float(t.pnl / (t.entry_price * t.size)) for t in closed]
        out["best_trade"] = max(rets)
        out["worst_trade"] = min(rets)
        out["avg_trade"] = sum(rets) / len(rets)
        spans = [(t.exit_ts - t.entry_ts) / 1e9 for t in closed if t.exit_ts is not None]
        out["avg_trade_duration_s"] = sum(spans) / len(spans)
        out["max_trade_duration_s"] = max(spans)
        return out

    # -- tables and text ---------------------------------------------------------------

    def to_dataframe(self) -> Any:
        """The trades, one row each, exact Decimals (object columns) and UTC times."""
        import pandas as pd

        rows = [
            {
                "entry_bar": t.entry_bar,
                "entry_time": _time(t.entry_ts),
                "entry_price": t.entry_price,
                "size": t.size,
                "exit_bar": t.exit_bar,
                "exit_time": None if t.exit_ts is None else _time(t.exit_ts),
                "exit_price": t.exit_price,
                "fees": t.fees,
                "pnl": t.pnl,
                "open": t.is_open,
                "entry_tick": t.entry_tick,
                "exit_tick": t.exit_tick,
            }
            for t in self.trades
        ]
        return pd.DataFrame(rows, columns=list(_TRADE_COLUMNS))

    def stops_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "bar": s.bar,
                    "time": _time(s.ts),
                    "trigger": s.trigger,
                    "limit": s.limit,
                    "size": s.size,
                    "tick": s.tick,
                }
                for s in self.stops
            ],
            columns=["bar", "time", "trigger", "limit", "size", "tick"],
        )

    def equity_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {
                "time": pd.to_datetime(self.equity_times, utc=True),
                "tick": range(len(self.equity_times)),
                "price": self.prices,
                "equity": self.equity_values,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: Decimals as exact strings, times as ns and ISO-8601."""
        stats = {k: _json(v) for k, v in self.stats().items()}
        return {
            "product_id": self.product.product_id,
            "path": self.path,
            "params": {k: _json(v) for k, v in self.params.items()},
            "stats": stats,
            "trades": [
                {
                    "entry_bar": t.entry_bar,
                    "entry_ts": t.entry_ts,
                    "entry_time": _time(t.entry_ts).isoformat(),
                    "entry_price": plain(t.entry_price),
                    "size": plain(t.size),
                    "exit_bar": t.exit_bar,
                    "exit_ts": t.exit_ts,
                    "exit_time": None if t.exit_ts is None else _time(t.exit_ts).isoformat(),
                    "exit_price": None if t.exit_price is None else plain(t.exit_price),
                    "fees": plain(t.fees),
                    "pnl": plain(t.pnl),
                    "open": t.is_open,
                }
                for t in self.trades
            ],
            "stops": [
                {
                    "bar": s.bar,
                    "ts": s.ts,
                    "trigger": plain(s.trigger),
                    "limit": plain(s.limit),
                    "size": plain(s.size),
                }
                for s in self.stops
            ],
        }

    def summary(self) -> str:
        """A few lines for people: money in cents, prices on the product's grid."""
        q = self.product.quote_increment
        s = self.stats()
        win = "-" if s["win_rate"] is None else f"{s['win_rate']:.0%}"
        # where a trade happened: its bar on candles, its trade's index on trades
        at = "bar" if self.ticks_per_bar > 1 else "trade"
        bars = f"{s['bars']:,} bars, " if self.ticks_per_bar > 1 else ""
        lines = [
            f"backtest {self.product.product_id} ({self.path} path): {s['ticks']:,} ticks, "
            f"{bars}{count(s['trades'], 'trade')} ({s['closed_trades']} closed)",
            f"  equity {cents(self.initial_equity)} -> {cents(self.final_equity)}  "
            f"P&L {cents(self.pnl, sign=True)}  return {signed_pct(self.total_return)}  "
            f"max drawdown {s['max_drawdown']:.2%}",
            f"  win rate {win}  exposure {s['exposure']:.1%}  fees {cents(self.fees)}  "
            f"{count(s['stop_moves'], 'stop move')}  unprotected {s['unprotected_s']:.1f} s",
        ]
        lines += _rules_lines(self.params, self.reports, self.refused)
        r = self.return_stats()
        per = self.trade_stats()
        exp = per["expectancy"]
        lines.append(
            f"  sharpe {_num(r['sharpe'])}  sortino {_num(r['sortino'])}  "
            f"calmar {_num(r['calmar'])}  CAGR {_frac(r['cagr'])}  "
            f"buy & hold {_frac(self.buy_and_hold_return)}  "
            f"profit factor {_num(per['profit_factor'])}  "
            f"expectancy {'-' if exp is None else cents(exp, sign=True)}"
        )
        for i, t in enumerate(self.trades[:20], 1):
            exit_ = (
                "open" if t.exit_price is None else f"{_grid(t.exit_price, q)} ({at} {t.exit_bar})"
            )
            lines.append(
                f"  #{i:<3} {at} {t.entry_bar} buy {size(t.size, self.product)} at "
                f"{_grid(t.entry_price, q)} -> "
                f"{exit_}  P&L {cents(t.pnl, sign=True)}"
            )
        if len(self.trades) > 20:
            lines.append(f"  ... {len(self.trades) - 20} more (to_dataframe() has them all)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"BacktestResult({self.product.product_id}, {len(self.trades)} trades, "
            f"P&L {cents(self.pnl, sign=True)}, return {signed_pct(self.total_return)})"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    # -- chart -------------------------------------------------------------------------

    def plot(self, max_points: int = 5000) -> Any:
        """Plotly: price with the stop's trigger and the entries/exits (the ratchet
        chart), and mark-to-market equity below. Long runs are thinned to `max_points`."""
        import numpy as np
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        n = 0 if self.equity_times is None else len(self.equity_times)
        step = max(1, -(-n // max_points))
        idx = np.arange(0, n, step)
        if n and idx[-1] != n - 1:
            idx = np.append(idx, n - 1)
        times = self.equity_times[idx].astype("datetime64[ns]") if n else []
        fig = make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04
        )
        fig.add_trace(
            go.Scatter(x=times, y=self.prices[idx] if n else [], name="price", line={"width": 1}),
            row=1,
            col=1,
        )
        if self.stops:
            xs, ys = stop_steps(self)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    name="stop trigger",
                    line={"shape": "hv", "dash": "dot", "color": "crimson"},
                    connectgaps=False,
                ),
                row=1,
                col=1,
            )
        entries = [t for t in self.trades]
        exits = [t for t in self.trades if t.exit_ts is not None]
        fig.add_trace(
            go.Scatter(
                x=[_np_time(t.entry_ts) for t in entries],
                y=[float(t.entry_price) for t in entries],
                mode="markers",
                name="entry",
                marker={"symbol": "triangle-up", "size": 10, "color": "seagreen"},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[_np_time(t.exit_ts) for t in exits if t.exit_ts is not None],
                y=[float(t.exit_price) for t in exits if t.exit_price is not None],
                mode="markers",
                name="exit",
                marker={"symbol": "triangle-down", "size": 10, "color": "crimson"},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=times,
                y=self.equity_values[idx] if n else [],
                name="equity",
                line={"color": "slateblue"},
            ),
            row=2,
            col=1,
        )
        fig.update_layout(
            title=f"{self.product.product_id}: {len(self.trades)} trades, "
            f"return {signed_pct(self.total_return)}",
            height=560,
            margin={"l": 50, "r": 20, "t": 50, "b": 30},
            hovermode="x unified",
        )
        fig.update_yaxes(title_text="price", row=1, col=1)
        fig.update_yaxes(title_text="equity", row=2, col=1)
        return fig


YEAR_NS = 365 * 86_400 * 10**9


def _underwater_s(eq: Any, times: Any) -> float:
    """The longest stretch from a peak of `eq` to the sample that regains it (or to
    the last sample), in seconds of `times`."""
    import numpy as np

    if times is None or len(times) != len(eq):
        return 0.0
    peak = np.maximum.accumulate(eq)
    starts = np.flatnonzero(eq >= peak)  # samples at a running peak
    longest = 0
    if len(starts) > 1:
        gaps = np.diff(starts) > 1  # a sample under water between two peaks
        if gaps.any():
            longest = int((times[starts[1:]] - times[starts[:-1]])[gaps].max())
    if starts[-1] < len(eq) - 1:  # still under water at the end
        longest = max(longest, int(times[-1] - times[starts[-1]]))
    return longest / 1e9


def period_curve(
    times: Any,
    period_ns: int,
    initial: Decimal,
    equity_at: Callable[[Any], Any],
    bars: bool = False,
) -> tuple[Any, Any]:
    """(times, equity) per period: the start and the initial equity, then each period's
    last sample (on bars: each bar's close); `equity_at(indices)` gives the equity at
    those samples."""
    import numpy as np

    ends = np.arange(3, len(times), 4, dtype=np.int64) if bars else period_ends(times, period_ns)
    eq = np.concatenate(([float(initial)], np.asarray(equity_at(ends), dtype=np.float64)))
    t = np.concatenate(([int(times[0]) if len(times) else 0], times[ends]))
    return t, eq


def period_ends(times: Any, period_ns: int) -> Any:
    """The index of each period's last sample (periods counted from the first time).
    A sweep asks this of the same times for every configuration: the last few answers
    are kept (by the array's identity, address, length and end points)."""
    import numpy as np

    if not len(times):
        return np.empty(0, dtype=np.int64)
    key = (id(times), _address(times), len(times), int(times[0]), int(times[-1]), period_ns)
    cached = _ENDS.get(key)
    if cached is not None:
        return cached
    bucket = (times - times[0]) // period_ns
    ends = np.append(np.flatnonzero(np.diff(bucket)), len(times) - 1)
    if len(_ENDS) >= 4:
        _ENDS.pop(next(iter(_ENDS)))
    _ENDS[key] = ends
    return ends


_ENDS: dict[tuple[int, ...], Any] = {}


def _address(a: Any) -> int:
    iface = getattr(a, "__array_interface__", None)
    return int(iface["data"][0]) if iface else 0


def period_of(times: Any, bars: bool, bar_ns: int | None) -> int:
    """What a return is measured over: a bar, or for trades a minute (or their median
    spacing when longer)."""
    import numpy as np

    minute = 60 * 10**9
    if bars:
        if bar_ns:
            return bar_ns
        starts = times[::4]
        return int(np.diff(starts).min()) if len(starts) > 1 else minute
    if len(times) < 2:
        return minute
    sample = times[: 1 << 12]
    return max(minute, int(np.median(np.diff(sample))))


_TRADE_COLUMNS = (
    "entry_bar",
    "entry_time",
    "entry_price",
    "size",
    "exit_bar",
    "exit_time",
    "exit_price",
    "fees",
    "pnl",
    "open",
    "entry_tick",
    "exit_tick",
)


def stop_steps(result: BacktestResult) -> tuple[list[Any], list[float | None]]:
    """The trigger as a step line, broken (None) between positions."""
    xs: list[Any] = []
    ys: list[float | None] = []
    ends = {
        t.exit_tick: t.exit_ts
        for t in result.trades
        if t.exit_tick is not None and t.exit_ts is not None
    }
    end_ticks = sorted(ends)
    for i, s in enumerate(result.stops):
        xs.append(_np_time(s.ts))
        ys.append(float(s.trigger))
        nxt = result.stops[i + 1].tick if i + 1 < len(result.stops) else None
        closing = [k for k in end_ticks if k >= s.tick and (nxt is None or k < nxt)]
        if closing:
            xs += [_np_time(ends[closing[0]]), _np_time(ends[closing[0]])]
            ys += [float(s.trigger), None]
        elif nxt is None:
            xs.append(_np_time(result.last_ts))
            ys.append(float(s.trigger))
    return xs, ys


def _time(ts: int) -> datetime:
    return datetime.fromtimestamp(ts // 10**9, UTC).replace(microsecond=(ts % 10**9) // 1000)


def _np_time(ts: int) -> Any:
    import numpy as np

    return np.datetime64(ts, "ns")


_GUARDS = ("print_band_pct", "max_order_value", "max_order_size", "order_price_band_pct")


def _rules_lines(params: dict[str, Any], reports: list[Any], refused: dict[str, int]) -> list[str]:
    """The entry rule, the guards that applied, and what they held back (prints
    ignored, entries skipped by a guard, entries the exchange refused: funds...)."""
    from tradekit.core.reports import EntrySkipped, PrintIgnored

    rule = params.get("entry")
    offset = params.get("entry_offset_pct")
    entry = f"  entry {rule}"
    if offset is not None:
        entry += f" (bid {_frac(offset)} under the last trade"
        entry += ", again after every exit)" if rule == "fixed_offset" else ")"
    on = [f"{k} {plain(params[k])}" for k in _GUARDS if params.get(k) is not None]
    if params.get("print_band_pct") is not None and params.get("confirm_trades") is not None:
        on.append(f"confirm_trades {params['confirm_trades']}")
    if params.get("on_breach") is not None:
        on.append(f"on_breach {params['on_breach']}")
    lines = [f"{entry}; guards: {', '.join(on) if on else 'none'}"]
    held = []
    ignored = sum(type(r) is PrintIgnored for r in reports)
    if ignored:
        held.append(f"{ignored} prints ignored")
    skipped: dict[str, int] = {}
    for r in reports:
        if type(r) is EntrySkipped:
            why = next((g for g in _GUARDS if g in r.reason), r.reason)
            skipped[why] = skipped.get(why, 0) + 1
    held += [f"{n} entries skipped ({why})" for why, n in skipped.items()]
    held += [f"{n} entries refused by the exchange ({_reason(why)})" for why, n in refused.items()]
    lines.append(f"  held back: {', '.join(held) if held else 'nothing'}")
    return lines


def _reason(code: str) -> str:
    return "lack of funds" if "FUND" in code.upper() else code


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _frac(v: Any) -> str:
    return "-" if v is None else f"{float(v):.2%}"


def _json(v: Any) -> Any:
    if isinstance(v, Decimal):
        return plain(v)
    return v


def cents(v: Decimal, sign: bool = False) -> str:
    r = v.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return f"{r:+,}" if sign else f"{r:,}"


def _grid(v: Decimal, increment: Decimal) -> str:
    return f"{v.quantize(increment, rounding=ROUND_HALF_EVEN):,}"


def signed_pct(v: Decimal) -> str:
    return f"{(v * 100).quantize(CENT, rounding=ROUND_HALF_EVEN):+}%"
