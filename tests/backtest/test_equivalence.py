"""The backtest path equals the journaled ExecutionEngine: same reports (trades, stop
moves, P&L), same fills, same orders on the exchange, same final decision state.

Both run the same DecisionEngine rules on the same paper exchange; only the journal
differs. If the core grows a rule or a command, this is the test that must stay green.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradekit.backtest import BacktestSpec, EntrySpec, as_source, event_backtest
from tradekit.backtest.runner import run_events
from tradekit.backtest.spec import default_product
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import MarketTrade
from tradekit.core.reports import StopMoved
from tradekit.data.candles import Candle
from tradekit.data.generators import PricePath
from tradekit.engine import ExecutionEngine
from tradekit.store.sqlite import Store

BTC = default_product("BTC-USD")
SEC = 10**9


def _journaled(spec: BacktestSpec, trades: list[MarketTrade], tmp_path):
    exchange = spec.exchange()
    store = Store(tmp_path / "engine.sqlite")
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    engine = ExecutionEngine(decision, exchange, store, lambda start: iter(trades[start:]))
    engine.run()
    reports = [e.obj for e in store.journal_objects(kinds=["report"])]
    return engine.decision, exchange, reports, store


def _same_reports(journaled: list, trace) -> None:
    """The backtest keeps every report but the stop moves, which it counts and keeps as
    its stop history (every stop the exchange acknowledged): the journal's StopMoved
    reports are those moves, trigger for trigger."""
    moved = [r for r in journaled if isinstance(r, StopMoved)]
    assert [r for r in journaled if not isinstance(r, StopMoved)] == [r for _, r in trace.reports]
    assert sum(r.old_trigger is not None for r in moved) == trace.stop_moves
    history = [(s.trigger, s.limit) for s in trace.stops.history(1)]
    # a resize (more bought) is acknowledged at the same trigger: not a move
    changes = [b for a, b in zip([None, *history], history, strict=False) if a != b]
    assert [(r.trigger, r.limit) for r in moved] == [c for c in changes if c is not None]


def _lean(spec: BacktestSpec, trades: list[MarketTrade]):
    exchange = spec.exchange()
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    trace, driver = run_events(decision, exchange, iter(trades))
    return driver.decision, exchange, [r for _, r in trace.reports], trace


SCENARIOS = [
    # (seed, ticks, entry, trail, min_ratchet, buffer, wait_s, volatility)
    (1, 6000, EntrySpec("fixed_offset", D("0.001")), "0.01", "0", "0.005", 300, 0.8),
    (2, 6000, EntrySpec("fixed_offset", D("0")), "0.005", "0.001", "0.002", 120, 1.5),
    (3, 6000, EntrySpec("once", D("0.002"), at_tick=100), "0.01", "0", "0.005", 600, 1.5),
    (
        4,
        6000,
        EntrySpec("pullback", D("0.001"), pullback_pct=D("0.003"), window_ns=600 * SEC),
        "0.008",
        "0.0005",
        "0.001",
        120,
        1.2,
    ),
    # a gappy market: stops triggered through their limits, refused stops, re-tries
    (5, 6000, EntrySpec("fixed_offset", D("0")), "0.002", "0", "0", 90, 4.0),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"seed{s[0]}-{s[2].rule}")
def test_backtest_path_equals_the_journaled_engine(scenario, tmp_path):
    seed, n, entry, trail, step, buffer, wait, vol = scenario
    spec = BacktestSpec(
        BTC,
        D(trail),
        stop_limit_buffer_pct=D(buffer),
        min_ratchet=D(step),
        max_entry_wait_ns=wait * SEC,
        quote_budget=D("2000"),
        entry=entry,
        balance=D("50000"),
    )
    path = PricePath(
        "BTC-USD", D("60000"), n, seed=seed, volatility=vol, jump_std=0.01, tick_ns=60 * SEC
    )
    trades = path.to_list()
    d1, ex1, reports1, store = _journaled(spec, trades, tmp_path)
    d2, ex2, reports2, trace = _lean(spec, trades)
    _same_reports(reports1, trace)
    assert trace.stop_moves > 0
    assert any(type(r).__name__ == "PositionClosed" for r in reports2), "a scenario that trades"
    assert ex1.list_fills() == ex2.list_fills()
    assert ex1.list_orders() == ex2.list_orders()
    assert ex1.balances() == ex2.balances()
    assert d1.snapshot() == d2.snapshot()
    # and the result's trades are the store's closed positions, P&L for P&L
    result = event_backtest(spec, as_source(path), progress=False)
    closed = store.closed_positions("BTC-USD")
    assert [t.pnl for t in result.closed_trades] == [p["realized_pnl"] for p in closed]
    assert [t.exit_price for t in result.closed_trades] == [p["exit_price"] for p in closed]
    store.close()


def test_candles_equal_too(tmp_path):
    """Four trades a bar (open, low, high, close): the same on both paths."""
    candles = []
    price = D("100")
    for i, move in enumerate(["1", "2", "-3", "4", "5", "-9", "2", "3", "-1", "-6", "4", "7"] * 5):
        close = price + D(move)
        candles.append(
            Candle(i * 60 * SEC, price, max(price, close) + 1, min(price, close) - 1, close, D(5))
        )
        price = close
    source = as_source(candles, "BTC-USD")
    trades = list(source.stream())
    spec = BacktestSpec(BTC, D("0.03"), entry=EntrySpec("fixed_offset", D("0.005")))
    d1, ex1, r1, store = _journaled(spec, trades, tmp_path)
    d2, ex2, _, trace = _lean(spec, trades)
    _same_reports(r1, trace)
    assert ex1.list_fills() == ex2.list_fills() and d1.snapshot() == d2.snapshot()
    store.close()
