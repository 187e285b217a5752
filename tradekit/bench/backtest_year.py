"""`backtest_year`: a year of one-second seeded ticks (31,536,000 trades) through the
event engine, in bounded memory.

The path (PricePath seed 1, BTC-USD from 60,000, one trade a second) streams in chunks
of 2^18 trades as it is generated; the strategy is `bench backtest`'s (buy at the last
price whenever flat, a 2 % trailing stop). Figures: backtest_year_peak_rss_mb (this
process's peak resident memory: Python, NumPy, tradekit, one chunk, the run's trades,
every stop move as integer columns and per-minute equity), backtest_year_s (wall time,
generation included) and the trades made. Run once (`--repeat` is ignored): it takes minutes.
"""

from __future__ import annotations

import resource
import time
from decimal import Decimal
from typing import TextIO

from tradekit.bench.figures import Figure

YEAR_TICKS = 365 * 86_400


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    from tradekit.backtest.api import event_backtest
    from tradekit.backtest.source import as_source
    from tradekit.bench.backtest import bench_spec
    from tradekit.data.generators import PricePath

    n = YEAR_TICKS if ticks == 1_000_000 else ticks  # --ticks overrides the year
    path = PricePath("BTC-USD", Decimal("60000"), n, seed=1, jump_intensity=0.0)
    if progress is not None:
        progress.write(f"backtest_year: {n:,} one-second ticks (seed 1), streamed\n")
    t0 = time.perf_counter()
    result = event_backtest(bench_spec(), as_source(path), progress=progress is not None)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return [
        Figure("backtest_year_peak_rss_mb", round(peak_kb / 1024, 1), "MB"),
        Figure("backtest_year_s", round(wall, 1), "s"),
        Figure("backtest_year_ticks", result.n_ticks, "ticks"),
        Figure("backtest_year_trades", len(result.trades), "trades"),
    ]
