"""`BacktestChart`: one live chart that a slider's backtests redraw in place.

    chart = BacktestChart("BTC-USD")
    chart.show(result)               # a BacktestResult: price, stop, entries/exits, equity
    chart.widget                     # a FigureWidget (display it once)

Price (blue) and the stop's trigger (red steps, broken between positions) on the left
axis, the equity (orange) on its own axis on the right, entries and exits as markers;
the x axis is time (UTC), and the legend sits above the plot where it covers nothing.
"""

from __future__ import annotations

from typing import Any

from tradekit import format as fmt

__all__ = ["BacktestChart"]

PRICE, STOP, ENTRIES, EXITS, EQUITY = range(5)


def _iso(ns: Any) -> list[str]:
    """Nanosecond times as ISO strings (a date axis; raw int64 would read as numbers)."""
    import numpy as np

    times = np.asarray(ns, dtype="int64").astype("datetime64[ns]").astype("datetime64[ms]")
    return [str(t) for t in times]


class BacktestChart:
    """A FigureWidget redrawn by `show(result)`; see the module docstring."""

    def __init__(self, product_id: str, *, height: int = 420, max_points: int = 3000) -> None:
        import plotly.graph_objects as go

        self.product_id = product_id
        self.max_points = max_points
        quote = product_id.split("-", 1)[-1]
        fig = go.FigureWidget()
        fig.add_scatter(name="price", mode="lines", line={"color": "#4c78a8", "width": 1})
        fig.add_scatter(
            name="stop trigger",
            mode="lines",
            line={"color": "#d62728", "width": 1.5, "shape": "hv"},
            connectgaps=False,
        )
        fig.add_scatter(
            name="entries",
            mode="markers",
            marker={"symbol": "triangle-up", "size": 10, "color": "#2ca02c"},
        )
        fig.add_scatter(
            name="exits",
            mode="markers",
            marker={"symbol": "triangle-down", "size": 10, "color": "#7b3294"},
        )
        fig.add_scatter(
            name="equity",
            mode="lines",
            yaxis="y2",
            line={"color": "#f58518", "width": 1.5},
        )
        fig.update_layout(
            height=height,
            template="plotly_white",
            hovermode="x unified",
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            margin={"l": 70, "r": 80, "t": 40, "b": 40},
            xaxis={"type": "date", "title": {"text": "time (UTC)"}},
            yaxis={"title": {"text": f"price ({quote})"}, "tickformat": ",.0f"},
            yaxis2={
                "title": {"text": f"equity ({quote})", "font": {"color": "#f58518"}},
                "overlaying": "y",
                "side": "right",
                "tickformat": ",.0f",
                "showgrid": False,
            },
        )
        self.widget = fig

    def show(self, result: Any) -> None:
        """Redraw for `result` (a BacktestResult with its equity curve), in one update."""
        import numpy as np

        from tradekit.backtest.result import stop_steps

        times = result.equity_times
        n = 0 if times is None else len(times)
        step = max(1, -(-n // self.max_points))
        idx = np.arange(0, n, step)
        if n and idx[-1] != n - 1:
            idx = np.append(idx, n - 1)
        xs = _iso(times[idx]) if n else []
        sx, sy = stop_steps(result) if result.stops else ([], [])
        stop_x = [None if t is None else str(np.datetime64(t, "ms")) for t in sx]
        closed = [t for t in result.trades if t.exit_ts is not None]
        with self.widget.batch_update():
            d = self.widget.data
            d[PRICE].x, d[PRICE].y = xs, (result.prices[idx] if n else [])
            d[STOP].x, d[STOP].y = stop_x, sy
            d[ENTRIES].x = _iso([t.entry_ts for t in result.trades])
            d[ENTRIES].y = [float(t.entry_price) for t in result.trades]
            d[ENTRIES].text = [fmt.price(t.entry_price) for t in result.trades]
            d[EXITS].x = _iso([t.exit_ts for t in closed])
            d[EXITS].y = [float(t.exit_price) for t in closed]
            d[EXITS].text = [fmt.signed_money(t.pnl) for t in closed]
            d[EQUITY].x, d[EQUITY].y = xs, (result.equity_values[idx] if n else [])
