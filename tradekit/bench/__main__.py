"""`python -m tradekit.bench NAME [--json]`: run one benchmark and print its figures.

With `--json`, one object per figure per line:
`{"bench": NAME, "figure": ..., "value": ..., "unit": ...}`. Speeds are the median of
several repeats (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from tradekit.bench.figures import Figure

BENCHES: dict[str, str] = {
    "backtest": "tradekit.bench.backtest",
    "backtest_year": "tradekit.bench.backtest_year",
    "classroom": "tradekit.bench.classroom",
    "core": "tradekit.bench.core",
    "replay": "tradekit.bench.replay",
    "rest": "tradekit.bench.rest",
    "feed": "tradekit.bench.feed",
    "portfolio": "tradekit.bench.portfolio",
    "sim_rest": "tradekit.bench.sim_rest",
    "sim_ws": "tradekit.bench.sim_ws",
    "sweep": "tradekit.bench.sweep",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradekit.bench")
    parser.add_argument("name", choices=sorted(BENCHES))
    parser.add_argument("--json", action="store_true", help="one JSON object per figure")
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    module = __import__(BENCHES[args.name], fromlist=["run"])
    run: Callable[..., list[Figure]] = module.run
    figures = run(ticks=args.ticks, repeat=args.repeat, progress=None if args.json else sys.stderr)
    for f in figures:
        if args.json:
            print(
                json.dumps({"bench": args.name, "figure": f.name, "value": f.value, "unit": f.unit})
            )
        else:
            print(f"{args.name:8} {f.name:28} {f.value:>16,.1f} {f.unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
