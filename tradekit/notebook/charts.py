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

Plotly is imported when a chart is first built, never by `import tradekit`.
"""

from __future__ import annotations

import itertools
import math
import time
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradekit.core.commands import CancelOrder, PlaceLimitBuy, PlaceStopLimitSell
from tradekit.core.events import MarketTrade, OrderFilled
from tradekit.core.money import to_decimal
from tradekit.core.orders import OrderSide
from tradekit.core.reports import PositionClosed, PositionOpened, StopMoved

if TYPE_CHECKING:
    from tradekit.engine.execution import ExecutionEngine, StepResult
    from tradekit.store.sqlite import Store

__all__ = [
    "TRACE_NAMES",
    "LiveRatchetChart",
    "decimate",
    "price_points",
    "ratchet_figure",
    "ts_to_datetime",
    "update_figure_widget",
]

TRACE_NAMES = (
    "price",
    "highest since entry",
    "stop trigger",
    "stop limit",
    "entries",
    "exits",
    "stop moves",
)
PRICE, HIGHEST, TRIGGER, LIMIT, ENTRIES, EXITS, MOVES = range(len(TRACE_NAMES))

_EPOCH = datetime(1970, 1, 1)


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def ts_to_datetime(ts: int) -> datetime:
    """Nanoseconds since the epoch (UTC) as a naive UTC datetime, to the microsecond.

    For the x axis only: the exact `ts` stays in the store.
    """
    return _EPOCH + timedelta(microseconds=ts // 1000)


def _f(value: Decimal) -> float:
    """The plotting edge: the one place a Decimal becomes a float."""
    return float(value)


def _s(value: Decimal | None) -> str:
    """A Decimal as its exact string, never in exponent notation."""
    return "-" if value is None else format(value, "f")


def _time_text(ts: int) -> str:
    return ts_to_datetime(ts).isoformat(sep=" ") + " UTC"


# -- price series and decimation -------------------------------------------------------


def price_points(
    prices: Iterable[MarketTrade] | Iterable[tuple[int, Decimal]],
    product_id: str | None = None,
) -> tuple[list[int], list[Decimal]]:
    """(timestamps, prices) from MarketTrades or (ts, price) pairs, sorted by time.

    Trades of another product than `product_id` (when given) are skipped. Prices must
    be Decimals, ints or numeric strings: a float is refused, as everywhere in tradekit.
    """
    ts_list: list[int] = []
    px_list: list[Decimal] = []
    for p in prices:
        if isinstance(p, MarketTrade):
            if product_id is not None and p.product_id != product_id:
                continue
            ts, price = p.ts, p.price
        else:
            ts, price = p
        ts_list.append(int(ts))
        px_list.append(price if type(price) is Decimal else to_decimal(price, "price"))
    if any(a > b for a, b in itertools.pairwise(ts_list)):
        order = sorted(range(len(ts_list)), key=ts_list.__getitem__)
        ts_list = [ts_list[i] for i in order]
        px_list = [px_list[i] for i in order]
    return ts_list, px_list


def decimate(prices: Sequence[Decimal], max_points: int, keep: Iterable[int] = ()) -> list[int]:
    """Indices of the points to draw: at most about `max_points` plus every kept index.

    The series is cut into `max_points // 2` buckets; each bucket contributes its lowest
    and its highest point (so no spike disappears), the first and last points are kept,
    and so is every index in `keep` (stop moves, fills) whatever its bucket. A series no
    longer than `max_points` is returned whole.
    """
    n = len(prices)
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if n <= max_points:
        return list(range(n))
    chosen = {0, n - 1}
    chosen.update(i for i in keep if 0 <= i < n)
    size = math.ceil(n / (max_points // 2))
    for start in range(0, n, size):
        seg = prices[start : start + size]
        chosen.add(start + seg.index(min(seg)))
        chosen.add(start + seg.index(max(seg)))
    return sorted(chosen)


def _indices_at(ts_list: Sequence[int], wanted: Iterable[int]) -> set[int]:
    """Every index whose timestamp is in `wanted`; for a time with no trade, the last
    trade before it (so the line still passes next to the marker)."""
    out: set[int] = set()
    for ts in set(wanted):
        lo = bisect_left(ts_list, ts)
        hi = bisect_right(ts_list, ts)
        if lo < hi:
            out.update(range(lo, hi))
        elif lo > 0:
            out.add(lo - 1)
        elif ts_list:
            out.add(0)
    return out


# -- figure skeleton -------------------------------------------------------------------


_TRACE_STYLES: tuple[tuple[int, dict[str, Any]], ...] = (
    (
        PRICE,
        {
            "mode": "lines",
            "line": {"color": "#4c78a8", "width": 1.2},
            "hovertemplate": "%{x|%Y-%m-%d %H:%M:%S} UTC<br>price %{text}<extra></extra>",
        },
    ),
    (
        HIGHEST,
        {
            "mode": "lines",
            "line": {"color": "#9d9d9d", "width": 1, "dash": "dot", "shape": "hv"},
            "hovertemplate": "%{text}<extra>highest</extra>",
        },
    ),
    (
        TRIGGER,
        {
            "mode": "lines",
            "line": {"color": "#d62728", "width": 2, "shape": "hv"},
            "hovertemplate": "%{text}<extra>stop</extra>",
        },
    ),
    (
        LIMIT,
        {
            "mode": "lines",
            "line": {"color": "#ff9896", "width": 1.5, "dash": "dash", "shape": "hv"},
            "hovertemplate": "%{text}<extra>stop limit</extra>",
        },
    ),
    (
        ENTRIES,
        {
            "mode": "markers",
            "marker": {"symbol": "triangle-up", "size": 12, "color": "#2ca02c"},
            "hovertemplate": "%{text}<extra>entry</extra>",
        },
    ),
    (
        EXITS,
        {
            "mode": "markers",
            "marker": {"symbol": "triangle-down", "size": 12, "color": "#7b3294"},
            "hovertemplate": "%{text}<extra>exit</extra>",
        },
    ),
    (
        MOVES,
        {
            "mode": "markers",
            "marker": {"symbol": "diamond", "size": 6, "color": "#ff7f0e"},
            "hovertemplate": "%{text}<extra>stop move</extra>",
        },
    ),
)
"""The seven traces in drawing order, with their looks."""


def _base_figure(go: Any, title: str, quote: str, height: int, widget: bool) -> Any:
    """The seven named traces, empty, styled; a Figure or a FigureWidget."""
    fig = go.FigureWidget() if widget else go.Figure()
    for key, style in _TRACE_STYLES:
        fig.add_trace(go.Scatter(name=TRACE_NAMES[key], **style))
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        template="plotly_white",
        height=height,
        hovermode="closest",
        uirevision="tradekit",  # keep the user's zoom across live updates
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        xaxis={"title": {"text": "time (UTC)"}},
        yaxis={"title": {"text": f"price ({quote})"}, "tickformat": ",.2f"},
    )
    return fig


def _xs(ts_values: Sequence[int | None]) -> list[datetime | None]:
    return [None if t is None else ts_to_datetime(t) for t in ts_values]


def _ys(values: Sequence[Decimal | None]) -> list[float | None]:
    return [None if v is None else _f(v) for v in values]


def _stop_text(trigger: Decimal, limit: Decimal) -> str:
    return f"trigger {_s(trigger)}<br>limit {_s(limit)}"


def _fill_text(kind: str, ts: int, price: Decimal, size: Decimal, fee: Decimal, coid: str) -> str:
    return (
        f"{kind} fill {_time_text(ts)}<br>price {_s(price)}<br>size {_s(size)}"
        f"<br>fee {_s(fee)}<br>order {coid}"
    )


def _move_text(old: Decimal, new: Decimal, limit: Decimal, price: Decimal, high: Decimal) -> str:
    return (
        f"stop moved: trigger {_s(old)} → {_s(new)}<br>limit {_s(limit)}"
        f"<br>moved by price {_s(price)} (highest {_s(high)})"
    )


# -- the static figure -----------------------------------------------------------------


def ratchet_figure(
    store: Store,
    product_id: str,
    prices: Iterable[MarketTrade] | Iterable[tuple[int, Decimal]] | None = None,
    *,
    max_points: int = 4000,
    title: str | None = None,
    height: int = 520,
) -> Any:
    """A `plotly.graph_objects.Figure` of a finished (or paused) run of `product_id`.

    `prices`: the market the run saw (MarketTrades or (ts, price) pairs); without it the
    chart has the stops and fills only. The stop history, fills and positions come from
    `store`. The price line is decimated to about `max_points` points, keeping every
    point at a stop move or a fill. The highest-since-entry line is recomputed exactly
    from the prices and the buy fills of each position (it is what the stop trails).
    """
    go = _go()
    ts_list, px_list = price_points(prices or (), product_id)
    stops = store.stop_history(product_id)
    fills = store.fills(product_id)
    positions = sorted(
        store.closed_positions(product_id) + store.open_positions(product_id),
        key=lambda p: p["id"],
    )
    quote = product_id.split("-", 1)[1] if "-" in product_id else "quote"
    title = title or f"{product_id}: price, ratchet stop, fills"
    fig = _base_figure(go, title, quote, height, False)

    marked_ts = [r["ts"] for r in stops] + [f["ts"] for f in fills]
    marked_ts += [p["opened_ts"] for p in positions if p["opened_ts"] is not None]
    marked_ts += [p["closed_ts"] for p in positions if p["closed_ts"] is not None]
    keep = _indices_at(ts_list, marked_ts) if ts_list else set()
    idx = decimate(px_list, max_points, keep) if px_list else []

    # price
    trace = fig.data[PRICE]
    trace.x = [ts_to_datetime(ts_list[i]) for i in idx]
    trace.y = [_f(px_list[i]) for i in idx]
    trace.text = [_s(px_list[i]) for i in idx]

    # highest since entry, on the drawn points
    highs = _highest_at(ts_list, px_list, idx, positions, fills)
    hx: list[int | None] = []
    hy: list[Decimal | None] = []
    for i, h in zip(idx, highs, strict=True):
        if h is None:
            if hy and hy[-1] is not None:
                hx.append(None)
                hy.append(None)
            continue
        hx.append(ts_list[i])
        hy.append(h)
    fig.data[HIGHEST].x = _xs(hx)
    fig.data[HIGHEST].y = _ys(hy)
    fig.data[HIGHEST].text = [None if v is None else f"highest {_s(v)}" for v in hy]

    # stop trigger / limit step lines, one segment per position
    end_of = {p["id"]: p["closed_ts"] for p in positions}
    last_ts = max([*ts_list[-1:], *(r["ts"] for r in stops)], default=0)
    sx: list[int | None] = []
    st: list[Decimal | None] = []
    sl: list[Decimal | None] = []
    text: list[str | None] = []
    for i, row in enumerate(stops):
        sx.append(row["ts"])
        st.append(row["trigger"])
        sl.append(row["limit_price"])
        text.append(
            ("stop placed" if row["old_trigger"] is None else "stop moved")
            + f" {_time_text(row['ts'])}<br>"
            + _stop_text(row["trigger"], row["limit_price"])
        )
        nxt = stops[i + 1] if i + 1 < len(stops) else None
        if nxt is None or nxt["position_id"] != row["position_id"]:
            end = end_of.get(row["position_id"]) or last_ts
            sx += [max(end, row["ts"]), None]
            st += [row["trigger"], None]
            sl += [row["limit_price"], None]
            text += [text[-1], None]
    fig.data[TRIGGER].x = fig.data[LIMIT].x = _xs(sx)
    fig.data[TRIGGER].y = _ys(st)
    fig.data[LIMIT].y = _ys(sl)
    fig.data[TRIGGER].text = fig.data[LIMIT].text = text

    # fills
    pnl_at = {p["closed_ts"]: p for p in positions if p["closed_ts"] is not None}
    for side, index, kind in ((OrderSide.BUY, ENTRIES, "entry"), (OrderSide.SELL, EXITS, "exit")):
        rows = [f for f in fills if f["side"] == side.value]
        texts = []
        for f in rows:
            t = _fill_text(kind, f["ts"], f["price"], f["size"], f["fee"], f["client_order_id"])
            closed = pnl_at.get(f["ts"]) if side is OrderSide.SELL else None
            if closed is not None:
                t += f"<br>position closed, P&L {_s(closed['realized_pnl'])} (fees included)"
            texts.append(t)
        fig.data[index].x = [ts_to_datetime(f["ts"]) for f in rows]
        fig.data[index].y = [_f(f["price"]) for f in rows]
        fig.data[index].text = texts

    # stop moves after the first (cancel/replace or edit)
    moves = [r for r in stops if r["old_trigger"] is not None]
    fig.data[MOVES].x = [ts_to_datetime(r["ts"]) for r in moves]
    fig.data[MOVES].y = [_f(r["trigger"]) for r in moves]
    fig.data[MOVES].text = [
        _move_text(r["old_trigger"], r["trigger"], r["limit_price"], r["price"], r["highest"])
        for r in moves
    ]
    return fig


def _highest_at(
    ts_list: Sequence[int],
    px_list: Sequence[Decimal],
    idx: Sequence[int],
    positions: Sequence[dict[str, Any]],
    fills: Sequence[dict[str, Any]],
) -> list[Decimal | None]:
    """The position's highest price (what the stop trails) at each drawn index, or None
    outside a position. Exact: the max of the buy fills and of every trade since entry.

    A fill is handled before the trade printed at the same time (the paper market fills
    on that trade); the trade that closes a position is not fed to it.
    """
    windows = [(p["opened_ts"], p["closed_ts"]) for p in positions if p["opened_ts"] is not None]
    buys = sorted((f["ts"], f["price"]) for f in fills if f["side"] == OrderSide.BUY.value)
    out: list[Decimal | None] = []
    w = -1  # current window
    high: Decimal | None = None
    seg = 0  # first trade index not yet folded into `high`
    b = 0  # first buy fill not yet folded
    for i in idx:
        ts = ts_list[i]
        while w + 1 < len(windows) and windows[w + 1][0] <= ts:
            w += 1
            high = None
            seg = bisect_left(ts_list, windows[w][0])
            b = bisect_left(buys, (windows[w][0], Decimal("-Infinity")))
        if w < 0:
            out.append(None)
            continue
        closed = windows[w][1]
        if closed is not None and ts > closed:
            out.append(None)
            continue
        while b < len(buys) and buys[b][0] <= ts and (closed is None or buys[b][0] <= closed):
            price = buys[b][1]
            high = price if high is None or price > high else high
            b += 1
        stop = i + 1 if closed is None else min(i + 1, bisect_left(ts_list, closed))
        if stop > seg:
            m = max(px_list[seg:stop])
            high = m if high is None or m > high else high
            seg = stop
        out.append(high)
    return out


def update_figure_widget(widget: Any, fig: Any) -> None:
    """Copy the data and title of `fig` into a FigureWidget with the same traces, in one
    front-end update (a slider redraw without re-creating the widget)."""
    with widget.batch_update():
        for target, source in zip(widget.data, fig.data, strict=True):
            target.x = source.x
            target.y = source.y
            target.text = source.text
        widget.layout.title = fig.layout.title


# -- the live chart --------------------------------------------------------------------


class LiveRatchetChart:
    """A `go.FigureWidget` that follows an `ExecutionEngine` step by step.

        chart = LiveRatchetChart()
        display(chart.widget)
        chart.follow(engine, ticks=5000)        # steps the engine, updating the chart
        chart.update(engine.step())             # or feed StepResults yourself

    Front-end updates are throttled: `update()` buffers, and the buffered points go to
    the browser in one `batch_update()` at most `max_updates_per_s` times per second of
    `clock` (injectable, seconds; default `time.monotonic`). `flush()` sends what is
    buffered at once: `follow()` calls it when it returns, and in IPython it also runs
    after each cell. So over T seconds of clock since the chart was made (or reset),
    `frontend_updates <= max_updates_per_s * T + 1` from `update()` and one `flush()`.

    The chart keeps at most about `2 * max_points` price points: older ones are
    decimated like the static chart's, always keeping stop moves and fills.
    """

    def __init__(
        self,
        engine: ExecutionEngine | None = None,
        *,
        max_updates_per_s: float = 4.0,
        max_points: int = 2000,
        clock: Callable[[], float] = time.monotonic,
        title: str | None = None,
        height: int = 420,
    ) -> None:
        if max_updates_per_s <= 0:
            raise ValueError(f"max_updates_per_s must be positive, got {max_updates_per_s}")
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        self.max_updates_per_s = max_updates_per_s
        self.max_points = max_points
        self._interval = 1.0 / max_updates_per_s
        self._clock = clock
        self._title = title
        self.product_id = engine.product_id if engine is not None else None
        quote = self.product_id.split("-", 1)[1] if self.product_id else "quote"
        self.widget = _base_figure(_go(), self._title_text(), quote, height, True)
        self.frontend_updates = 0
        self.steps_seen = 0
        self._clear()
        if engine is not None:
            self.attach(engine)
        _flush_after_each_cell(self)

    # -- state -------------------------------------------------------------------------

    def _title_text(self) -> str:
        return self._title or f"{self.product_id or ''} live: price, ratchet stop, fills"

    def _clear(self) -> None:
        self._ts: list[int] = []
        self._px: list[Decimal] = []
        self._marked: set[int] = set()  # timestamps that must stay drawn
        self._hx: list[int | None] = []
        self._hy: list[Decimal | None] = []
        self._sx: list[int | None] = []
        self._st: list[Decimal | None] = []
        self._sl: list[Decimal | None] = []
        self._entries: list[tuple[int, Decimal, str]] = []
        self._exits: list[tuple[int, Decimal, str]] = []
        self._moves: list[tuple[int, Decimal, str]] = []
        self._buy_ids: set[str] = set()
        self._sell_ids: set[str] = set()
        self._in_position = False
        self._exit_seen = False
        self._high: Decimal | None = None
        self._trigger: Decimal | None = None
        self._limit: Decimal | None = None
        self._last_ts: int | None = None
        self._dirty = False
        self._last_flush = self._clock()
        self._engine: ExecutionEngine | None = None

    def reset(self, engine: ExecutionEngine | None = None) -> None:
        """Forget everything drawn (and the throttle window); attach `engine` if given."""
        self._clear()
        if engine is not None:
            self.attach(engine)
        self._dirty = True
        self.flush()

    def attach(self, engine: ExecutionEngine) -> None:
        """Follow `engine` from where it is: an open position's highest and stop are
        drawn from its current state (what happened before is not known to the chart)."""
        self._engine = engine
        if self.product_id != engine.product_id:
            self.product_id = engine.product_id
            quote = self.product_id.split("-", 1)[1]
            with self.widget.batch_update():
                self.widget.layout.title.text = self._title_text()
                self.widget.layout.yaxis.title.text = f"price ({quote})"
        d = engine.decision
        pos = d.position
        ts = d.last_ts
        if d.last_price is not None and ts:
            self._add_price(ts, d.last_price)
        if pos is not None and ts:
            self._in_position = True
            self._high = pos.highest
            self._hx.append(ts)
            self._hy.append(pos.highest)
            if pos.stop_trigger is not None and pos.stop_limit is not None:
                self._set_stop(ts, pos.stop_trigger, pos.stop_limit)
        for order in d.orders.values():
            (self._buy_ids if order.side is OrderSide.BUY else self._sell_ids).add(
                order.client_order_id
            )
        self._dirty = True

    @property
    def points(self) -> int:
        """Price points held (after compaction)."""
        return len(self._ts)

    # -- feeding -----------------------------------------------------------------------

    def update(self, result: StepResult | None) -> None:
        """Take in one step's result; the front end is updated when the throttle allows."""
        if result is None:
            return
        self.take(result)
        self._maybe_flush()

    def take(self, result: StepResult) -> None:
        """Take in one step's result without drawing: the caller flushes (a monitor
        that throttles several charts and tables as one)."""
        self.steps_seen += 1
        for cmd in result.commands:
            if isinstance(cmd, PlaceLimitBuy):
                self._buy_ids.add(cmd.client_order_id)
            elif isinstance(cmd, PlaceStopLimitSell):
                self._sell_ids.add(cmd.client_order_id)
            elif isinstance(cmd, CancelOrder) and cmd.then is not None:
                self._sell_ids.add(cmd.then.client_order_id)
        ev = result.event
        if isinstance(ev, MarketTrade):
            self._add_price(ev.ts, ev.price)
            if self._in_position and self._high is not None and ev.price > self._high:
                self._high = ev.price
                self._hx.append(ev.ts)
                self._hy.append(ev.price)
        elif isinstance(ev, OrderFilled):
            self._add_fill(ev)
        for report in result.reports:
            if isinstance(report, PositionOpened):
                self._in_position = True
                self._exit_seen = False
                self._high = report.price
                self._hx.append(report.ts)
                self._hy.append(report.price)
            elif isinstance(report, StopMoved):
                self._marked.add(report.ts)
                if self._high is None or report.highest > self._high:
                    self._high = report.highest
                    self._hx.append(report.ts)
                    self._hy.append(report.highest)
                if report.old_trigger is not None:
                    text = _move_text(
                        report.old_trigger,
                        report.trigger,
                        report.limit,
                        report.price,
                        report.highest,
                    )
                    self._moves.append((report.ts, report.trigger, text))
                self._set_stop(report.ts, report.trigger, report.limit)
            elif isinstance(report, PositionClosed):
                self._close(report)
        self._dirty = True

    def _add_price(self, ts: int, price: Decimal) -> None:
        self._ts.append(ts)
        self._px.append(price)
        self._last_ts = ts
        if len(self._ts) > 2 * self.max_points:
            self._compact()

    def _add_fill(self, ev: OrderFilled) -> None:
        coid = ev.client_order_id
        buy = coid in self._buy_ids
        if not buy and coid not in self._sell_ids:
            engine = self._engine
            order = engine.decision.orders.get(coid) if engine is not None else None
            buy = order.side is OrderSide.BUY if order is not None else not self._in_position
        kind = "entry" if buy else "exit"
        text = _fill_text(kind, ev.ts, ev.price, ev.size, ev.fee, coid)
        (self._entries if buy else self._exits).append((ev.ts, ev.price, text))
        if not buy:
            self._exit_seen = True
        self._marked.add(ev.ts)
        self._last_ts = max(self._last_ts or ev.ts, ev.ts)

    def _set_stop(self, ts: int, trigger: Decimal, limit: Decimal) -> None:
        self._trigger, self._limit = trigger, limit
        self._sx.append(ts)
        self._st.append(trigger)
        self._sl.append(limit)

    def _close(self, report: PositionClosed) -> None:
        ts = report.ts
        if not self._exit_seen:  # closed without a fill event (a status report booked it)
            text = f"exit {_time_text(ts)}<br>average price {_s(report.exit_price)}"
            self._exits.append((ts, report.exit_price, text))
        text = f"position closed {_time_text(ts)}<br>P&L {_s(report.realized_pnl)} (fees included)"
        if self._exits and self._exits[-1][0] == ts:
            t, p, old = self._exits[-1]
            self._exits[-1] = (t, p, f"{old}<br>{text}")
        if self._trigger is not None and self._limit is not None:
            self._sx += [ts, None]
            self._st += [self._trigger, None]
            self._sl += [self._limit, None]
        if self._high is not None:
            self._hx += [ts, None]
            self._hy += [self._high, None]
        self._marked.add(ts)
        self._in_position = False
        self._high = self._trigger = self._limit = None

    def _compact(self) -> None:
        keep = [i for i, t in enumerate(self._ts) if t in self._marked]
        idx = decimate(self._px, self.max_points, keep)
        self._ts = [self._ts[i] for i in idx]
        self._px = [self._px[i] for i in idx]

    # -- to the front end --------------------------------------------------------------

    def _maybe_flush(self) -> None:
        now = self._clock()
        if now - self._last_flush >= self._interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Send what is buffered to the front end now, in one `batch_update()`."""
        if not self._dirty:
            return
        hx, hy = list(self._hx), list(self._hy)
        sx, st, sl = list(self._sx), list(self._st), list(self._sl)
        latest = self._last_ts
        if self._in_position and latest is not None:
            # extend the open position's lines to the latest time
            if self._high is not None:
                hx.append(latest)
                hy.append(self._high)
            if self._trigger is not None and self._limit is not None:
                sx.append(latest)
                st.append(self._trigger)
                sl.append(self._limit)
        stop_text = [
            None if t is None or y is None or z is None else _stop_text(y, z)
            for t, y, z in zip(sx, st, sl, strict=True)
        ]
        data = self.widget.data
        with self.widget.batch_update():
            data[PRICE].x = _xs(self._ts)
            data[PRICE].y = _ys(self._px)
            data[PRICE].text = [_s(p) for p in self._px]
            data[HIGHEST].x = _xs(hx)
            data[HIGHEST].y = _ys(hy)
            data[HIGHEST].text = [None if v is None else f"highest {_s(v)}" for v in hy]
            data[TRIGGER].x = data[LIMIT].x = _xs(sx)
            data[TRIGGER].y = _ys(st)
            data[LIMIT].y = _ys(sl)
            data[TRIGGER].text = data[LIMIT].text = stop_text
            markers = ((ENTRIES, self._entries), (EXITS, self._exits), (MOVES, self._moves))
            for index, rows in markers:
                data[index].x = [ts_to_datetime(t) for t, _, _ in rows]
                data[index].y = [_f(p) for _, p, _ in rows]
                data[index].text = [text for _, _, text in rows]
        self.frontend_updates += 1
        self._last_flush = self._clock() if now is None else now
        self._dirty = False

    # -- driving -----------------------------------------------------------------------

    def follow(
        self,
        engine: ExecutionEngine,
        ticks: int | None = None,
        until_ts: int | None = None,
        max_steps: int | None = None,
    ) -> int:
        """Step `engine` one event at a time, drawing as it goes, until `ticks` more market
        trades, the first trade at or after `until_ts`, `max_steps` steps, or the end of
        the data.

        Returns the number of market trades handled. Uses `engine.step()` (not the fast
        `run()`, which skips quiet ticks and so cannot show them).
        """
        if engine is not self._engine:
            self.attach(engine)
        handled = steps = 0
        try:
            while (ticks is None or handled < ticks) and (max_steps is None or steps < max_steps):
                result = engine.step()
                if result is None:
                    break
                steps += 1
                self.update(result)
                ev = result.event
                if isinstance(ev, MarketTrade):
                    handled += 1
                    if until_ts is not None and ev.ts >= until_ts:
                        break
        finally:
            self.flush()
        return handled

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _flush_after_each_cell(chart: LiveRatchetChart) -> None:
    """In IPython, flush the chart after every cell, so that points fed by a quick loop
    of `update()` calls do not wait for the next one. Holds the chart weakly."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    ip = get_ipython()
    if ip is None:
        return
    ref = weakref.ref(chart)

    def flush(*_: object) -> None:
        target = ref()
        if target is None:
            ip.events.unregister("post_execute", flush)
        else:
            target.flush()

    ip.events.register("post_execute", flush)
