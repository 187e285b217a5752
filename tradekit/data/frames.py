"""Candles as columns: a DataFrame's or a Parquet file's bars read by whole columns
(`BarColumns`, no Decimal per row), the bars a stream of trades cuts, and the four
waypoints a bar's path passes (`tradekit.data.candles.waypoints`, vectorised).

A float cell is read as its shortest decimal text (`60123.45`, what the float was
written from), never through its binary expansion; a value that is not a finite
number, or a bar that cannot be one, is refused with the column and row. The backtest's
sources (`tradekit.backtest.source`) and the candle files (`tradekit.data.history`)
both stand on this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradekit.core.money import to_decimal
from tradekit.data.candles import Candle

OHLCV = ("open", "high", "low", "close", "volume")
_TIME_NAMES = ("start", "timestamp", "time", "date", "datetime")


def price_steps(price: Decimal, increment: Decimal) -> int:
    """`price` as a whole count of `increment`s (refused when off the grid)."""
    steps = price / increment
    whole = int(steps)
    if whole != steps:
        raise ValueError(f"price {price} is not a multiple of the quote increment {increment}")
    return whole


def waypoint_arrays(starts: Any, o: Any, h: Any, lo: Any, c: Any, bar_ns: int) -> tuple[Any, Any]:
    """Four trades a bar in path order (open, nearer extreme, other extreme, close; the
    low on a tie, as `tradekit.data.candles.waypoints`) at the bar's quarters."""
    import numpy as np

    low_first = (o - lo) <= (h - o)
    prices = np.empty((len(o), 4), dtype=o.dtype)
    prices[:, 0] = o
    prices[:, 1] = np.where(low_first, lo, h)
    prices[:, 2] = np.where(low_first, h, lo)
    prices[:, 3] = c
    quarter = bar_ns // 4
    offsets = np.asarray([0, quarter, 2 * quarter, 3 * quarter], dtype=np.int64)
    times = (starts[:, None] + offsets[None, :]).reshape(-1)
    return prices.reshape(-1), times


_EXACT_DIGITS = 10**15  # floats hold every decimal of up to 15 significant digits


@dataclass(frozen=True)
class BarColumns:
    """Bars as columns (picklable, for sweeps): starts in ns, float64 OHLCV read as
    their shortest decimal text. Checked once, by whole columns, when built."""

    starts: Any
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any
    bar_ns: int
    origin: str = "DataFrame"

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def build(
        cls, starts: Any, values: dict[str, Any], origin: str, bar_ns: int | None
    ) -> BarColumns:
        import numpy as np

        starts = np.ascontiguousarray(starts, dtype=np.int64)
        if not len(starts):
            raise ValueError(f"{origin}: no candles")
        cols = {}
        for name in OHLCV:
            col = np.ascontiguousarray(values[name], dtype=np.float64)
            bad = ~np.isfinite(col)
            if bad.any():
                row = int(bad.argmax())
                raise ValueError(f"{origin} {name} row {row}: {col[row]!r} is not a finite number")
            cols[name] = col
        o, h, lo, c, v = (cols[n] for n in OHLCV)
        checks = (
            (lo <= 0, "prices must be positive, got low {low}"),
            (h < np.maximum(o, c), "high {high} is below max(open {open}, close {close})"),
            (lo > np.minimum(o, c), "low {low} is above min(open {open}, close {close})"),
            (v < 0, "volume {volume} is negative"),
        )
        for bad, text in checks:
            if bad.any():
                row = int(bad.argmax())
                shown = {n: repr(float(cols[n][row])) for n in OHLCV}
                raise ValueError(f"{origin} row {row}: {text.format(**shown)}")
        if len(starts) > 1:
            gaps = np.diff(starts)
            width = int(gaps.min()) if bar_ns is None else bar_ns
            bad = gaps < width
            if bad.any() or width < 4:
                row = int(bad.argmax()) + 1 if bad.any() else 1
                raise ValueError(
                    f"{origin} row {row}: bar at {int(starts[row])} ns starts less than "
                    f"{max(width, 4)} ns after the one before: bars overlap or are out of order"
                )
        else:
            width = bar_ns if bar_ns is not None else 60 * 10**9
        return cls(starts, o, h, lo, c, v, width, origin)

    def arrays(self, increment: Decimal) -> tuple[Any, Any]:
        """(prices in whole increments, times) for the waypoints; ValueError when a price
        is off the grid (the event path then streams the Decimals)."""
        import numpy as np

        per_unit = 1 / increment
        if per_unit != per_unit.to_integral_value():
            return self._decimal_arrays(increment)
        k = float(per_unit)
        steps = {}
        for name in ("open", "high", "low", "close"):
            col = getattr(self, name)
            whole = np.rint(col * k)
            exact = (np.abs(whole) < _EXACT_DIGITS) & (whole / k == col)
            if not exact.all():
                row = int((~exact).argmax())
                raise ValueError(
                    f"{self.origin} {name} row {row}: price {_text(col[row])} is not a "
                    f"multiple of the quote increment {increment}"
                )
            steps[name] = whole.astype(np.int64)
        return waypoint_arrays(
            self.starts, steps["open"], steps["high"], steps["low"], steps["close"], self.bar_ns
        )

    def _decimal_arrays(self, increment: Decimal) -> tuple[Any, Any]:
        import numpy as np

        o, h, lo, c = (
            np.fromiter((price_steps(_text(x), increment) for x in getattr(self, n)), np.int64)
            for n in ("open", "high", "low", "close")
        )
        return waypoint_arrays(self.starts, o, h, lo, c, self.bar_ns)

    def candle(self, i: int) -> Candle:
        return Candle(
            int(self.starts[i]),
            *(_text(getattr(self, name)[i]) for name in OHLCV),
        )

    def candles(self) -> Iterator[Candle]:
        for i in range(len(self)):
            yield self.candle(i)


def cut_bars(prices: Any, times: Any, increment: Decimal, bar_ns: int) -> BarColumns:
    """The bars a stream of trades makes (`prices` in whole increments, `times` in ns,
    int64): one per `bar_ns` window that holds a trade, aligned to the first trade's
    window; volume is the count of trades. What the candle bias benchmark and tests
    compare a tick run with."""
    import numpy as np

    if not len(prices):
        raise ValueError("cut_bars: no trades")
    t0 = int(times[0]) - int(times[0]) % bar_ns
    index = (times - t0) // bar_ns
    first = np.concatenate(([0], np.flatnonzero(np.diff(index)) + 1))
    last = np.concatenate((first[1:] - 1, [len(prices) - 1]))
    per_unit = 1 / increment
    exact = per_unit == int(per_unit)

    def scale(x: Any) -> Any:
        return x / float(per_unit) if exact else x * float(increment)

    values = {
        "open": scale(prices[first].astype(np.float64)),
        "high": scale(np.maximum.reduceat(prices, first).astype(np.float64)),
        "low": scale(np.minimum.reduceat(prices, first).astype(np.float64)),
        "close": scale(prices[last].astype(np.float64)),
        "volume": (last - first + 1).astype(np.float64),
    }
    return BarColumns.build(t0 + index[first] * bar_ns, values, "bars", bar_ns)


def _text(value: Any) -> Decimal:
    """A float as the decimal it was written from (its shortest repr)."""
    return Decimal(repr(float(value)))


def _layout(frame: Any) -> tuple[dict[str, Any], Any, str]:
    """A DataFrame's OHLCV columns by lower-case name, its bar times (a start/timestamp/
    time column or a datetime index) and their name; refused, saying what is missing."""
    import pandas as pd

    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in OHLCV if c not in columns]
    if missing:
        raise ValueError(f"DataFrame: missing column(s) {', '.join(missing)}")
    time_col = next((columns[n] for n in _TIME_NAMES if n in columns), None)
    if time_col is not None:
        return columns, frame[time_col], str(time_col)
    if isinstance(frame.index, pd.DatetimeIndex):
        return columns, frame.index.to_series(), "index"
    raise ValueError("DataFrame: no bar time (a start/timestamp/time column or a datetime index)")


def frame_columns(frame: Any, bar_ns: int | None = None) -> BarColumns | None:
    """A DataFrame's bars as columns (see `dataframe_candles` for the shapes taken),
    converted by whole columns; cells that are not floats are read one by one (a bad
    one named by row). None when a Decimal cell has more digits than a float holds."""
    import numpy as np
    import pandas as pd

    columns, times, label = _layout(frame)
    if pd.api.types.is_datetime64_any_dtype(times):
        s = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
        starts = np.asarray(s.astype("datetime64[ns, UTC]").array.asi8, dtype=np.int64)
    else:
        starts = np.asarray(_times_ns(times, label), dtype=np.int64)
    values = {}
    for name in OHLCV:
        col = frame[columns[name]]
        if pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col):
            values[name] = col.to_numpy(dtype=np.float64)
        else:  # Decimals or text: each cell read (and named when wrong)
            cells = [_price(v, name, i) for i, v in enumerate(col)]
            floats = np.asarray([float(d) for d in cells], dtype=np.float64)
            if any(_text(f) != d for f, d in zip(floats.tolist(), cells, strict=True)):
                return None  # more digits than a float holds: the Decimal candles
            values[name] = floats
    return BarColumns.build(starts, values, "DataFrame", bar_ns)


def dataframe_candles(frame: Any) -> list[Candle]:
    """Candles from a DataFrame with open/high/low/close/volume columns (any case) and
    the bar start in a `start`/`timestamp`/`time` column or a datetime index."""
    columns, times, label = _layout(frame)
    starts = _times_ns(times, label)
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
