"""`backtest`: one seeded 1,000,000-tick path through three backtesters, in one process.

The path (PricePath seed 1, BTC-USD from 60,000, one trade a second, no jumps) is built
once as integer arrays (prices in cents, times in ns); every tool reads those:
- tradekit's backtest path (DecisionEngine + PaperExchange, no journal) on the arrays:
  `run_arrays` hands the trades that can matter to the rules one by one, the quiet
  ones over in bulk, and follows a run of new highs that only ratchets the stop in one
  step (the `backtest_trades_handled` figure says how many were handled);
- tradekit's NumPy fast path on the arrays (`detail=False`: what a sweep runs; the
  arrays' preparation is not timed);
- backtesting.py on a one-tick-bar DataFrame of the same prices.
The strategy is the same in all three: buy at the last price whenever flat, then a 2 %
trailing stop (tradekit: stop-limit 0.5 % under the trigger, maker/taker fees;
backtesting.py: its own stop-loss moved up each bar, no commission).

Figures: backtest_ticks_per_s, fast_path_ticks_per_s, backtestingpy_ticks_per_s,
speedup_vs_backtestingpy (the backtest path's), speedup_fast_path_vs_backtestingpy (each
the median of the repeats' own ratios: the tools run in turn, so a ratio compares them
under one load),
backtest_peak_rss_mb (the process's peak after the backtest path, before anything else
is loaded), and the number of trades each tool made.

Then, on bars (`tradekit.bench.bars` says how): dataframe_source_s,
speedup_vs_vectorbt_fast, speedup_vs_vectorbt_events, stats_rel_diff_vs_vectorbt, and
the candle fill model against the ticks: candle_exit_bias_bps_1m, candle_exit_bias_bps_1h.
"""

from __future__ import annotations

import gc
import resource
import statistics
import warnings
from decimal import Decimal
from typing import Any, TextIO

from tradekit.bench import bars
from tradekit.bench.figures import Figure, median_rate

TRAIL = Decimal("0.02")


def bench_path(ticks: int) -> Any:
    from tradekit.data.generators import PricePath

    return PricePath("BTC-USD", Decimal("60000"), ticks, seed=1, jump_intensity=0.0, volatility=0.8)


def bench_spec() -> Any:
    """Buy at the last price whenever flat, a 2 % trail; no guards (backtesting.py and
    vectorbt have none), so every tool runs the same strategy."""
    from tradekit.backtest.spec import BacktestSpec, EntrySpec, default_product
    from tradekit.core.sanity import SanityParams

    return BacktestSpec(
        default_product("BTC-USD"),
        TRAIL,
        stop_limit_buffer_pct=Decimal("0.005"),
        quote_budget=Decimal("5000"),
        balance=Decimal("100000"),
        entry=EntrySpec("fixed_offset", Decimal(0)),
        max_entry_wait_ns=86400 * 10**9,
        sanity=SanityParams(),
    )


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    from tradekit.backtest.api import event_backtest
    from tradekit.backtest.fast import run_fast
    from tradekit.backtest.source import TickSource

    path = bench_path(ticks)
    spec = bench_spec()
    q = spec.product.quote_increment
    if progress is not None:
        progress.write(f"backtest: a {ticks:,}-tick path (seed 1) as integer arrays\n")
    source = TickSource("BTC-USD", path.ticks, ticks, 1, "path")
    prices, times = source.arrays(q)
    gc.collect()
    counts: dict[str, int] = {}

    def events() -> None:
        result = event_backtest(spec, source, progress=False)
        counts["events"] = len(result.trades)
        counts["events_pnl"] = int(result.pnl)
        counts["handled"] = result.handled or 0

    def fast() -> None:
        result = run_fast(spec, prices, times, detail=False)
        counts["fast"] = len(result.trades)
        counts["fast_pnl"] = int(result.pnl)

    def backtestingpy() -> None:
        _backtestingpy(prices, times, float(q), counts)

    # The three tools take turns, repeat by repeat, so that a shared machine's load falls
    # on all of them alike; the memory peak is read after the first backtest-path run,
    # before fast path or backtesting.py (pandas) have allocated anything.
    rates: dict[str, list[float]] = {"events": [], "fast": [], "backtestingpy": []}
    peak_kb = 0
    for r in range(repeat):
        rates["events"].append(median_rate(ticks, events, 3, "backtest path", progress))
        if r == 0:
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rates["fast"].append(median_rate(ticks, fast, 5, "fast path", progress))
        rates["backtestingpy"].append(
            median_rate(ticks, backtestingpy, 1, "backtesting.py", progress)
        )
    if counts["fast"] != counts["events"] or counts["fast_pnl"] != counts["events_pnl"]:
        raise RuntimeError(f"the fast path disagrees with the backtest path: {counts}")
    events_rate = statistics.median(rates["events"])
    fast_rate = statistics.median(rates["fast"])
    bt_rate = statistics.median(rates["backtestingpy"])
    # each speedup: the median of the rounds' own ratios (both tools under one load)
    speedup = statistics.median(
        e / b for e, b in zip(rates["events"], rates["backtestingpy"], strict=True)
    )
    fast_speedup = statistics.median(
        f / b for f, b in zip(rates["fast"], rates["backtestingpy"], strict=True)
    )
    return [
        Figure("backtest_ticks_per_s", round(events_rate), "ticks/s"),
        Figure("fast_path_ticks_per_s", round(fast_rate), "ticks/s"),
        Figure("backtestingpy_ticks_per_s", round(bt_rate), "ticks/s"),
        Figure("speedup_vs_backtestingpy", round(speedup, 2), "x"),
        Figure("speedup_fast_path_vs_backtestingpy", round(fast_speedup, 1), "x"),
        Figure("backtest_peak_rss_mb", round(peak_kb / 1024, 1), "MB"),
        Figure("trades_tradekit", counts["events"], "trades"),
        Figure("trades_backtestingpy", counts["backtestingpy"], "trades"),
        Figure("backtest_trades_handled", counts["handled"], "ticks"),
        *bars.run_bars(spec, repeat, progress),
        *bars.run_bias(progress),
    ]


def _backtestingpy(prices: Any, times: Any, q: float, counts: dict[str, int]) -> None:
    import pandas as pd
    from backtesting import Backtest, Strategy

    close = prices * q
    frame = pd.DataFrame(
        {"Open": close, "High": close, "Low": close, "Close": close, "Volume": 1.0},
        index=pd.to_datetime(times, unit="ns"),
    )
    keep = 1.0 - float(TRAIL)

    class TrailingStop(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            price = self.data.Close[-1]
            if not self.position:
                self.buy(size=1, sl=price * keep)
                return
            stop = price * keep
            for trade in self.trades:
                if trade.sl is None or stop > trade.sl:
                    trade.sl = stop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, TrailingStop, cash=10_000_000, finalize_trades=True)
        stats = bt.run()
    counts["backtestingpy"] = int(stats["# Trades"])
