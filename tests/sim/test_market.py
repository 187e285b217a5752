"""The simulator's price driver, its CLI parsers, the synthetic book and trade history."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradekit.core.events import MarketTrade
from tradekit.data.generators import PricePath
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.products import BTC_USD, SOL_USD
from tradekit.sim.history import NS_PER_MINUTE, TradeHistory, tick_side
from tradekit.sim.market import (
    Market,
    book_step,
    default_paths,
    parse_speed,
    prices_source,
    start_market,
    synth_book,
)
from tradekit.sim.state import SimState

D = Decimal
S = 1_000_000_000


def fresh() -> SimState:
    return SimState(PaperExchange(balances={"USD": D("100000"), "BTC": D("2")}))


def spaced(n: int, gap_ns: int, product: str = "BTC-USD") -> list[MarketTrade]:
    return [MarketTrade(product, D(100 + i), D("0.01"), i * gap_ns, f"src-{i}") for i in range(n)]


# ------------------------------------------------------------------ CLI parsers


def test_parse_speed() -> None:
    assert parse_speed("realtime") == 1.0
    assert parse_speed("1x") == 1.0
    assert parse_speed("10x") == 10.0
    assert parse_speed("0.5X") == 0.5
    assert parse_speed(" max ") is None
    for bad in ("fast", "10", "x", "-2x", "0x", ""):
        with pytest.raises(ValueError):
            parse_speed(bad)


def test_prices_source_seed_gives_reproducible_default_paths() -> None:
    a = prices_source("seed:3")
    b = prices_source("seed:3")
    assert list(a) == ["BTC-USD", "ETH-USD", "SOL-USD"]
    first = [list(itertools.islice(iter(a[p]), 50)) for p in a]
    assert first == [list(itertools.islice(iter(b[p]), 50)) for p in b]
    assert first[0][0].price == D("60000.00") and first[2][0].price == D("150.00")
    other = prices_source("seed:4")["BTC-USD"]
    assert list(itertools.islice(iter(other), 50)) != first[0]
    only_btc = prices_source("seed:0", {"BTC-USD": BTC_USD})
    assert list(only_btc) == ["BTC-USD"]


def test_prices_source_csv(tmp_path: Path) -> None:
    path = tmp_path / "btc.csv"
    path.write_text("start,low,high,open,close,volume\n60,90,110,100,105,4\n120,95,120,105,118,8\n")
    trades = list(prices_source(f"csv:{path}")["BTC-USD"])
    assert [t.price for t in trades] == [D(p) for p in (100, 90, 110, 105, 105, 95, 120, 118)]
    named = prices_source(f"csv:SOL-USD={path}", {"SOL-USD": SOL_USD})
    assert list(named) == ["SOL-USD"] and len(list(named["SOL-USD"])) == 8
    with pytest.raises(ValueError, match="no product"):
        prices_source(f"csv:DOGE-USD={path}", {"BTC-USD": BTC_USD})
    for bad in ("seed", "seed:x", "mystery:1", "csv:"):
        with pytest.raises(ValueError):
            prices_source(bad)


# ------------------------------------------------------------------------- book


def test_synth_book_sits_around_the_last_price_on_a_stable_grid() -> None:
    assert book_step(BTC_USD, D("60000.00")) == D("1.00")
    assert book_step(BTC_USD, D("3000.00")) == D("0.10")
    assert book_step(SOL_USD, D("150.00")) == D("0.01")
    bids, asks = synth_book(BTC_USD, D("60000.37"))
    assert len(bids) == len(asks) == 10
    assert bids[0][0] == D("60000.00") and asks[0][0] == D("60001.00")
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(D("0.001") <= q <= D("5") for _, q in bids + asks)
    assert synth_book(BTC_USD, D("60000.37")) == (bids, asks)  # deterministic
    # a level keeps its size when the price moves: diffs stay small
    moved_bids, _ = synth_book(BTC_USD, D("60001.20"))
    assert dict(moved_bids)[D("60000.00")] == dict(bids)[D("60000.00")]
    assert synth_book(SOL_USD, D("0.01"))[0] == [
        (D("0.01"), synth_book(SOL_USD, D("0.01"))[0][0][1])
    ]


# ---------------------------------------------------------------------- history


def test_history_bars_candles_and_day_stats() -> None:
    h = TradeHistory(max_trades=3)
    t0 = 1_704_067_200 * S  # a five-minute boundary
    prices = [("100", 0), ("103", 30), ("98", 70), ("101", 290), ("99", 301)]
    for i, (price, sec) in enumerate(prices):
        h.add(MarketTrade("BTC-USD", D(price), D("0.5"), t0 + sec * S, str(i)))
    assert [t.price for t in h.trades] == [D("98"), D("101"), D("99")]  # bounded
    assert list(h.sides) == ["SELL", "BUY", "SELL"]
    assert [b.start for b in h.bars] == [
        t0,
        t0 + NS_PER_MINUTE,
        t0 + 4 * NS_PER_MINUTE,
        t0 + 5 * NS_PER_MINUTE,
    ]
    five = h.candles(300)
    assert [(c.start, c.open, c.high, c.low, c.close, c.volume) for c in five] == [
        (t0, D(100), D(103), D(98), D(101), D(2)),
        (t0 + 300 * S, D(99), D(99), D(99), D(99), D("0.5")),
    ]
    assert h.candles(300, start_ns=t0 + 1) == five[1:]
    assert h.candles(60, end_ns=t0 + NS_PER_MINUTE) == h.candles(60)[:1]
    assert h.current_candle(300) == five[1]
    day = h.day_stats()
    assert day is not None
    assert (day.volume, day.low, day.high, day.open) == (D("2.5"), D(98), D(103), D(100))
    assert (h.low, h.high, h.count) == (D(98), D(103), 5)
    # a day later, the old bars leave the 24 h window
    h.add(MarketTrade("BTC-USD", D("110"), D("1"), t0 + 86_400 * S + 400 * S, "late"))
    day = h.day_stats()
    assert day is not None and (day.volume, day.low, day.high) == (D("1"), D(110), D(110))
    # out of time order: folded into the newest bar
    h.add(MarketTrade("BTC-USD", D("90"), D("1"), t0, "old"))
    assert h.bars[-1].low == D(90) and h.bars[-1].close == D(90)
    with pytest.raises(ValueError):
        h.candles(90)
    assert tick_side(None, "SELL", D(1)) == "BUY"
    assert tick_side(D(1), "SELL", D(1)) == "SELL"


def test_state_advance_feeds_history() -> None:
    state = fresh()
    state.advance(MarketTrade("BTC-USD", D("100.00"), D("0.1"), 5 * S))
    assert state.history["BTC-USD"].last is not None
    assert state.history["BTC-USD"].count == 1 and "ETH-USD" not in state.history


# ----------------------------------------------------------------------- driver


@pytest.mark.asyncio
async def test_max_speed_runs_a_seeded_path_and_leaves_the_loop_responsive() -> None:
    state = fresh()
    path = PricePath("BTC-USD", D("60000"), 20_000, seed=5)
    seen: list[int] = []  # how far the market got at each turn of the other task

    async def rest_like() -> None:  # what a REST handler does: read state, await
        while True:
            await asyncio.sleep(0)
            state.exchange.balances()
            seen.append(state.exchange.market_seq)

    before = time.time_ns()
    client = asyncio.create_task(rest_like())
    market = start_market(state, {"BTC-USD": path}, "max")
    await asyncio.wait_for(market.wait(), 30)
    client.cancel()
    assert market.stats.trades == 20_000 and market.stats.finished and market.stats.error is None
    assert state.exchange.market_seq == 20_000
    assert state.exchange.last_price("BTC-USD") == path.to_list()[-1].price
    # responsive without a clock: the other task ran at least once every `yield_every`
    # (100) trades of the market, however loaded the machine is
    steps = [b - a for a, b in itertools.pairwise(seen)]
    assert len(seen) >= 20_000 // 100 and max(steps) <= 100, (len(seen), max(steps))
    history = state.history["BTC-USD"]
    stamps = [t.ts for t in history.trades]
    assert all(b > a for a, b in itertools.pairwise(stamps))  # wall clock, strictly rising
    assert before <= stamps[0] and stamps[-1] <= time.time_ns() + 20_000
    assert history.last is not None and history.last.trade_id == "20000"


@pytest.mark.asyncio
async def test_realtime_keeps_the_spacing_and_factors_divide_it() -> None:
    for speed, gap_ns in ((1.0, S // 10), (4.0, 4 * S // 10)):
        state = fresh()
        t0 = time.monotonic()
        market = start_market(state, spaced(5, gap_ns), speed)
        await asyncio.wait_for(market.wait(), 5)
        elapsed = time.monotonic() - t0
        # never faster than the path's spacing / speed (a loaded machine is only slower:
        # no upper bound is asserted, how fast a shared machine is is not a behaviour)
        assert elapsed >= 0.38, (speed, elapsed)
        stamps = [t.ts for t in state.history["BTC-USD"].trades]
        steps = [(b - a) / S for a, b in itertools.pairwise(stamps)]
        assert all(s > 0.07 for s in steps), (speed, steps)


@pytest.mark.asyncio
async def test_multiple_products_merge_by_time_and_ids_count_per_product() -> None:
    state = fresh()
    source = {"BTC-USD": spaced(3, 2 * S), "ETH-USD": spaced(3, 2 * S, "ETH-USD")[:0]}
    source["ETH-USD"] = [MarketTrade("ETH-USD", D(10 + i), D("1"), S + 2 * i * S) for i in range(3)]
    seen: list[tuple[str, str]] = []
    sub = state.bus.subscribe()
    market = start_market(state, source, "max")
    await market.wait()
    while not sub.queue.empty():
        msg = sub.queue.get_nowait()
        if msg.kind == "trade":
            assert isinstance(msg.data, MarketTrade)
            seen.append((msg.product_id, msg.data.trade_id))
    assert seen == [
        ("BTC-USD", "1"),
        ("ETH-USD", "1"),
        ("BTC-USD", "2"),
        ("ETH-USD", "2"),
        ("BTC-USD", "3"),
        ("ETH-USD", "3"),
    ]


@pytest.mark.asyncio
async def test_stop_ends_an_endless_market_and_errors_are_kept() -> None:
    state = fresh()
    market = Market(state, speed=100.0).start()  # default seeded paths: never run out
    await asyncio.sleep(0.2)
    assert market.running and market.stats.trades > 0
    market.stop()
    await market.wait()
    assert not market.running and market.stats.error is None
    assert set(default_paths()) == {"BTC-USD", "ETH-USD", "SOL-USD"}

    broken = start_market(state, [MarketTrade("DOGE-USD", D(1), D(1), 0)], None)
    with pytest.raises(Exception, match="DOGE-USD"):
        await broken.wait()
    assert broken.stats.error is not None
    with pytest.raises(ValueError):
        Market(state, speed=0)


@pytest.mark.asyncio
async def test_default_paths_start_at_the_exchanges_last_price() -> None:
    state = fresh()
    state.advance(MarketTrade("BTC-USD", D("42000.00"), D("0.1"), 0))
    market = start_market(state, "seed:1", "max")
    await asyncio.sleep(0)
    market.stop()
    trades = list(state.history["BTC-USD"].trades)
    assert trades[1].price == D("42000.00")  # the path's first tick
    assert abs(trades[-1].price - D("42000")) < D("4200")
    assert "SOL-USD" in state.history or "ETH-USD" in state.history
