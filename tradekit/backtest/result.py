"""`BacktestResult`: trades, stop history, mark-to-market equity and statistics.

Money stays exact: every price, size, fee and P&L is a Decimal (`to_dataframe()`,
`to_dict()`, `--json` as strings). What is shown to people (`summary()`, `repr`, the
charts' hover text) is rounded to cents or to the product's increments. The equity
curve's per-tick samples are floats (they only draw the chart and locate the
drawdown); the final equity, the return and the P&L are computed exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from tradekit.app.format import count, size
from tradekit.core.money import MONEY_CONTEXT, ZERO, ProductSpec, plain

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


@dataclass
class BacktestResult:
    """What `tradekit.backtest` returns. See the module docstring."""

    product: ProductSpec
    params: dict[str, Any]
    path: str  # "events" (the backtest path) or "fast" (the NumPy fast path)
    trades: list[Trade]
    stops: list[StopLevel]
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
    reports: list[Any] = field(default_factory=list, repr=False)
    drawdown: float | None = None  # computed by the runner when no curve is kept
    handled: int | None = None  # trades the rules handled one by one (the events path)

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

    def stats(self) -> dict[str, Any]:
        """The statistics, exact where they are money (Decimal) and fractions elsewhere
        (shown rounded for people in a notebook: `Facts`)."""
        from tradekit.app.format import Facts

        stats = {
            "ticks": self.n_ticks,
            "bars": -(-self.n_ticks // self.ticks_per_bar),
            "trades": len(self.trades),
            "closed_trades": len(self.closed_trades),
            "initial_equity": self.initial_equity,
            "final_equity": self.final_equity,
            "pnl": self.pnl,
            "return": self.total_return,
            "max_drawdown": self.max_drawdown,
            "win_rate": self.win_rate,
            "exposure": self.exposure,
            "fees": self.fees,
            "stop_moves": self.stop_moves,
            "unprotected_s": self.unprotected_s,
        }
        return Facts(stats, product=self.product)

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
        lines = [
            f"backtest {self.product.product_id} ({self.path} path): {s['ticks']:,} ticks, "
            f"{s['bars']:,} bars, {count(s['trades'], 'trade')} ({s['closed_trades']} closed)",
            f"  equity {_cents(self.initial_equity)} -> {_cents(self.final_equity)}  "
            f"P&L {_cents(self.pnl, sign=True)}  return {_pct(self.total_return)}  "
            f"max drawdown {s['max_drawdown']:.2%}",
            f"  win rate {win}  exposure {s['exposure']:.1%}  fees {_cents(self.fees)}  "
            f"{count(s['stop_moves'], 'stop move')}  unprotected {s['unprotected_s']:.1f} s",
        ]
        guards = _guards_line(self.params, self.reports)
        if guards:
            lines.append(guards)
        for i, t in enumerate(self.trades[:20], 1):
            exit_ = (
                "open" if t.exit_price is None else f"{_grid(t.exit_price, q)} (bar {t.exit_bar})"
            )
            lines.append(
                f"  #{i:<3} bar {t.entry_bar} buy {size(t.size, self.product)} at "
                f"{_grid(t.entry_price, q)} -> "
                f"{exit_}  P&L {_cents(t.pnl, sign=True)}"
            )
        if len(self.trades) > 20:
            lines.append(f"  ... {len(self.trades) - 20} more (to_dataframe() has them all)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"BacktestResult({self.product.product_id}, {len(self.trades)} trades, "
            f"P&L {_cents(self.pnl, sign=True)}, return {_pct(self.total_return)})"
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
            xs, ys = _stop_steps(self)
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
            f"return {_pct(self.total_return)}",
            height=560,
            margin={"l": 50, "r": 20, "t": 50, "b": 30},
            hovermode="x unified",
        )
        fig.update_yaxes(title_text="price", row=1, col=1)
        fig.update_yaxes(title_text="equity", row=2, col=1)
        return fig


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


def _stop_steps(result: BacktestResult) -> tuple[list[Any], list[float | None]]:
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


def _guards_line(params: dict[str, Any], reports: list[Any]) -> str | None:
    """The sanity guards that applied (a config's), and what they held back."""
    from tradekit.core.reports import EntrySkipped, PrintIgnored

    on = [f"{k} {plain(params[k])}" for k in _GUARDS if params.get(k) is not None]
    if not on:
        return None
    held = []
    ignored = sum(type(r) is PrintIgnored for r in reports)
    if ignored:
        held.append(f"{ignored} prints ignored")
    if any(type(r) is EntrySkipped for r in reports):
        held.append("entries skipped (EntrySkipped in .reports)")
    return f"  guards {', '.join(on)}" + (f": {', '.join(held)}" if held else "")


def _json(v: Any) -> Any:
    if isinstance(v, Decimal):
        return plain(v)
    return v


def _cents(v: Decimal, sign: bool = False) -> str:
    r = v.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return f"{r:+,}" if sign else f"{r:,}"


def _grid(v: Decimal, increment: Decimal) -> str:
    return f"{v.quantize(increment, rounding=ROUND_HALF_EVEN):,}"


def _pct(v: Decimal) -> str:
    return f"{(v * 100).quantize(CENT, rounding=ROUND_HALF_EVEN):+}%"
