"""Backtests and parameter sweeps on the live engine's rules (see README, "Backtests").

This package is also callable: `tradekit.backtest(data, params)` is
`tradekit.backtest.backtest(data, params)`, whichever of the two names Python bound
first (importing a submodule rebinds `tradekit.backtest` to the package).

`backtest(data, config_or_params)` runs the same DecisionEngine and paper exchange as
live trading, without journaling (`runner`); `backtest(config, data={pair: data, ...})`
runs several pairs on one account under the portfolio's risk limits (`portfolio`);
`engine="fast"` runs the NumPy path that reproduces it exactly or refuses (`fast`);
`sweep(grid, data)` runs many on a process pool or a Dask cluster (`sweep`).
"""

import sys as _sys
import types as _types
from typing import Any as _Any

from tradekit.backtest.api import backtest, event_backtest, fast_backtest
from tradekit.backtest.fast import FastPathRefused
from tradekit.backtest.portfolio import PortfolioResult, portfolio_backtest
from tradekit.backtest.result import BacktestResult, StopLevel, Trade
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, EntrySpec, resolve_spec
from tradekit.backtest.sweep import expand_grid, heatmap, sweep
from tradekit.core.entry import EnterOnce

__all__ = [
    "BacktestResult",
    "BacktestSpec",
    "EnterOnce",
    "EntrySpec",
    "FastPathRefused",
    "PortfolioResult",
    "StopLevel",
    "TickSource",
    "Trade",
    "as_source",
    "backtest",
    "event_backtest",
    "expand_grid",
    "fast_backtest",
    "heatmap",
    "portfolio_backtest",
    "resolve_spec",
    "sweep",
]


class _CallablePackage(_types.ModuleType):
    """`tradekit.backtest(...)` calls `backtest(...)`."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> _Any:
        return backtest(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
