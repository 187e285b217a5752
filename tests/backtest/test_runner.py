"""`run_arrays` (trades outside the quiet bands handled, the rest handed over in bulk)
equals `run_events` (every trade handled), trade for trade and state for state.

The bands are the engine's and the paper market's own word on which prices they would
ignore; a band one tick too wide would change a stop, a fill or a report somewhere in
these runs: gappy paths, coarse grids with base and quote minimums, entries that time
out, refused stops, print filters, and rules that must see every trade.
"""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal as D

import numpy as np
import pytest

from tradekit.backtest import BacktestSpec, EntrySpec, as_source
from tradekit.backtest.runner import run_arrays, run_events
from tradekit.backtest.spec import default_product
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.core.protection import ProtectionParams
from tradekit.core.sanity import SanityParams
from tradekit.data.candles import Candle
from tradekit.data.frames import cut_bars
from tradekit.data.generators import DEFAULT_START_TS, PricePath

SEC = 10**9
BTC = default_product("BTC-USD")
# a 5-cent grid with a base minimum of 0.1 and a quote minimum of 10: sizes near both
COARSE = ProductSpec("ABC-USD", D("0.001"), D("0.05"), D("0.1"), quote_min_size=D("10"))


def _setting(i: int):
    rng = random.Random(1000 + i)
    product = BTC if i % 3 else COARSE
    start = D(rng.choice(["60000", "2500", "31.7", "150"]))
    rule = rng.choice(["once", "fixed_offset", "fixed_offset", "pullback"])
    entry = EntrySpec(
        rule,
        D(rng.choice(["0", "0.001", "0.003"])),
        at_tick=rng.choice([0, 0, 37]) if rule == "once" else 0,
        at_ts=(
            DEFAULT_START_TS + rng.choice([0, 1800]) * SEC
            if rule == "once" and rng.random() < 0.3
            else None
        ),
        **({"pullback_pct": D("0.004"), "window_ns": 900 * SEC} if rule == "pullback" else {}),
    )
    budget = D(rng.choice(["12", "500", "2500"]))  # 12: a first stop near the minimum
    spec = BacktestSpec(
        product,
        D(rng.choice(["0.002", "0.005", "0.01", "0.02", "0.05"])),
        stop_limit_buffer_pct=D(rng.choice(["0", "0.002", "0.01"])),
        min_ratchet=D(rng.choice(["0", "0", "0.0005", "0.004"])),
        max_entry_wait_ns=rng.choice([30, 300, 1800]) * SEC,
        entry=entry,
        quote_budget=budget,
        balance=D("1000000"),
        sell_fills=rng.choice(["trade", "limit"]),
    )
    params = spec.params()
    if rng.random() < 0.4:
        band = SanityParams(print_band_pct=D(rng.choice(["0.002", "0.01"])), confirm_trades=2)
        params = dataclasses.replace(params, sanity=band)
    if rng.random() < 0.3:
        params = dataclasses.replace(params, protection=ProtectionParams(on_breach="wait"))
    path = PricePath(
        product.product_id,
        start,
        rng.choice([800, 2000]),
        seed=i,
        quote_increment=product.quote_increment,
        tick_ns=rng.choice([10, 60]) * SEC,
        volatility=rng.choice([0.5, 1.5, 4.0]),
        jump_std=rng.choice([0.0, 0.01]),
        random_spacing=rng.random() < 0.3,
    )
    return spec, params, as_source(path)


def _both(spec: BacktestSpec, params, source):
    q = spec.product.quote_increment
    prices, times = source.arrays(q)
    one = DecisionEngine(params, spec.entry.make(), "bt")
    two = DecisionEngine(params, spec.entry.make(), "bt")
    ex1, ex2 = spec.exchange(), spec.exchange()
    bars = source.bars
    # bars' waypoints one by one, priced as the arrays are (on the grid, its exponent)
    stream = (
        (
            MarketTrade(source.product_id, int(p) * q, D(1), int(t))
            for p, t in zip(prices, times, strict=True)
        )
        if bars
        else source.stream()
    )
    t1, d1 = run_events(one, ex1, stream, bars=bars)
    t2, d2 = run_arrays(two, ex2, source.product_id, prices, times, q, bars=bars)
    assert t2.reports == t1.reports
    assert t2.fills == t1.fills
    assert t2.stops == t1.stops
    assert t2.states == t1.states
    assert t2.commands == t1.commands
    assert (t2.n_ticks, t2.first_ts, t2.last_ts, t2.last_price) == (
        t1.n_ticks,
        t1.first_ts,
        t1.last_ts,
        t1.last_price,
    )
    assert np.array_equal(np.frombuffer(t1.prices), t2.prices)
    assert np.array_equal(np.frombuffer(t1.times, dtype=np.int64), t2.times)
    s1, s2 = d1.decision.snapshot(), d2.decision.snapshot()
    # a price from the arrays carries the grid's exponent (13.50 where a candle said 13.5)
    assert D(s2.pop("last_price")) == D(s1.pop("last_price"))
    assert s2 == s1
    assert (d2.decision.last_price, d2.decision.last_ts) == (
        d1.decision.last_price,
        d1.decision.last_ts,
    )
    assert ex2.list_orders() == ex1.list_orders()
    assert ex2.balances() == ex1.balances()
    assert ex2.market_seq == ex1.market_seq
    return t1, t2


def test_run_arrays_equals_run_events_on_240_seeded_runs():
    traded = skipping = following = 0
    for i in range(240):
        spec, params, source = _setting(i)
        t1, t2 = _both(spec, params, source)
        traded += any(type(r).__name__ == "PositionClosed" for _, r in t1.reports)
        skipping += t2.handled < t2.n_ticks // 2
        following += t2.followed > 0
        assert t1.followed == 0  # one by one: every move handled
    assert traded >= 150, traded
    assert skipping >= 100, skipping  # the bands really skip, most of the time
    assert following >= 60, following  # and ratchet runs are followed in one step


def test_bars_as_a_path_equal_one_by_one_too():
    """The same settings on bars cut from each path (a continuous path inside a bar,
    a jump between bars): every trade handled, or quiet ones in bulk and ratchet runs
    followed in one step, give the same trades, stops, orders and state."""
    following = 0
    for i in range(0, 240, 3):
        spec, params, ticks = _setting(i)
        q = spec.product.quote_increment
        prices, times = ticks.arrays(q)
        span = (3 + i % 5) * 60 * SEC
        bars = as_source(cut_bars(prices, times, q, span), ticks.product_id)
        assert bars.bars
        _, t2 = _both(spec, params, bars)
        following += t2.followed > 0
    assert following >= 15, following


def test_candles_skip_and_equal_too():
    candles = []
    price = D("100")
    rng = random.Random(7)
    for i in range(600):
        close = max(D("1"), price + D(rng.choice(["1", "2", "-3", "4", "-1", "-6", "0.5"])))
        high = max(price, close) + D(rng.choice(["0", "1", "2.5"]))
        low = max(D("0.5"), min(price, close) - D(rng.choice(["0", "1", "4"])))
        candles.append(Candle(i * 60 * SEC, price, high, low, close, D(5)))
        price = close
    source = as_source(candles, "BTC-USD")
    spec = BacktestSpec(
        BTC, D("0.03"), entry=EntrySpec("fixed_offset", D("0.005")), sanity=SanityParams()
    )
    t1, t2 = _both(spec, spec.params(), source)
    assert any(type(r).__name__ == "PositionClosed" for _, r in t1.reports)
    assert t2.handled < t1.handled  # (bars: the path's added trades count as handled)


@pytest.mark.parametrize("rule", ["fixed_offset", "once"])
def test_a_gap_through_every_level_is_handled(rule):
    """A market that rises for a while, then prints far under the stop's limit in one
    trade and stays there: the trade under the band is never skipped."""
    base = 60000 * 100
    ups = [base + k * 50 for k in range(400)]
    prices = np.asarray([*ups, base // 2, *([base // 2 + 1] * 50)], dtype=np.int64)
    times = DEFAULT_START_TS + np.arange(len(prices), dtype=np.int64) * SEC
    spec = BacktestSpec(
        BTC,
        D("0.01"),
        entry=EntrySpec(rule, D(0)),
        max_entry_wait_ns=86400 * SEC,
        sanity=SanityParams(),
    )
    q = BTC.quote_increment
    one = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    t, _ = run_arrays(one, spec.exchange(), "BTC-USD", prices, times, q)
    names = [type(r).__name__ for _, r in t.reports]
    assert "StopGappedThrough" in names or "ExitPlaced" in names, names
    assert "PositionClosed" in names
    # the exit happened after the gap, at the gap's prices, not at a skipped one
    closed = next(r for _, r in t.reports if type(r).__name__ == "PositionClosed")
    assert closed.exit_price <= D(base // 2 + 1) / 100
    assert t.handled < t.n_ticks
