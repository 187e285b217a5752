"""`replay`: a seeded 1,000,000-tick path through paper exchange + sync engine + store file.

Figures: replay_ticks_per_s (median), peak_rss_mb (the process's peak resident memory),
and journal_rows (what the store wrote: it grows with decisions, not with ticks).
"""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path
from typing import TextIO

from tradekit.bench.figures import Figure, median_rate
from tradekit.demo import DemoSetup
from tradekit.store.sqlite import Store


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    setup = DemoSetup(seed=1, ticks=ticks)
    if progress is not None:
        progress.write(f"replay: generating a {ticks:,}-tick path (seed 1)\n")
    trades = setup.path().to_list()
    rows: list[int] = []

    def replay() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "replay.sqlite") as store:
            engine = setup.engine(store, setup.exchange(), "bench", trades)
            engine.run()
            rows.append(len(store.journal()))

    rate = median_rate(len(trades), replay, repeat, "replay", progress)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return [
        Figure("replay_ticks_per_s", round(rate), "ticks/s"),
        Figure("peak_rss_mb", round(peak_kb / 1024, 1), "MB"),
        Figure("journal_rows", rows[-1], "rows"),
    ]
