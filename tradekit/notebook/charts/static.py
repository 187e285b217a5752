"""The static ratchet figure of a finished (or paused) run, from the store."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradekit import format as fmt
from tradekit.core.events import MarketTrade
from tradekit.core.orders import OrderSide
from tradekit.notebook.charts.looks import (
    ENTRIES,
    EXITS,
    HIGHEST,
    LIMIT,
    MOVES,
    PLACED_MARKER,
    PRICE,
    TRIGGER,
    base_figure,
    fill_hover_text,
    hover_time,
    move_hover_text,
    plotly_objects,
    product_of,
    stop_hover_text,
)
from tradekit.notebook.charts.points import (
    datetimes_of,
    decimate,
    floats_of,
    indices_at,
    price_points,
    to_float,
    ts_to_datetime,
)

if TYPE_CHECKING:
    from tradekit.store.sqlite import Store


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
    go = plotly_objects()
    ts_list, px_list = price_points(prices or (), product_id)
    stops = store.stop_history(product_id)
    fills = store.fills(product_id)
    positions = sorted(
        store.closed_positions(product_id) + store.open_positions(product_id),
        key=lambda p: p["id"],
    )
    quote = product_id.split("-", 1)[1] if "-" in product_id else "quote"
    spec = product_of(product_id)
    title = title or f"{product_id}: price, ratchet stop, fills"
    fig = base_figure(go, title, quote, height, False)

    marked_ts = [r["ts"] for r in stops] + [f["ts"] for f in fills]
    marked_ts += [p["opened_ts"] for p in positions if p["opened_ts"] is not None]
    marked_ts += [p["closed_ts"] for p in positions if p["closed_ts"] is not None]
    keep = indices_at(ts_list, marked_ts) if ts_list else set()
    idx = decimate(px_list, max_points, keep) if px_list else []

    # price
    trace = fig.data[PRICE]
    trace.x = [ts_to_datetime(ts_list[i]) for i in idx]
    trace.y = [to_float(px_list[i]) for i in idx]
    trace.text = [fmt.price(px_list[i], spec) for i in idx]

    # highest since entry, on the drawn points
    highs = highest_at(ts_list, px_list, idx, positions, fills)
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
    fig.data[HIGHEST].x = datetimes_of(hx)
    fig.data[HIGHEST].y = floats_of(hy)
    fig.data[HIGHEST].text = [None if v is None else f"highest {fmt.price(v, spec)}" for v in hy]

    # stop trigger / limit step lines, one segment per position: each level from the
    # time it was reported (the exchange's acknowledgement) to the next change, the
    # position's end or the latest trade; a placed stop also gets a marker, so that one
    # replaced or closed at once is still seen
    end_of = {p["id"]: p["closed_ts"] for p in positions}
    last_ts = max([*ts_list[-1:], *(r["ts"] for r in stops)], default=0)
    sx: list[int | None] = []
    st: list[Decimal | None] = []
    sl: list[Decimal | None] = []
    sizes: list[int] = []
    text: list[str | None] = []
    for i, row in enumerate(stops):
        sx.append(row["ts"])
        st.append(row["trigger"])
        sl.append(row["limit_price"])
        sizes.append(PLACED_MARKER if row["old_trigger"] is None else 0)
        text.append(
            ("stop placed" if row["old_trigger"] is None else "stop moved")
            + f" {hover_time(row['ts'])}<br>"
            + stop_hover_text(row["trigger"], row["limit_price"], spec)
        )
        nxt = stops[i + 1] if i + 1 < len(stops) else None
        if nxt is None or nxt["position_id"] != row["position_id"]:
            end = end_of.get(row["position_id"]) or last_ts
            sx += [max(end, row["ts"]), None]
            st += [row["trigger"], None]
            sl += [row["limit_price"], None]
            sizes += [0, 0]
            text += [text[-1], None]
    fig.data[TRIGGER].x = fig.data[LIMIT].x = datetimes_of(sx)
    fig.data[TRIGGER].y = floats_of(st)
    fig.data[LIMIT].y = floats_of(sl)
    fig.data[TRIGGER].marker.size = sizes
    fig.data[TRIGGER].text = fig.data[LIMIT].text = text

    # fills
    pnl_at = {p["closed_ts"]: p for p in positions if p["closed_ts"] is not None}
    for side, index, kind in ((OrderSide.BUY, ENTRIES, "entry"), (OrderSide.SELL, EXITS, "exit")):
        rows = [f for f in fills if f["side"] == side.value]
        texts = []
        for f in rows:
            t = fill_hover_text(
                kind, f["ts"], f["price"], f["size"], f["fee"], f["client_order_id"], spec
            )
            closed = pnl_at.get(f["ts"]) if side is OrderSide.SELL else None
            if closed is not None:
                pnl = fmt.signed_money(closed["realized_pnl"])
                t += f"<br>position closed, P&L {pnl} (fees included)"
            texts.append(t)
        fig.data[index].x = [ts_to_datetime(f["ts"]) for f in rows]
        fig.data[index].y = [to_float(f["price"]) for f in rows]
        fig.data[index].text = texts

    # stop moves after the first (cancel/replace or edit)
    moves = [r for r in stops if r["old_trigger"] is not None]
    fig.data[MOVES].x = [ts_to_datetime(r["ts"]) for r in moves]
    fig.data[MOVES].y = [to_float(r["trigger"]) for r in moves]
    fig.data[MOVES].text = [
        move_hover_text(
            r["old_trigger"], r["trigger"], r["limit_price"], r["price"], r["highest"], spec
        )
        for r in moves
    ]
    return fig


def highest_at(
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
