"""tradekit: limit-order entries and ratchet-only trailing stops for Coinbase spot.

`import tradekit` stays light: the pure core only. Config (pydantic), the notebook layer
(plotly, ipywidgets) and the exchange adapters are imported where they are used;
`tradekit.open_session` (the application layer's) is imported when first named.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`tradekit.open_session(...)`, `tradekit.backtest(...)`, `tradekit.sweep(...)`:
    imported on first use (`import tradekit` stays light)."""
    if name == "open_session":
        from tradekit.app.session import open_session

        return open_session
    if name in ("backtest", "sweep", "BacktestResult", "fetch_candles"):
        import importlib

        if name == "fetch_candles":
            return importlib.import_module("tradekit.data.history").fetch_candles
        package = importlib.import_module("tradekit.backtest")
        return package if name == "backtest" else getattr(package, name)
    raise AttributeError(f"module 'tradekit' has no attribute {name!r}")
