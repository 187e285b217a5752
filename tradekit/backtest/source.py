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
from tradekit.data.candles import Candle, candle_ticks, infer_bar_ns, load_candles
from tradekit.data.frames import (
    BarColumns,
    dataframe_candles,
    frame_columns,
    price_steps,
    waypoint_arrays,
)
from tradekit.data.generators import PricePath


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
                    (price_steps(getattr(b, name), quote_increment) for b in bars),
                    np.int64,
                    len(bars),
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
                    prices[i] = price_steps(t.price, quote_increment)
                    times[i] = t.ts
                else:
                    plist.append(price_steps(t.price, quote_increment))
                    tlist.append(t.ts)
            if plist:
                prices = np.concatenate([prices, np.asarray(plist, dtype=np.int64)])
                times = np.concatenate([times, np.asarray(tlist, dtype=np.int64)])
        self._arrays[quote_increment] = (prices, times)
        return prices, times


def columns_source(columns: BarColumns, product_id: str) -> TickSource:
    """A source of bars held as columns: the trades stream bar by bar."""
    width = columns.bar_ns

    def stream() -> Iterator[MarketTrade]:
        for candle in columns.candles():
            yield from candle_ticks(candle, product_id, width)

    return TickSource(product_id, stream, 4 * len(columns), 4, "candles", None, width, columns)


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
