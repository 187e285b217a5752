"""Plotly ratchet charts: a static figure of a finished run and a live one that follows
an engine as it steps.

Both draw the same seven traces, in this order (`TRACE_NAMES`):

- **price**: the market's trades. Idle ticks are not journaled, so the price series
  is an argument (the `MarketTrade`s, e.g. the seeded `PricePath`, or `(ts, price)`
  pairs); everything else comes from the store (static) or the steps (live);
- **highest since entry**: the high the stop trails, as a step line (`line_shape="hv"`);
- **stop trigger** and **stop limit**: step lines, one segment per position;
- **entries** and **exits**: the buy and sell fills;
- **stop moves**: each move of the stop after the first (a `StopMoved` with an old
  trigger): a cancel-then-place on Coinbase, or an in-place edit where the exchange
  can edit stops.

Money stays `Decimal` until the last moment: values become floats only where a trace
is filled in, and every hover shows the exact Decimal as a string. Long price paths are
decimated for display (the minimum and the maximum of each bucket, a few thousand
points in all), always keeping the points where a stop moved or an order filled.

`BacktestChart` is a backtest's price, stop and equity, redrawn in place by sliders.

Plotly is imported when a chart is first built, never by `import tradekit`.
"""

from tradekit.notebook.charts.backtest import BacktestChart
from tradekit.notebook.charts.live import LiveRatchetChart
from tradekit.notebook.charts.looks import TRACE_NAMES
from tradekit.notebook.charts.points import decimate, price_points, ts_to_datetime
from tradekit.notebook.charts.static import ratchet_figure, update_figure_widget

__all__ = [
    "TRACE_NAMES",
    "BacktestChart",
    "LiveRatchetChart",
    "decimate",
    "price_points",
    "ratchet_figure",
    "ts_to_datetime",
    "update_figure_widget",
]
