"""The `tradekit` command. Bad input exits non-zero with one clear line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from tradekit.demo import run_demo

    run_demo(seed=args.seed, ticks=args.ticks, db=args.db, out=sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from tradekit import __version__

    parser = argparse.ArgumentParser(
        prog="tradekit",
        description="Limit-order entries and ratchet-only trailing stops for Coinbase spot.",
    )
    parser.add_argument("--version", action="version", version=f"tradekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a short deterministic paper-trading run")
    demo.add_argument("--seed", type=int, default=7, help="price path seed (default 7)")
    demo.add_argument("--ticks", type=int, default=20_000, help="ticks to run (default 20000)")
    demo.add_argument("--db", default=None, help="SQLite file to keep (default: temporary)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tradekit.exchange.types import ExchangeError
    from tradekit.store.sqlite import StoreError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("tradekit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, StoreError, ExchangeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"tradekit: error: {first}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
