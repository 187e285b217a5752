"""Where a backtest's trades come from: one shape for every kind of market data.

`as_source(data)` accepts candles (a CSV or Parquet file, a list of `Candle`, a pandas
DataFrame with open/high/low/close/volume columns), a recording (`Recording` or a
`.jsonl` path), a seeded `PricePath`, or any iterable of `MarketTrade`, and returns a
`TickSource`: a function that *streams* the trades (a generator, never a list of a
million objects), the trades-per-bar figure that maps a trade back to its bar, and
`arrays()`, the same prices as integer counts of the quote increment for the NumPy path.

Candles become four trades a bar (open, nearer extreme, other extreme, close: the
waypoints of `tradekit.data.candles`' rule), which a backtest runs as a continuous path
(`tradekit.backtest.runner`). A DataFrame or a Parquet file is read by columns
(`BarColumns`): prices become integer counts of the quote increment in a few NumPy
operations, checked exact, with no Decimal per row; Decimals appear only where money is
booked, or for the rows the event path streams when a price is off the grid. A
DataFrame's float cells are read as their shortest decimal text (`60123.45`, what the
float was written from), never through their binary expansion; a value that is not a
finite number, or a bar that cannot be one, is refused with the column and row.
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
    columns: BarColumns | None = None
    path: PricePath | None = None
    chunk_size: int = 1 << 18  # trades a seeded path streams at a time (~10 MB of arrays)
    _arrays: dict[Decimal, tuple[Any, Any]] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[MarketTrade]:
        return self.stream()

    def bar_of(self, tick: int) -> int:
        return tick // self.ticks_per_bar

    @property
    def bars(self) -> bool:
        """Bars (four waypoints each, run as a continuous path), not trades."""
        return self.kind == "candles"

    def bar_times(self) -> Any:
        """The bars' start times (int64 ns); the trades' times for a source of trades."""
        import numpy as np

        if self.columns is not None:
            return self.columns.starts
        if self.candles is not None:
            return np.fromiter((c.start for c in self.candles), np.int64, len(self.candles))
        if self._arrays:
            return next(iter(self._arrays.values()))[1]
        return None

    def bar_start(self, bar: int) -> int:
        """Bar `bar`'s start (a trade's time on a source of trades), ns; IndexError
        naming how many there are."""
        starts = self.bar_times()
        if starts is not None:
            count = len(starts)
            if 0 <= bar < count:
                return int(starts[bar])
        else:
            count = 0
            for i, t in enumerate(self.stream()):
                if i == bar:
                    return t.ts
                count = i + 1
        unit = "bars" if self.bars else "trades"
        raise IndexError(f"entry at_bar {bar}: the data has {count} {unit}")

    def chunks(self, quote_increment: Decimal) -> Iterable[tuple[Any, Any]] | None:
        """The trades as int64 (prices, times) arrays, chunk after chunk: a seeded path
        `chunk_size` trades at a time as it is generated (memory of one chunk), bars and
        in-memory trades as their whole arrays (kept, for sweeps); None when a price is
        off the grid (the exact per-trade loop then takes the Decimals)."""
        cached = self._arrays.get(quote_increment)
        if cached is not None:
            return [cached]
        if self.path is not None and self.path.quote_increment == quote_increment:
            return self.path.chunks(self.chunk_size)
        try:
            return [self.arrays(quote_increment)]
        except ValueError:
            return None

    def arrays(self, quote_increment: Decimal) -> tuple[Any, Any]:
        """(prices, times) as int64 arrays: prices in whole quote increments (exact;
        a price off the grid raises), times in ns. Built once and kept."""
        import numpy as np

        cached = self._arrays.get(quote_increment)
        if cached is not None:
            return cached
        if self.columns is not None:
            prices, times = self.columns.arrays(quote_increment)
        elif self.path is not None and self.path.quote_increment == quote_increment:
            parts = list(self.path.chunks())
            prices = np.concatenate([p for p, _ in parts]) if parts else np.empty(0, np.int64)
            times = np.concatenate([t for _, t in parts]) if parts else np.empty(0, np.int64)
        elif self.candles is not None and self.bar_ns is not None:
            bars = self.candles
            o, h, lo, c = (
                np.fromiter(
                    (_steps(getattr(b, name), quote_increment) for b in bars), np.int64, len(bars)
                )
                for name in ("open", "high", "low", "close")
            )
            starts = np.fromiter((b.start for b in bars), np.int64, len(bars))
            prices, times = waypoint_arrays(starts, o, h, lo, c, self.bar_ns)
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
            np.fromiter((_steps(_text(x), increment) for x in getattr(self, n)), np.int64)
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


def columns_source(columns: BarColumns, product_id: str) -> TickSource:
    """A source of bars held as columns: the trades stream bar by bar."""
    width = columns.bar_ns

    def stream() -> Iterator[MarketTrade]:
        for candle in columns.candles():
            yield from candle_ticks(candle, product_id, width)

    return TickSource(product_id, stream, 4 * len(columns), 4, "candles", None, width, columns)


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
    if isinstance(data, BarColumns):
        return columns_source(data, product_id or "BTC-USD")
    if isinstance(data, PricePath):
        path = data
        return TickSource(path.product_id, path.ticks, len(path), 1, "path", path=path)
    if isinstance(data, str | os.PathLike):
        return _from_file(Path(data), product_id)
    from tradekit.data.recorder import Recording

    if isinstance(data, Recording):
        return _from_recording(data, product_id)
    if _is_dataframe(data):
        pid = product_id or _frame_product(data)
        columns = frame_columns(data)
        if columns is None:
            return candle_source(dataframe_candles(data), pid)
        return columns_source(columns, pid)
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
        from tradekit.data.history import read_candles, read_columns

        columns, pid = read_columns(path)
        if columns is None:  # more digits than a float holds: the Decimal candles
            frame = read_candles(path)
            return candle_source(dataframe_candles(frame), product_id or pid)
        return columns_source(columns, product_id or pid)
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


def frame_columns(frame: Any, bar_ns: int | None = None) -> BarColumns | None:
    """A DataFrame's bars as columns (see `dataframe_candles` for the shapes taken),
    converted by whole columns; cells that are not floats are read one by one (a bad
    one named by row). None when a Decimal cell has more digits than a float holds."""
    import numpy as np
    import pandas as pd

    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in OHLCV if c not in columns]
    if missing:
        raise ValueError(f"DataFrame: missing column(s) {', '.join(missing)}")
    time_col = next((columns[n] for n in _TIME_NAMES if n in columns), None)
    if time_col is not None:
        times = frame[time_col]
        label = str(time_col)
    elif isinstance(frame.index, pd.DatetimeIndex):
        times = frame.index.to_series()
        label = "index"
    else:
        raise ValueError(
            "DataFrame: no bar time (a start/timestamp/time column or a datetime index)"
        )
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
