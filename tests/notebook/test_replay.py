"""`Replay` over recorded runs: at every step, the state it folds from the journal is
the state the store recorded (stops, positions, fills, resting orders), and the player's
controls move through the run."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from helpers.nbtools import require

from tradekit.core.events import OrderFilled
from tradekit.demo import DemoSetup
from tradekit.notebook.replay import Replay, replay_steps
from tradekit.store.sqlite import Store


def _paper_run(seed: int = 7, ticks: int = 20_000):
    setup = DemoSetup(seed=seed, ticks=ticks)
    store = Store(":memory:")
    engine = setup.engine(store, setup.exchange(), run_id="replay")
    engine.run()
    return store, engine, setup.path().to_list()


def _gap_run():
    """The teaching notebook's run: a 3 % gap down at trade 1,000, through the stop's
    trigger and its limit (the stop triggers, rests unfilled, and the exit follows)."""
    setup = DemoSetup(seed=3, ticks=8_000)
    prices = setup.path().to_list()
    gapped = prices[:1000] + [
        dataclasses.replace(t, price=(t.price * Decimal("0.97")).quantize(Decimal("0.01")))
        for t in prices[1000:]
    ]
    store = Store(":memory:")
    engine = setup.engine(store, setup.exchange(), run_id="gap", trades=gapped)
    engine.run()
    return store, engine, gapped


@pytest.fixture(scope="module", params=["paper", "gap-through"])
def run(request):
    return _paper_run() if request.param == "paper" else _gap_run()


def test_every_step_has_the_state_the_store_recorded(run):
    store, engine, _ = run
    steps = replay_steps(store)
    assert steps, "a run with trades has steps"
    stops = store.stop_history()
    positions = sorted(store.closed_positions() + store.open_positions(), key=lambda p: p["id"])
    fills = store.fills()
    fills_seen = 0
    for s in steps:
        a = s.after
        # every StopMoved so far is a stop_history row, in order, with the same levels
        assert a.stops_set <= len(stops)
        if a.open_size:
            row = stops[a.stops_set - 1] if a.stops_set else None
            if row is not None and row["position_id"] == a.positions_closed + 1:
                assert (a.stop_trigger, a.stop_limit) == (row["trigger"], row["limit_price"])
            # the open position is the store's next one, with its entry
            pos = positions[a.positions_closed]
            assert (a.open_size, a.entry_price) == (pos["size"], pos["entry_price"])
        else:
            assert a.stop_trigger is None
        # closed positions so far: the store's first ones, P&L summed exactly
        closed = positions[: a.positions_closed]
        assert all(p["closed_ts"] is not None for p in closed)
        assert a.realized_pnl == sum((p["realized_pnl"] for p in closed), Decimal(0))
        # the fills so far are the store's first ones, in order
        for f in (x for x in (s.event, *s.answers) if isinstance(x, OrderFilled)):
            stored = fills[fills_seen]
            assert (f.trade_id, f.price, f.size, f.fee) == (
                stored["trade_id"],
                stored["price"],
                stored["size"],
                stored["fee"],
            )
            fills_seen += 1
        assert a.fills == fills_seen
        # a step's "before" is the previous step's "after"
        if s.index:
            assert s.before == steps[s.index - 1].after
    assert fills_seen == len(fills)
    end = steps[-1].after
    # at the end: the orders resting are the store's live ones, the position the engine's
    live = {o.client_order_id for o in store.orders() if not o.status.is_terminal}
    assert {o.client_order_id for o in end.orders} == live
    pos = engine.decision.position
    if pos is None:
        assert end.open_size is None
    else:
        assert (end.open_size, end.stop_trigger, end.stop_limit) == (
            pos.open_size,
            pos.stop_trigger,
            pos.stop_limit,
        )
    assert end.realized_pnl == store.total_realized_pnl()


def test_the_gap_through_step_explains_the_exit():
    store, _, prices = _gap_run()
    replay = Replay(store, prices=prices)
    step = replay.goto("StopGappedThrough", start=0)
    text = repr(replay)
    assert "StopGappedThrough" in step.types
    assert step.before.protection.startswith("stop triggered")
    assert step.after.protection.startswith("exit working")
    assert "CancelOrder" in text and "PlaceLimitSell" in text and "reason gap_through" in text
    # numbers for people in the panel: no Decimal repr, prices on the cent grid
    assert "Decimal(" not in text and "57,522.88" in text


def test_the_player_moves_with_its_slider_and_buttons():
    require("ipywidgets", "plotly", "anywidget")
    store, _, prices = _gap_run()
    replay = Replay(store, prices=prices)
    replay._repr_mimebundle_()  # builds the widgets, as displaying does
    first_panel = replay.panel.value
    replay.buttons["next"].click()
    assert replay.index == 1 and replay.slider.value == 1
    assert replay.panel.value != first_panel
    replay.slider.value = 5  # a drag
    assert replay.index == 5 and "6 of" in replay.panel.value
    replay.buttons["first"].click()
    assert replay.index == 0
    replay.buttons["notable"].click()
    assert replay.step.types & {"OrderFilled", "PositionOpened"}
    # the chart shows the price up to the step, not beyond
    shown = replay.chart.data[0].x
    assert shown and max(shown) <= replay.chart.layout.shapes[0].x0
    # the stop is drawn until the position closed, then not
    closed = replay.goto("PositionClosed", start=0)
    trigger_x = [x for x in replay.chart.data[1].x if x is not None]
    assert max(trigger_x) == replay.chart.layout.shapes[0].x0
    assert closed.after.stop_trigger is None
    replay.buttons["last"].click()
    assert replay.index == len(replay.steps) - 1
    assert len(replay.chart.data[0].x) > len(shown)
    assert max(replay.chart.data[0].x) == replay.chart.layout.shapes[0].x0


def test_replay_refuses_what_it_cannot_play():
    with pytest.raises(TypeError, match="give it a Store"):
        Replay(42)
    with pytest.raises(ValueError, match="journal is empty"):
        Replay(Store(":memory:"))


def test_exits_say_why_each_position_sold(run):
    store, _, _ = run
    exits = Replay(store).exits()
    closed = store.closed_positions()
    assert [r["realized_pnl"] for r in exits] == [p["realized_pnl"] for p in closed]
    assert [r["exit_price"] for r in exits] == [p["exit_price"] for p in closed]
    reasons = [r["why"] for r in exits]
    assert all(reasons)
    if any("gap" in str(r["type"]).lower() for r in store.journal(kinds="report")):
        assert reasons[0].startswith("the price gapped through the stop's limit (58,514.72)")
    assert any(w.startswith("its trailing stop triggered at ") for w in reasons)
    assert "Decimal(" not in exits._repr_html_()


def test_a_backtest_replayed_has_the_backtests_trades():
    import tradekit

    prices = DemoSetup(seed=3, ticks=6_000).path().to_list()
    params = {"trail_pct": "0.01", "quote_budget": "3000", "entry": "once"}
    result = tradekit.backtest(prices, params)
    replay = Replay.of_backtest(prices, params)
    exits = replay.exits()
    closed = [t for t in result.trades if not t.is_open]
    assert closed, "the path closes a position"
    assert [r["realized_pnl"] for r in exits] == [t.pnl for t in closed]
    assert [r["exit_price"] for r in exits] == [t.exit_price for t in closed]
    assert replay.steps[-1].after.stops_set == len(result.stops)
