"""`python -m tradekit.sim [options]`: the same as `tradekit sim serve [options]`."""

from __future__ import annotations

from tradekit.sim.serve import main

if __name__ == "__main__":
    raise SystemExit(main())
