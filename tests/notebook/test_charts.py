"""Ratchet charts: decimation keeps what matters, the figure's traces, live throttling."""

from __future__ import annotations

import random
import re
from bisect import bisect_left
from decimal import Decimal

import pytest
from helpers.nbtools import FakeClock, demo_engine, require

from tradekit.core.events import MarketTrade, OrderFilled
from tradekit.core.reports import StopMoved

require("plotly", "anywidget")

from tradekit import format as fmt  # noqa: E402
from tradekit.exchange.products import DEFAULT_PRODUCTS  # noqa: E402
from tradekit.notebook.charts import (  # noqa: E402
    TRACE_NAMES,
    LiveRatchetChart,
    decimate,
    price_points,
    ratchet_figure,
    ts_to_datetime,
)
from tradekit.notebook.charts.static import highest_at  # noqa: E402


@pytest.fixture(scope="module")
def finished_run():
    """The demo pair run to the end (20 000 ticks, several positions, 60 stop moves)."""
    setup, engine = demo_engine(run_id="chart")
    engine.run()
    return setup, engine.store


# -- decimation ------------------------------------------------------------------------


def test_decimate_keeps_every_kept_index_and_the_extremes():
    rnd = random.Random(1)
    price = 60_000_00
    prices = []
    for _ in range(200_000):
        price += rnd.randint(-300, 300)
        prices.append(Decimal(price) / 100)
    keep = set(rnd.sample(range(len(prices)), 300))
    idx = decimate(prices, 2000, keep)
    assert idx == sorted(set(idx))
    assert keep <= set(idx)
    assert {0, len(prices) - 1} <= set(idx)
    assert prices.index(min(prices)) in idx and prices.index(max(prices)) in idx
    assert len(idx) <= 2000 + len(keep) + 2


def test_decimate_returns_a_short_series_whole():
    prices = [Decimal(i) for i in range(50)]
    assert decimate(prices, 100) == list(range(50))
    with pytest.raises(ValueError):
        decimate(prices, 1)


def test_price_points_refuse_floats_and_sort_by_time():
    with pytest.raises(TypeError):
        price_points([(1, 60000.5)])
    ts, px = price_points([(2, "2"), (1, Decimal("1")), (3, 3)])
    assert ts == [1, 2, 3] and px == [Decimal(1), Decimal(2), Decimal(3)]
    trades = [MarketTrade("BTC-USD", Decimal(1), Decimal(1), 5), MarketTrade("ETH-USD", 2, 1, 6)]
    assert price_points(trades, "BTC-USD") == ([5], [Decimal(1)])


# -- the static figure -----------------------------------------------------------------


def test_static_figure_decimates_without_hiding_a_stop_move_or_a_fill(finished_run):
    setup, store = finished_run
    fig = ratchet_figure(store, setup.product_id, setup.path(), max_points=500)
    price = fig.data[TRACE_NAMES.index("price")]
    assert len(price.x) < 1000  # 20 000 ticks decimated
    drawn = set(price.x)
    stops = store.stop_history(setup.product_id)
    fills = store.fills(setup.product_id)
    assert len(stops) > 20 and len(fills) >= 8
    for ts in [r["ts"] for r in stops] + [f["ts"] for f in fills]:
        assert ts_to_datetime(ts) in drawn, f"the point at {ts} was decimated away"


def test_static_figure_has_step_lines_markers_and_hovers_for_people(finished_run):
    setup, store = finished_run
    fig = ratchet_figure(store, setup.product_id, setup.path())
    assert tuple(t.name for t in fig.data) == TRACE_NAMES
    by_name = {t.name: t for t in fig.data}
    for name in ("highest since entry", "stop trigger", "stop limit"):
        assert by_name[name].line.shape == "hv", name
    stops = store.stop_history(setup.product_id)
    fills = store.fills(setup.product_id)
    moves = [r for r in stops if r["old_trigger"] is not None]
    assert len(by_name["stop moves"].x) == len(moves)
    assert len(by_name["entries"].x) == sum(f["side"] == "BUY" for f in fills)
    assert len(by_name["exits"].x) == sum(f["side"] == "SELL" for f in fills)
    # hovers read as prices at the product's increment, money to the cent
    spec = DEFAULT_PRODUCTS[setup.product_id]
    first = moves[0]
    moved = f"{fmt.price(first['old_trigger'], spec)} → {fmt.price(first['trigger'], spec)}"
    assert moved in by_name["stop moves"].text[0]
    assert fmt.price(stops[0]["trigger"], spec) in by_name["stop trigger"].text[0]
    pnl = store.closed_positions(setup.product_id)[0]["realized_pnl"]
    assert any(f"P&L {fmt.signed_money(pnl)} " in t for t in by_name["exits"].text)
    fees = [f["fee"] for f in fills]
    assert any(fee != fee.quantize(fmt.CENT) for fee in fees)  # exact fees have more digits
    texts = [t for trace in fig.data for t in (trace.text or ()) if t]
    assert not [t for t in texts if re.search(r"\d\.\d{3,}", t)], "a long decimal in a hover"
    # the first stop of every position is marked where it rests (a marker on its level)
    sizes = list(by_name["stop trigger"].marker.size)
    placed = [i for i, size in enumerate(sizes) if size]
    assert len(placed) == len({r["position_id"] for r in stops})
    for i in placed:
        assert by_name["stop trigger"].text[i].startswith("stop placed")
    # the stop segments: one per position, separated by gaps
    positions = {r["position_id"] for r in stops}
    assert list(by_name["stop trigger"].y).count(None) == len(positions)


def test_highest_since_entry_is_what_the_stop_trailed(finished_run):
    """Recomputed from prices and fills, the high equals the engine's own at every move."""
    setup, store = finished_run
    ts, px = price_points(setup.path())
    stops = store.stop_history(setup.product_id)
    positions = sorted(
        store.closed_positions(setup.product_id) + store.open_positions(setup.product_id),
        key=lambda p: p["id"],
    )
    idx = sorted({bisect_left(ts, r["ts"]) for r in stops})
    highs = dict(zip(idx, highest_at(ts, px, idx, positions, store.fills()), strict=True))
    for r in stops:
        assert highs[bisect_left(ts, r["ts"])] == r["highest"], r


def test_static_figure_without_prices_still_draws_the_stops(finished_run):
    setup, store = finished_run
    fig = ratchet_figure(store, setup.product_id)
    assert len(fig.data[0].x) == 0
    assert len(fig.data[TRACE_NAMES.index("stop trigger")].x) > 0


# -- the live chart --------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1.0, 4.0, 10.0])
def test_live_chart_is_throttled_over_10000_steps(rate):
    _, engine = demo_engine(run_id="live")
    clock = FakeClock()
    chart = LiveRatchetChart(engine, clock=clock, max_updates_per_s=rate)
    steps = 10_000
    saw_fill = saw_move = False
    for i in range(steps):
        result = engine.step()
        assert result is not None
        clock.now = (i + 1) / 1000  # 1 ms of simulated time per step
        chart.update(result)
        saw_fill |= isinstance(result.event, OrderFilled)
        saw_move |= any(isinstance(r, StopMoved) for r in result.reports)
    chart.flush()
    seconds = steps / 1000
    assert chart.frontend_updates <= rate * seconds + 1
    assert chart.frontend_updates >= rate * seconds - 1  # it did keep the front end current
    assert saw_fill and saw_move
    data = {t.name: t for t in chart.widget.data}
    assert len(data["entries"].x) >= 1
    assert len(data["stop trigger"].x) >= 2
    assert data["price"].x[-1] == ts_to_datetime(engine.decision.last_ts)


def test_live_chart_keeps_a_bounded_number_of_points_but_every_marked_one():
    _, engine = demo_engine(run_id="bounded")
    chart = LiveRatchetChart(engine, clock=FakeClock(), max_points=300)
    moves: list[int] = []
    fills: list[int] = []
    for _ in range(12_000):
        result = engine.step()
        chart.update(result)
        moves += [r.ts for r in result.reports if isinstance(r, StopMoved)]
        if isinstance(result.event, OrderFilled):
            fills.append(result.event.ts)
    chart.flush()
    assert chart.points <= 2 * 300 + len(set(moves + fills)) + 2
    drawn = set(chart.widget.data[0].x)
    for ts in moves + fills:
        assert ts_to_datetime(ts) in drawn


def test_follow_steps_the_engine_and_flushes_at_the_end():
    setup, engine = demo_engine(run_id="follow")
    clock = FakeClock()
    chart = LiveRatchetChart(clock=clock)
    handled = chart.follow(engine, ticks=7_000)
    assert handled == 7_000 and engine.cursor == 7_000
    assert chart.frontend_updates == 1  # the clock never moved: only the final flush
    assert chart.product_id == setup.product_id
    assert chart.widget.data[0].x[-1] == ts_to_datetime(engine.decision.last_ts)
    # until_ts stops at the first trade at or after it
    target = engine.decision.last_ts + 50 * 5 * 10**9
    chart.follow(engine, until_ts=target)
    assert engine.decision.last_ts == target


def test_a_chart_attached_mid_position_starts_from_the_engine_state():
    _, engine = demo_engine(run_id="mid")
    while engine.decision.position is None:
        engine.step()
    chart = LiveRatchetChart(engine, clock=FakeClock())
    chart.flush()
    trigger = chart.widget.data[TRACE_NAMES.index("stop trigger")]
    assert trigger.y[-1] == float(engine.decision.position.stop_trigger)


def test_live_chart_draws_the_first_stop_from_its_report_to_the_latest_trade():
    _, engine = demo_engine(run_id="first-stop")
    chart = LiveRatchetChart(engine, clock=FakeClock())
    # step until the position's first stop is reported
    while True:
        result = engine.step()
        assert result is not None, "the demo never placed a stop"
        chart.update(result)
        first = [r for r in result.reports if isinstance(r, StopMoved) and r.old_trigger is None]
        if first:
            break
    placed = first[0]
    chart.flush()
    trigger = chart.widget.data[TRACE_NAMES.index("stop trigger")]
    xs = list(trigger.x)
    # drawn at once, marked where it rests (even before any later trade)
    at = xs.index(ts_to_datetime(placed.ts))
    assert trigger.marker.size[at] > 0
    assert trigger.y[at] == float(placed.trigger)
    # the next trade after it extends the level to that trade: a visible segment (the
    # fill's own trade, at the same time, comes first)
    while True:
        result = engine.step()
        chart.update(result)
        if isinstance(result.event, MarketTrade) and result.event.ts > placed.ts:
            break
    chart.flush()
    trigger = chart.widget.data[TRACE_NAMES.index("stop trigger")]
    assert trigger.x[-1] == ts_to_datetime(result.event.ts) > ts_to_datetime(placed.ts)
    assert trigger.y[-1] == float(engine.decision.position.stop_trigger)


def test_the_backtest_chart_draws_time_price_stop_and_equity_on_their_own_axes():
    require("plotly", "anywidget", "numpy")
    from tradekit.backtest import backtest
    from tradekit.demo import DemoSetup
    from tradekit.notebook.charts import BacktestChart

    trades = DemoSetup(seed=7, ticks=3_000).path().to_list()
    result = backtest(trades, {"trail_pct": "0.01", "quote_budget": "1000", "entry": "once"})
    chart = BacktestChart("BTC-USD")
    chart.show(result)
    price, stop, _entries, _exits, equity = chart.widget.data
    # times as dates of the path (2024), not nanoseconds
    assert str(price.x[0]).startswith("2024-01-01") and chart.widget.layout.xaxis.type == "date"
    assert str(stop.x[0]).startswith("2024-01-01") and len(stop.y) >= len(result.stops)
    assert equity.yaxis == "y2" and equity.line.color != price.line.color != stop.line.color
    assert chart.widget.layout.legend.y > 1  # above the plot: it covers no line
