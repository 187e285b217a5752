"""Backtests and parameter sweeps on the live engine's rules (see README, "Backtests").

`backtest(data, config_or_params)` runs the same DecisionEngine and paper exchange as
live trading, without journaling (`runner`); `engine="fast"` runs the NumPy path that
reproduces it exactly or refuses (`fast`); `sweep(grid, data)` runs many on a process
pool or a Dask cluster (`sweep`).
"""

from tradekit.backtest.api import backtest, event_backtest, fast_backtest
from tradekit.backtest.entry import EnterOnce
from tradekit.backtest.fast import FastPathRefused
from tradekit.backtest.result import BacktestResult, StopLevel, Trade
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, EntrySpec, resolve_spec

__all__ = [
    "BacktestResult",
    "BacktestSpec",
    "EnterOnce",
    "EntrySpec",
    "FastPathRefused",
    "StopLevel",
    "TickSource",
    "Trade",
    "as_source",
    "backtest",
    "event_backtest",
    "fast_backtest",
    "resolve_spec",
]
