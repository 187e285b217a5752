"""`sweep`: 100 configurations over one seeded 1,000,000-tick path, 1 worker then 2.

The path and base strategy are `bench backtest`'s (buy at the last price whenever flat,
a trailing stop); the grid is 10 trail_pct x 10 min_ratchet values, each run by the
fast path (`tradekit.sweep`, engine "auto"). The data's integer arrays are built once,
before timing; each timed sweep starts its own process pool and ships the data to it.

Figures: sweep_configs_per_s_1_worker, sweep_configs_per_s_2_workers (medians),
sweep_speedup_2_workers, and sweep_event_path_rows (configurations that needed the
event path: 0 means every row came from the fast path).
"""

from __future__ import annotations

import statistics
from decimal import Decimal
from typing import Any, TextIO

from tradekit.bench.figures import Figure, median_rate

GRID = {
    "trail_pct": [Decimal("0.005") * i for i in range(1, 11)],
    "min_ratchet": [Decimal("0.0005") * i for i in range(10)],
}


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    from tradekit.backtest.source import TickSource
    from tradekit.backtest.sweep import sweep
    from tradekit.bench.backtest import bench_path, bench_spec

    path = bench_path(ticks)
    spec = bench_spec()
    if progress is not None:
        progress.write(f"sweep: a {ticks:,}-tick path (seed 1) as integer arrays\n")
    source = TickSource("BTC-USD", path.ticks, ticks, 1, "path")
    source.arrays(spec.product.quote_increment)
    n = len(GRID["trail_pct"]) * len(GRID["min_ratchet"])
    frames: list[Any] = []

    def one(workers: int) -> None:
        frames.append(sweep(GRID, source, params=spec, workers=workers, progress=False))

    # 1 and 2 workers take turns, so that a shared machine's load falls on both alike
    ones: list[float] = []
    twos: list[float] = []
    for _ in range(repeat):
        ones.append(median_rate(n, lambda: one(1), 1, "1 worker", progress))
        twos.append(median_rate(n, lambda: one(2), 1, "2 workers", progress))
    rate_1, rate_2 = statistics.median(ones), statistics.median(twos)
    first = frames[0]
    if any(not f.equals(first) for f in frames):
        raise RuntimeError("sweeps of the same grid disagree")
    return [
        Figure("sweep_configs_per_s_1_worker", round(rate_1, 1), "configs/s"),
        Figure("sweep_configs_per_s_2_workers", round(rate_2, 1), "configs/s"),
        Figure("sweep_speedup_2_workers", round(rate_2 / rate_1, 2), "x"),
        Figure("sweep_event_path_rows", int((first["engine"] != "fast").sum()), "configs"),
    ]
