"""`python -m tradekit.sim [options]`: the same as `tradekit sim serve [options]`."""

from __future__ import annotations

import sys

from tradekit.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["sim", "serve", *sys.argv[1:]]))
