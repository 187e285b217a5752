"""Market data for backtests: seeded synthetic trade streams, OHLCV candles from CSV or
Parquet, and real history from Coinbase (`fetch_candles`).

Both end as `MarketTrade` events with exact Decimal prices, ready for the decision engine.
"""

from tradekit.data.candles import (
    DEFAULT_BASE_INCREMENT,
    Candle,
    CandleFileError,
    candle_ticks,
    candles_to_trades,
    infer_bar_ns,
    load_candles,
    parse_candles,
)
from tradekit.data.generators import PricePath
from tradekit.data.history import fetch_candles, read_candles, write_candles
from tradekit.data.recorder import (
    Recorder,
    Recording,
    RecordingError,
    record_async,
    record_iter,
    record_path,
    replay_async,
    replay_into_sim,
)

__all__ = [
    "DEFAULT_BASE_INCREMENT",
    "Candle",
    "CandleFileError",
    "PricePath",
    "Recorder",
    "Recording",
    "RecordingError",
    "candle_ticks",
    "candles_to_trades",
    "fetch_candles",
    "infer_bar_ns",
    "load_candles",
    "parse_candles",
    "read_candles",
    "record_async",
    "record_iter",
    "record_path",
    "replay_async",
    "replay_into_sim",
    "write_candles",
]
