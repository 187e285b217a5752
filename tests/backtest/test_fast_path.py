"""The NumPy fast path equals the event engine, Decimal for Decimal, or refuses.

Hundreds of seeded paths and settings, about half of them with a config's guards on
(print band, order guards, protection settings): every run either matches the backtest
path's trades (ticks, times, prices, sizes, fees, P&L), stops (tick, trigger, limit) and
final equity exactly, or is refused for a reason the event path shows really happened
(the print band: a refusal the proof could not rule out; every run where the filter
did ignore a print is among them).
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
from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.core.protection import ProtectionParams
from tradekit.core.reports import EntrySkipped, PrintIgnored, StopRejected, StopTriggered
from tradekit.core.sanity import SanityParams
from tradekit.data.candles import Candle
from tradekit.data.generators import DEFAULT_START_TS, PricePath

SEC = 10**9
BTC = default_product("BTC-USD")
COARSE = ProductSpec("ABC-USD", D("0.0001"), D("0.05"), D("0.001"))  # a 5-cent price grid
ONCE = EntrySpec("once", D(0))  # buy on the first trade at its price
BREACHES = ("at or above the market", "gaps through")
ORDER_GUARDS = ("max_order_size", "max_order_value", "order_price_band_pct")


def _setting(i: int) -> tuple[BacktestSpec, PricePath]:
    rng = random.Random(i)
    product = BTC if i % 5 else COARSE
    start = D(rng.choice(["60000", "2500", "31.7", "150"]))
    entry = EntrySpec(
        rng.choice(["once", "fixed_offset", "fixed_offset"]),
        D(rng.choice(["0", "0.001", "0.003"])),
        at_tick=rng.choice([0, 0, 37]),
        at_ts=None if rng.random() < 0.7 else DEFAULT_START_TS + rng.choice([0, 1800]) * SEC,
    )
    sizing = (
        {"quote_budget": D(rng.choice(["500", "1000", "2500"]))}
        if rng.random() < 0.8
        else {"size": D("0.05") if start > 1000 else D("3")}
    )
    maker = D(rng.choice(["0.004", "0", "0.0025"]))
    spec = BacktestSpec(
        product,
        D(rng.choice(["0.002", "0.005", "0.01", "0.02", "0.035", "0.05"])),
        stop_limit_buffer_pct=D(rng.choice(["0.002", "0.005", "0.01", "0.02"])),
        min_ratchet=D(rng.choice(["0", "0", "0.0005", "0.001", "0.004"])),
        max_entry_wait_ns=rng.choice([60, 300, 1800]) * SEC,
        entry=entry,
        balance=D("1000000"),
        maker_fee=maker,
        taker_fee=max(maker, D(rng.choice(["0.006", "0.001"]))),
        **sizing,
        **_guards(i),
    )
    path = PricePath(
        product.product_id,
        start,
        rng.choice([500, 1500, 2500]),
        seed=i,
        quote_increment=product.quote_increment,
        tick_ns=rng.choice([10, 60, 120]) * SEC,
        volatility=rng.choice([0.5, 1.0, 2.0]),
        jump_std=rng.choice([0.0, 0.003]),
        random_spacing=rng.random() < 0.3,
    )
    return spec, path


def _guards(i: int) -> dict:
    """A config's guards for about half the settings (their own generator: the other
    draws, and so the settings without guards, stay as they were)."""
    rng = random.Random(1_000_003 * (i + 1))
    if rng.random() < 0.5:
        return {}

    def maybe(*values: str | None) -> D | None:
        v = rng.choice(values)
        return None if v is None else D(v)

    sanity = SanityParams(
        print_band_pct=maybe(None, "0.05", "0.05", "0.02", "0.02", "0.004"),
        confirm_trades=rng.choice([1, 2, 3]),
        max_order_value=maybe(None, None, "1000000", "2000"),
        max_order_size=maybe(None, None, "100", "0.01"),
        order_price_band_pct=maybe(None, "0.05", "0.05", "0.002"),
    )
    protection = ProtectionParams(
        on_breach=rng.choice(["exit", "wait"]),
        exit_reprice_ns=rng.choice([1, 5, 60]) * SEC,
        gap_exit_after_ns=rng.choice([1, 10, 600]) * SEC,
        gap_exit_after_trades=rng.choice([1, 3, 50]),
    )
    return {"sanity": sanity, "protection": protection}


def _same(fast, events) -> None:
    assert fast.trades == events.trades
    assert [(s.tick, s.ts, s.trigger, s.limit, s.size) for s in fast.stops] == [
        (s.tick, s.ts, s.trigger, s.limit, s.size) for s in events.stops
    ]
    assert fast.final_equity == events.final_equity
    assert fast.fees == events.fees
    assert fast.stop_moves == events.stop_moves
    assert fast.holding_ns == events.holding_ns
    assert fast.n_ticks == events.n_ticks


def test_fast_path_equals_the_event_engine_on_360_seeded_runs():
    matched = refused = traded = 0
    guarded = {"print band": 0, "order guards": 0}  # matched runs with each guard on
    refusals = {"breach": 0, "order guard": 0, "print band": 0, "print ignored": 0}
    for i in range(360):
        spec, path = _setting(i)
        source = as_source(path)
        events = event_backtest(spec, source, progress=False)
        ignored = any(type(r) is PrintIgnored for r in events.reports)
        try:
            fast = fast_backtest(spec, source)
        except FastPathRefused as exc:
            refused += 1
            if "print_band_pct" in exc.reason:
                # refused before anything else: the filter may ignore a print
                refusals["print band"] += 1
                refusals["print ignored"] += ignored
                continue
            assert not ignored, (i, exc.reason)
            if any(g in exc.reason for g in ORDER_GUARDS):
                # the core skipped that very entry, for that very reason
                refusals["order guard"] += 1
                skipped = [r.reason for r in events.reports if type(r) is EntrySkipped]
                assert skipped and skipped[0] in exc.reason, (i, exc.reason, skipped)
                continue
            refusals["breach"] += 1
            assert any(b in exc.reason for b in BREACHES), (i, exc.reason)
            # the event path really met what the fast path refused: a stop the exchange
            # would not take, or one that triggered without filling
            assert any(
                type(r) is StopRejected or (type(r) is StopTriggered and r.filled_size < r.size)
                for r in events.reports
            ), (i, exc.reason)
            continue
        assert not ignored, i  # a print the filter ignored is never reproduced silently
        _same(fast, events)
        assert fast.params == events.params
        matched += 1
        traded += bool(events.closed_trades)
        guarded["print band"] += spec.sanity.print_band_pct is not None
        guarded["order guards"] += any(getattr(spec.sanity, g) is not None for g in ORDER_GUARDS)
    print(
        f"matched {matched}, refused {refused} {refusals}, with guards {guarded}, "
        f"closed a trade {traded}"
    )
    assert matched >= 200, (matched, refused)
    assert traded >= 100, traded
    assert min(guarded.values()) >= 40, guarded
    assert min(refusals.values()) >= 5, refusals


def _candles(moves: list[tuple[str, str, str, str]]) -> list[Candle]:
    return [
        Candle(i * 60 * SEC, D(o), D(h), D(lo), D(c), D(1)) for i, (o, h, lo, c) in enumerate(moves)
    ]


def test_refuses_a_gap_through_the_stops_limit():
    # entry at 100 (once, offset 0), stop 95.00 / 94.05; bar 2 opens at 90: under the limit
    candles = _candles(
        [("100", "101", "99", "100"), ("100", "100", "96", "97"), ("90", "91", "89", "90")]
    )
    spec = BacktestSpec(
        BTC, D("0.05"), stop_limit_buffer_pct=D("0.01"), entry=ONCE, sanity=SanityParams()
    )
    source = as_source(candles, "BTC-USD")
    with pytest.raises(FastPathRefused, match="gaps through the stop's limit"):
        fast_backtest(spec, source)
    events = event_backtest(spec, source, progress=False)
    # the stop triggered and rested unfilled under its limit; after three trades there
    # the event engine replaced it with an exit that sold (protection never lets go)
    trade = events.trades[0]
    assert not trade.is_open and trade.exit_price < D("94.05")


def test_refuses_a_first_stop_at_or_above_the_market():
    # the entry bids 100 and fills on a print at 90: its stop (95) cannot rest
    trades = [MarketTrade("BTC-USD", D(p), D(1), i * SEC) for i, p in enumerate(["100", "90"])]
    spec = BacktestSpec(BTC, D("0.05"), entry=ONCE, sanity=SanityParams())
    with pytest.raises(FastPathRefused, match="at or above the market"):
        fast_backtest(spec, as_source(trades))
    events = event_backtest(spec, as_source(trades), progress=False)
    assert any(type(r) is StopRejected for r in events.reports)


def test_refuses_what_it_does_not_model():
    path = PricePath("BTC-USD", D("60000"), 100, seed=1)
    pullback = BacktestSpec(BTC, D("0.02"), entry=EntrySpec("pullback", pullback_pct=D("0.01")))
    with pytest.raises(FastPathRefused, match="pullback"):
        fast_backtest(pullback, as_source(path))
    poor = BacktestSpec(BTC, D("0.02"), balance=D("10"))
    with pytest.raises(FastPathRefused, match="funds"):
        fast_backtest(poor, as_source(path))
    off_grid = [Candle(0, D("100.005"), D("100.005"), D("100.005"), D("100.005"), D(1))]
    with pytest.raises(FastPathRefused, match="not a multiple"):
        fast_backtest(BacktestSpec(BTC, D("0.02")), as_source(off_grid, "BTC-USD"))


@pytest.mark.parametrize("band", ["0.05", "0.02", "0.004", "0.3", "0.0137"])
def test_the_print_band_proof_holds_against_the_cores_filter(band):
    """Paths whose every move is as large as the fast path's bound allows, pushed in
    runs of one direction (the reference lags, recentring only at its inner band): the
    core's own PrintFilter uses every print of every path the fast path accepts; one
    step more than the bound is refused."""
    import numpy as np

    from tradekit.backtest.fast import _every_print_used
    from tradekit.core.sanity import PrintFilter

    b = D(band)
    bn, bd = b.as_integer_ratio()
    wide = 2 * bd + bn
    for seed in range(12):
        rng = random.Random(seed)
        prices = [rng.choice([1000, 123_457, 6_000_000, 7])]
        up = True
        for _ in range(400):
            p = prices[-1]
            largest = (p * bn - 1) // wide  # the largest move the bound allows from p
            if rng.random() < 0.15:
                up = not up
            move = largest if rng.random() < 0.8 else rng.randint(0, largest)
            prices.append(max(1, p + move if up else p - move))
        path = np.asarray(prices, dtype=np.int64)
        _every_print_used(path, b)  # accepted
        prints = PrintFilter(b, 3)
        assert all(prints.check(p * D("0.01")) is None for p in prices), (band, seed)
        over = path.copy()
        k = rng.randrange(1, len(over))
        over[k] = over[k - 1] + (over[k - 1] * bn - 1) // wide + 1
        with pytest.raises(FastPathRefused, match="print_band_pct"):
            _every_print_used(over, b)
