"""Bars as a continuous path: hand-made bars, and the fast path equal to the event
engine on seeded bars.

A bar's waypoints are open, nearer extreme, other extreme, close; between two of them
the market passes every price, so a resting order meets it at its own price. Between
bars the market jumps: a stop a bar opens under gaps through.
"""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from tradekit.backtest import (
    BacktestSpec,
    EntrySpec,
    FastPathRefused,
    as_source,
    event_backtest,
    fast_backtest,
)
from tradekit.backtest.spec import default_product
from tradekit.core.sanity import SanityParams
from tradekit.data.candles import Candle
from tradekit.data.frames import cut_bars
from tradekit.data.generators import PricePath

SEC = 10**9
BTC = default_product("BTC-USD")


def bars(*rows: str) -> list[Candle]:
    """'O H L C' rows, one minute apart."""
    out = []
    for i, row in enumerate(rows):
        o, h, lo, c = (D(x) for x in row.split())
        out.append(Candle(i * 60 * SEC, o, h, lo, c, D(4)))
    return out


# enter once on the first trade at its price; the print band off (these bars move far)
SPEC = BacktestSpec(
    BTC,
    D("0.05"),
    stop_limit_buffer_pct=D("0.01"),
    quote_budget=D("1000"),
    entry=EntrySpec("once", D(0)),
).with_(print_band_pct="off")


@pytest.mark.parametrize("engine", ["events", "fast"])
def test_a_stop_inside_a_bars_range_fills_at_its_trigger(engine):
    # buy 10 at 100 on the open; stop 95.00 / 94.05. Bar 1 opens at 99, touches 99.5
    # (the nearer extreme) and falls to 90: the path passes 95.00, where the stop
    # triggers and fills
    candles = bars("100 100 100 100", "99 99.5 90 92")
    run = fast_backtest if engine == "fast" else event_backtest
    result = run(SPEC, as_source(candles, "BTC-USD"))
    (t,) = result.trades
    assert (t.entry_price, t.exit_price) == (D("100.00"), D("95.00"))
    assert (t.exit_bar, t.exit_tick) == (1, 6)  # on the leg into the low (waypoint 6)


@pytest.mark.parametrize("engine", ["events", "fast"])
def test_the_nearer_extreme_comes_first(engine):
    # bar 1: O 100, H 112, L 99, C 100: the low is nearer, so the stop (95) survives and
    # the high ratchets it to 106.40; bar 2's fall to 100 exits there, not at 95
    candles = bars("100 100 100 100", "100 112 99 100", "101 101 100 100")
    run = fast_backtest if engine == "fast" else event_backtest
    (t,) = run(SPEC, as_source(candles, "BTC-USD")).trades
    assert t.exit_price == D("106.40") and t.exit_bar == 1  # 112 -> 100 passes 106.40
    # the high nearer: the open falls through 95 only after the high moved the stop
    candles = bars("100 100 100 100", "100 103 90 95")
    (t,) = run(SPEC, as_source(candles, "BTC-USD")).trades
    assert t.exit_price == D("97.85")  # 103 x 0.95, reached on the way down to 90


def test_a_gap_stays_a_gap_and_the_exit_never_fills_above_the_market():
    # bar 1 opens at 80, under the stop's limit (94.05): the stop triggers and rests
    # unfilled (a gap-through). The bar dips to 79, then climbs to 120
    candles = bars("100 100 100 100", "80 120 79 110")
    source = as_source(candles, "BTC-USD")
    with pytest.raises(FastPathRefused, match="gaps through"):
        fast_backtest(SPEC, source)
    # protection's defaults give up on the gapped stop after 10 s (the 79 print, 15 s
    # on) and sell at that market: 79, not the bar's later high
    (t,) = event_backtest(SPEC, source).trades
    assert t.exit_price == D("79.00")
    # told to wait longer, the stop's limit sell still rests when the bar climbs: the
    # path passes 94.05 first, so it fills there, never at 120
    patient = SPEC.with_(gap_exit_after="10m", gap_exit_after_trades=50)
    (t,) = event_backtest(patient, source).trades
    assert t.exit_price == D("94.05")


def test_an_exit_sent_at_the_market_fills_at_that_market():
    # bid 99.00 (10 % under 110); bar 1 jumps to 90, which fills the bid at its limit.
    # Its first stop (94.05) cannot rest over a market of 90, so the engine sends an
    # exit at the market: it fills at 90, where the market was when it was sent, never
    # at the bar's later high of 130
    candles = bars("110 110 110 110", "90 130 90 125")
    spec = SPEC.with_(entry_offset_pct="0.1", order_price_band_pct="off")
    source = as_source(candles, "BTC-USD")
    with pytest.raises(FastPathRefused, match="above the market"):
        fast_backtest(spec, source)
    (t,) = event_backtest(spec, source).trades
    assert t.entry_price == D("99.00") and t.exit_price == D("90.00")


def test_cut_bars_are_the_ticks_own_ohlc():
    path = PricePath("BTC-USD", D("100"), 600, seed=3, tick_ns=SEC)
    prices, times = as_source(path).arrays(BTC.quote_increment)
    columns = cut_bars(prices, times, BTC.quote_increment, 60 * SEC)
    assert len(columns) == 10
    first = [float(t.price) for t in path.ticks()][:60]
    assert columns.open[0] == first[0] and columns.close[0] == first[-1]
    assert columns.high[0] == max(first) and columns.low[0] == min(first)


def _bar_setting(i: int) -> tuple[BacktestSpec, object]:
    rng = random.Random(50_000 + i)
    path = PricePath(
        "BTC-USD",
        D(rng.choice(["60000", "2500", "31.7"])),
        rng.choice([3000, 6000]),
        seed=i,
        tick_ns=SEC,
        volatility=rng.choice([0.5, 1.0, 2.0]),
        jump_std=rng.choice([0.0, 0.003]),
    )
    prices, times = as_source(path).arrays(BTC.quote_increment)
    columns = cut_bars(prices, times, BTC.quote_increment, rng.choice([15, 60, 300]) * SEC)
    maker = D(rng.choice(["0.004", "0"]))
    spec = BacktestSpec(
        BTC,
        D(rng.choice(["0.002", "0.005", "0.01", "0.02"])),
        stop_limit_buffer_pct=D(rng.choice(["0.002", "0.005", "0.01", "0.02"])),
        min_ratchet=D(rng.choice(["0", "0", "0.0005", "0.002"])),
        max_entry_wait_ns=rng.choice([60, 300, 1800]) * SEC,
        entry=EntrySpec(
            rng.choice(["once", "fixed_offset", "fixed_offset"]),
            D(rng.choice(["0", "0", "0.001", "0.003"])),
        ),
        balance=D("1000000"),
        maker_fee=maker,
        taker_fee=max(maker, D("0.006")),
        sell_fills=rng.choice(["trade", "trade", "limit"]),
        sanity=SanityParams(),  # the fast path refuses what a print band might hold back
    )
    return spec, columns


def test_fast_path_equals_the_event_engine_on_seeded_bars():
    matched = refused = exits = 0
    for i in range(120):
        spec, columns = _bar_setting(i)
        source = as_source(columns, "BTC-USD")
        events = event_backtest(spec, source, progress=False)
        try:
            fast = fast_backtest(spec, source)
        except FastPathRefused as exc:
            refused += 1
            assert "gaps through" in exc.reason or "above the market" in exc.reason, exc.reason
            continue
        assert fast.trades == events.trades, i
        assert [(s.tick, s.trigger, s.limit) for s in fast.stops] == [
            (s.tick, s.trigger, s.limit) for s in events.stops
        ], i
        assert fast.final_equity == events.final_equity, i
        assert fast.stop_moves == events.stop_moves, i
        matched += 1
        exits += len(events.closed_trades)
    assert matched >= 100 and exits >= 500, (matched, refused, exits)
