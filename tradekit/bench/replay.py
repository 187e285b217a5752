"""`replay`: a seeded 1,000,000-tick path through paper exchange + sync engine + store file.

Figures: replay_ticks_per_s (median), peak_rss_mb (the process's peak resident memory),
and journal_rows (what the store wrote: it grows with decisions, not with ticks). What the
run traded, so that a change to the protection rules or the fill model shows its effect:
realized_pnl (USD, fees included), positions_closed, refused_stops (StopRejected),
exits_after_breach (exits because a stop could not rest), gap_through_exits, dust_left,
requests_per_position (commands sent to the exchange, lookups included, per position).
The same outcome figures again with the suffix `_gappy`, from a wild variant of the path
(a fifth of the ticks, volatility 8: prints gap through stops and their limits).
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
    outcome: dict[str, float] = {}

    def replay() -> None:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "replay.sqlite") as store:
            engine = setup.engine(store, setup.exchange(), "bench", trades)
            engine.run()
            rows.append(len(store.journal()))
            outcome.update(_outcome(store))

    rate = median_rate(len(trades), replay, repeat, "replay", progress)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gappy = DemoSetup(seed=1, ticks=max(ticks // 5, 1), volatility=8.0)
    if progress is not None:
        progress.write(f"replay: the gappy variant ({max(ticks // 5, 1):,} ticks, volatility 8)\n")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "gappy.sqlite") as store:
        gappy.engine(store, gappy.exchange(), "bench", gappy.path().to_list()).run()
        wild = _outcome(store)
    return [
        Figure("replay_ticks_per_s", round(rate), "ticks/s"),
        Figure("peak_rss_mb", round(peak_kb / 1024, 1), "MB"),
        Figure("journal_rows", rows[-1], "rows"),
        *(Figure(name, outcome[name], unit) for name, unit in _OUTCOME),
        *(Figure(f"{name}_gappy", wild[name], unit) for name, unit in _OUTCOME),
    ]


_OUTCOME = (
    ("realized_pnl", "USD"),
    ("positions_closed", "positions"),
    ("refused_stops", "stops"),
    ("exits_after_breach", "exits"),
    ("gap_through_exits", "exits"),
    ("dust_left", "positions"),
    ("requests_per_position", "requests"),
)


def _outcome(store: Store) -> dict[str, float]:
    counts = {name: 0 for name, _ in _OUTCOME}
    requests = len(store.journal_objects(kinds="command"))
    for row in store.journal_objects(kinds="report"):
        kind = row.type
        if kind == "PositionClosed":
            counts["positions_closed"] += 1
        elif kind == "StopRejected":
            counts["refused_stops"] += 1
        elif kind == "ExitPlaced" and row.obj.reason == "breach":
            counts["exits_after_breach"] += 1
        elif kind == "StopGappedThrough":
            counts["gap_through_exits"] += 1
        elif kind == "DustLeft":
            counts["dust_left"] += 1
    pnl = float(round(store.total_realized_pnl(), 2))  # a figure for people: cents
    per = round(requests / max(counts["positions_closed"], 1), 2)
    skip = ("realized_pnl", "requests_per_position")
    return {
        "realized_pnl": pnl,
        **{k: v for k, v in counts.items() if k not in skip},
        "requests_per_position": per,
    }
