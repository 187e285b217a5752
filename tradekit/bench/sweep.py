"""`sweep`: 100 configurations over one seeded 1,000,000-tick path, 1 worker then 2.

The path and base strategy are `bench backtest`'s (buy at the last price whenever flat,
a trailing stop); the grid is 10 trail_pct x 10 min_ratchet values, each run by the
fast path (`tradekit.sweep`, engine "auto"). The data's integer arrays are built once,
before timing; each timed sweep starts its own process pool and ships the data to it.

Figures: sweep_configs_per_s_1_worker, sweep_configs_per_s_2_workers (medians),
sweep_speedup_2_workers, sweep_event_path_rows (configurations that needed the event
path: 0 means every row came from the fast path), and machine_speedup_2_workers: the
same 1-vs-2 process pool on a pure-Python loop, timed between the sweeps, i.e. how much
parallelism the (shared) machine offered at that moment; the sweep cannot beat it.
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
    machine: list[float] = []
    for _ in range(repeat):
        ones.append(median_rate(n, lambda: one(1), 1, "1 worker", progress))
        twos.append(median_rate(n, lambda: one(2), 1, "2 workers", progress))
        machine.append(_machine_speedup())
    rate_1, rate_2 = statistics.median(ones), statistics.median(twos)
    first = frames[0]
    if any(not f.equals(first) for f in frames):
        raise RuntimeError("sweeps of the same grid disagree")
    return [
        Figure("sweep_configs_per_s_1_worker", round(rate_1, 1), "configs/s"),
        Figure("sweep_configs_per_s_2_workers", round(rate_2, 1), "configs/s"),
        Figure("sweep_speedup_2_workers", round(rate_2 / rate_1, 2), "x"),
        Figure("sweep_event_path_rows", int((first["engine"] != "fast").sum()), "configs"),
        Figure("machine_speedup_2_workers", round(statistics.median(machine), 2), "x"),
    ]


def _burn(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def _machine_speedup() -> float:
    """Pure-Python work on 1 then 2 worker processes: the parallelism on offer now."""
    import time
    from concurrent.futures import ProcessPoolExecutor

    walls = []
    for workers in (1, 2):
        with ProcessPoolExecutor(workers) as pool:
            t0 = time.perf_counter()
            list(pool.map(_burn, [4_000_000] * 4))
            walls.append(time.perf_counter() - t0)
    return walls[0] / walls[1]
