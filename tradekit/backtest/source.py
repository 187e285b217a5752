"""Where a backtest's trades come from: one shape for every kind of market data.

`as_source(data)` accepts candles (a CSV or Parquet file, a list of `Candle`, a pandas
DataFrame with open/high/low/close/volume columns), a recording (`Recording` or a
`.jsonl` path), a seeded `PricePath`, or any iterable of `MarketTrade`, and returns a
`TickSource`: a function that *streams* the trades (a generator, never a list of a
million objects), the trades-per-bar figure that maps a trade back to its bar, and
`arrays()`, the same prices as integer counts of the quote increment for the NumPy path.

Candles become four trades a bar (open, low, high, close) by `tradekit.data.candles`'
rule. A DataFrame's float cells are read as their shortest decimal text (`60123.45`,
what the float was written from), never through their binary expansion; a value that is
not a finite number is refused with the column and row.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.core.events import MarketTrade
from tradekit.core.money import to_decimal
from tradekit.data.candles import Candle, candle_ticks, infer_bar_ns, load_candles
from tradekit.data.generators import PricePath

OHLCV = ("open", "high", "low", "close", "volume")
_TIME_NAMES = ("start", "timestamp", "time", "date", "datetime")


@dataclass
class TickSource:
    """A replayable stream of one product's trades (see the module docstring)."""

    product_id: str
    stream: Callable[[], Iterator[MarketTrade]]
    n_ticks: int | None
    ticks_per_bar: int = 1
    kind: str = "trades"
    candles: Sequence[Candle] | None = None
    bar_ns: int | None = None
    _arrays: dict[Decimal, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[MarketTrade]:
        return self.stream()

    def bar_of(self, tick: int) -> int:
        return tick // self.ticks_per_bar

    def arrays(self, quote_increment: Decimal) -> tuple[Any, Any]:
        """(prices, times) as int64 arrays: prices in whole quote increments (exact;
        a price off the grid raises), times in ns. Built once and kept."""
        import numpy as np

        cached = self._arrays.get(quote_increment)
        if cached is not None:
            return cached
        if self.candles is not None and self.bar_ns is not None:
            bars = self.candles
            steps = [
                [
                    _steps(getattr(c, name), quote_increment)
                    for name in ("open", "low", "high", "close")
                ]
                for c in bars
            ]
            prices = np.asarray(steps, dtype=np.int64).reshape(-1)
            starts = np.asarray([c.start for c in bars], dtype=np.int64)
            q = self.bar_ns // 4
            offsets = np.asarray([0, q, 2 * q, 3 * q], dtype=np.int64)
            times = (starts[:, None] + offsets[None, :]).reshape(-1)
        else:
            n = self.n_ticks or 0
            prices = np.empty(n, dtype=np.int64) if n else np.empty(0, dtype=np.int64)
            times = np.empty_like(prices)
            plist: list[int] = []
            tlist: list[int] = []
            for i, t in enumerate(self.stream()):
                if i < n:
                    prices[i] = _steps(t.price, quote_increment)
                    times[i] = t.ts
                else:
                    plist.append(_steps(t.price, quote_increment))
                    tlist.append(t.ts)
            if plist:
                prices = np.concatenate([prices, np.asarray(plist, dtype=np.int64)])
                times = np.concatenate([times, np.asarray(tlist, dtype=np.int64)])
        self._arrays[quote_increment] = (prices, times)
        return prices, times


def _steps(price: Decimal, increment: Decimal) -> int:
    steps = price / increment
    whole = int(steps)
    if whole != steps:
        raise ValueError(f"price {price} is not a multiple of the quote increment {increment}")
    return whole


def as_source(data: object, product_id: str | None = None) -> TickSource:
    """A TickSource from any supported market data (see the module docstring)."""
    if isinstance(data, TickSource):
        return data
    if isinstance(data, PricePath):
        path = data
        return TickSource(path.product_id, path.ticks, len(path), 1, "path")
    if isinstance(data, str | os.PathLike):
        return _from_file(Path(data), product_id)
    from tradekit.data.recorder import Recording

    if isinstance(data, Recording):
        return _from_recording(data, product_id)
    if _is_dataframe(data):
        return candle_source(dataframe_candles(data), product_id or _frame_product(data))
    if isinstance(data, Sequence) and data and isinstance(data[0], Candle):
        return candle_source(list(data), product_id or "BTC-USD")
    if isinstance(data, Sequence) and data and isinstance(data[0], MarketTrade):
        trades = data
        pid = product_id or trades[0].product_id
        return TickSource(pid, lambda: iter(trades), len(trades), 1, "trades")
    if isinstance(data, Iterable):
        raise TypeError(
            "data: a one-shot iterable cannot be replayed; pass a list of MarketTrade, a "
            "PricePath, a Recording, candles or a file"
        )
    raise TypeError(
        "data: expected candles (a file, a list of Candle, a DataFrame), a Recording, a "
        f"PricePath or a list of MarketTrade, got {type(data).__name__}"
    )


def candle_source(
    candles: Sequence[Candle], product_id: str, bar_ns: int | None = None
) -> TickSource:
    if not candles:
        raise ValueError("data: no candles")
    width = (
        bar_ns
        if bar_ns is not None
        else (infer_bar_ns(candles) if len(candles) > 1 else 60 * 10**9)
    )
    for a, b in itertools.pairwise(candles):
        if b.start < a.start + width:
            raise ValueError(
                f"candle at {b.start} starts less than {width} ns after the one at {a.start}: "
                "bars overlap or are out of order"
            )

    def stream() -> Iterator[MarketTrade]:
        for c in candles:
            yield from candle_ticks(c, product_id, width)

    return TickSource(product_id, stream, 4 * len(candles), 4, "candles", candles, width)


def _from_file(path: Path, product_id: str | None) -> TickSource:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        from tradekit.data.history import read_candles

        frame = read_candles(path)
        pid = product_id or frame.attrs.get("product_id") or _frame_product(frame)
        return candle_source(dataframe_candles(frame), pid)
    if suffix in (".jsonl", ".recording"):
        from tradekit.data.recorder import Recording

        return _from_recording(Recording(path), product_id)
    return candle_source(load_candles(path), product_id or "BTC-USD")


def _from_recording(recording: Any, product_id: str | None) -> TickSource:
    pid = product_id
    if pid is None:
        for ev in recording.events():
            if type(ev) is MarketTrade:
                pid = ev.product_id
                break
        else:
            raise ValueError(f"{recording.path}: the recording holds no market trade")

    def stream() -> Iterator[MarketTrade]:
        for ev in recording.events():
            if type(ev) is MarketTrade and ev.product_id == pid:
                yield ev

    return TickSource(pid, stream, None, 1, "recording")


def _is_dataframe(data: object) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def _frame_product(frame: Any) -> str:
    return str(getattr(frame, "attrs", {}).get("product_id") or "BTC-USD")


def dataframe_candles(frame: Any) -> list[Candle]:
    """Candles from a DataFrame with open/high/low/close/volume columns (any case) and
    the bar start in a `start`/`timestamp`/`time` column or a datetime index."""
    import pandas as pd

    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in OHLCV if c not in columns]
    if missing:
        raise ValueError(f"DataFrame: missing column(s) {', '.join(missing)}")
    time_col = next((columns[n] for n in _TIME_NAMES if n in columns), None)
    if time_col is not None:
        starts = _times_ns(frame[time_col], str(time_col))
    elif isinstance(frame.index, pd.DatetimeIndex):
        starts = _times_ns(frame.index.to_series(), "index")
    else:
        raise ValueError(
            "DataFrame: no bar time (a start/timestamp/time column or a datetime index)"
        )
    values = {
        name: [_price(v, name, i) for i, v in enumerate(frame[columns[name]])] for name in OHLCV
    }
    out = []
    for i, start in enumerate(starts):
        try:
            out.append(Candle(start, *(values[name][i] for name in OHLCV)))
        except ValueError as exc:
            raise ValueError(f"DataFrame row {i}: {exc}") from None
    return out


def _times_ns(series: Any, name: str) -> list[int]:
    """Bar starts in ns: datetimes (naive = UTC), or unix seconds as ints or text."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        s = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
        return [int(v) for v in s.astype("datetime64[ns, UTC]").array.asi8]
    out = []
    for i, v in enumerate(series):
        if hasattr(v, "item") and not isinstance(v, Decimal):  # a NumPy integer
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, int | Decimal | str):
            raise ValueError(f"DataFrame {name} row {i}: {v!r} is not unix seconds")
        try:
            out.append(int(to_decimal(v, f"DataFrame {name} row {i}") * 10**9))
        except (TypeError, ArithmeticError) as exc:
            raise ValueError(str(exc)) from None
    return out


def _price(value: object, column: str, row: int) -> Decimal:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"DataFrame {column} row {row}: {value!r} is not a finite number")
        return Decimal(repr(value))
    if hasattr(value, "item") and not isinstance(value, Decimal):  # a NumPy scalar
        return _price(value.item(), column, row)
    try:
        return to_decimal(value, f"DataFrame {column} row {row}")
    except TypeError as exc:
        raise ValueError(str(exc)) from None
