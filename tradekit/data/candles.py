"""OHLCV candles from CSV, and the one rule that turns a bar into trades.

Accepted files (detected from the header, names case-insensitive; a file without one
of these headers is refused, because guessing column order silently swaps high and low):

    start,low,high,open,close,volume          Coinbase's candle order, start in unix seconds
    timestamp,open,high,low,close,volume      the common order, unix seconds or ISO-8601

Columns are matched by name, so the six names in any order are read the same way. Unix
seconds may carry a fraction; an ISO-8601 time without a zone is taken as UTC; a time
must fall between 1970 and year 5138. Prices and volumes are parsed as Decimal straight
from the text, never through a float, and must lie in the range `tradekit.jsonl.number`
states (finite, at most 40 digits, exponent within -18..15: below 1e16), so no bar can
make the tick arithmetic overflow. Every problem raises `CandleFileError`, naming the
file and line: better to stop than to backtest on a bar with high < close.

Bar -> ticks rule (used by `candle_ticks`, hence by `candles_to_trades` and by every
backtest on candles): each bar becomes four trades, its waypoints OPEN -> nearer extreme
-> other extreme -> CLOSE, at start, start + bar/4, start + bar/2 and start + 3*bar/4
(integer ns), each of size volume/4 rounded down to `base_increment`. The nearer extreme
is the one closer to the open (the low when both are as near: the order worse for a
long position under a trailing stop, whose stop only rises on new highs).

The fill model (`tradekit.backtest.runner`): a bar is a continuous path through its
waypoints, passing every price between two of them, so an order resting inside a leg's
range meets the market at its own price, as it would on the ticks the bar was cut from:
a stop triggers at its trigger and, as a Coinbase stop-limit does, its limit sell fills
there (the market is at the trigger, above the limit); a buy limit fills at its limit;
an order placed at the market fills at that price, never at a later, better waypoint.
Only between bars does the market jump: a bar that opens beyond a stop's limit gaps
through it, and the stop rests unfilled as on the exchange.

Why those times: even quarters keep every gap, within and between bars, equal to bar/4,
so no event is crowded against the next bar's open. A bar must be at least 4 ns wide.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from tradekit.core.events import MarketTrade
from tradekit.core.money import MONEY_CONTEXT, ZERO, round_down, to_decimal
from tradekit.exchange.types import CANDLE_VALUES as _VALUE_COLUMNS
from tradekit.exchange.types import MAX_CANDLE_START_NS as _MAX_START_NS
from tradekit.exchange.types import MAX_UNIX_SECONDS as _MAX_UNIX_SECONDS
from tradekit.exchange.types import Candle as Candle  # its home; re-exported for callers
from tradekit.exchange.types import candle_problem
from tradekit.jsonl import LineError, number

NS_PER_SECOND = 1_000_000_000
DEFAULT_BASE_INCREMENT = Decimal("0.00000001")
_TIME_COLUMNS = ("start", "timestamp")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CELL = 100  # characters shown of a bad cell (a CSV field may be 128 KiB)


class CandleFileError(LineError):
    """A candle file could not be read; says which file, which line and what is wrong."""


def _cell(text: str) -> str:
    """A cell for an error message, cut short."""
    return repr(text if len(text) <= _MAX_CELL else text[:_MAX_CELL] + "...")


def _parse_time(text: str) -> int:
    """Unix seconds (fraction allowed) or ISO-8601 -> ns; ValueError saying why not."""
    text = text.strip()
    try:
        seconds = Decimal(text) if len(text) <= _MAX_CELL else None
    except InvalidOperation:
        seconds = None
    if seconds is not None:
        if not seconds.is_finite():
            raise ValueError(f"timestamp {_cell(text)} is not a number")
        if not 0 <= seconds < _MAX_UNIX_SECONDS:
            raise ValueError(
                f"timestamp {_cell(text)} is out of range for unix seconds "
                "(milliseconds? divide by 1000)"
            )
        if seconds and seconds.adjusted() < -9:
            raise ValueError(f"timestamp {_cell(text)} is finer than a nanosecond")
        ns = MONEY_CONTEXT.multiply(seconds, NS_PER_SECOND)  # < 1e20, so in range and exact
        if ns != ns.to_integral_value(context=MONEY_CONTEXT):
            raise ValueError(f"timestamp {_cell(text)} is finer than a nanosecond")
        return int(ns)
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delta = when - _EPOCH
    except ValueError:
        raise ValueError(f"timestamp {_cell(text)} is neither unix seconds nor ISO-8601") from None
    iso_ns = (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000
    if not 0 <= iso_ns < _MAX_START_NS:
        raise ValueError(f"timestamp {_cell(text)} is not between 1970 and year 5138")
    return iso_ns


def _parse_value(text: str, column: str) -> Decimal:
    try:
        return number(text.strip())
    except ValueError as e:
        raise ValueError(f"{column} {e}") from None


def _header_columns(row: list[str]) -> dict[str, int] | None:
    """Column name -> index for a recognised header, None otherwise."""
    names = [cell.strip().lower() for cell in row]
    time_names = [n for n in names if n in _TIME_COLUMNS]
    if len(names) != 6 or len(set(names)) != 6 or len(time_names) != 1:
        return None
    if not set(_VALUE_COLUMNS) <= set(names):
        return None
    index = {name: i for i, name in enumerate(names)}
    index["time"] = index[time_names[0]]
    return index


def parse_candles(lines: Iterable[str], source: str = "<candles>") -> list[Candle]:
    """Candles from CSV text lines (see the module docstring); `source` names it in errors."""
    reader = csv.reader(lines)
    columns: dict[str, int] | None = None
    header_line = 0
    candles: list[Candle] = []
    previous_line = 0
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _header_columns(row)
                if columns is None:
                    raise CandleFileError(
                        source,
                        line,
                        f"unrecognised header {_cell(','.join(row))}; expected "
                        "'start,low,high,open,close,volume' (Coinbase) or "
                        "'timestamp,open,high,low,close,volume'",
                    )
                header_line = line
                continue
            if len(row) != 6:
                raise CandleFileError(source, line, f"expected 6 columns, got {len(row)}")
            try:
                start = _parse_time(row[columns["time"]])
                o, h, lo, c, v = (_parse_value(row[columns[n]], n) for n in _VALUE_COLUMNS)
            except ValueError as exc:
                raise CandleFileError(source, line, str(exc)) from None
            problem = candle_problem(o, h, lo, c, v)
            if problem is not None:
                raise CandleFileError(source, line, problem)
            if candles and start <= candles[-1].start:
                hint = ""
                if len(candles) == 1 and start < candles[-1].start:
                    hint = " (newest first, as Coinbase's API returns? sort oldest first)"
                raise CandleFileError(
                    source,
                    line,
                    "timestamps must be strictly increasing: "
                    f"{_cell(row[columns['time']].strip())} "
                    f"does not come after line {previous_line}{hint}",
                )
            candles.append(Candle(start, o, h, lo, c, v))
            previous_line = line
    except csv.Error as exc:
        raise CandleFileError(source, reader.line_num, f"malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CandleFileError(source, reader.line_num + 1, f"not UTF-8 text: {exc}") from None
    if columns is None:
        raise CandleFileError(source, 1, "file is empty (expected a header and candles)")
    if not candles:
        raise CandleFileError(source, header_line, "header but no candles")
    return candles


def load_candles(path: str | os.PathLike[str]) -> list[Candle]:
    """Candles from a CSV file, oldest first; raises CandleFileError naming file and line."""
    name = os.fspath(path)
    with open(name, encoding="utf-8-sig", newline="") as f:
        return parse_candles(f, name)


def candle_ticks(
    candle: Candle,
    product_id: str,
    bar_ns: int,
    base_increment: Decimal = DEFAULT_BASE_INCREMENT,
) -> list[MarketTrade]:
    """The four trades of one bar: open, nearer extreme, other extreme, close (the rule
    in the module doc)."""
    if bar_ns < 4:
        raise ValueError(f"bar_ns must be >= 4 so the four ticks get distinct times: {bar_ns}")
    base_increment = number(to_decimal(base_increment, "base_increment"))
    if base_increment <= 0:
        raise ValueError(f"base_increment must be positive, got {base_increment}")
    quarter = MONEY_CONTEXT.divide(candle.volume, 4)  # exact: volume has <= 40 digits
    size = round_down(quarter, base_increment) if candle.volume > 0 else ZERO
    t = candle.start
    first, second = waypoints(candle.open, candle.high, candle.low)
    return [
        MarketTrade(product_id, candle.open, size, t, f"{t}-0"),
        MarketTrade(product_id, first, size, t + bar_ns // 4, f"{t}-1"),
        MarketTrade(product_id, second, size, t + bar_ns // 2, f"{t}-2"),
        MarketTrade(product_id, candle.close, size, t + 3 * bar_ns // 4, f"{t}-3"),
    ]


def waypoints(open_: Decimal, high: Decimal, low: Decimal) -> tuple[Decimal, Decimal]:
    """A bar's two extremes in path order: the nearer to the open first (low on a tie)."""
    if open_ - low <= high - open_:
        return low, high
    return high, low


def infer_bar_ns(candles: Sequence[Candle]) -> int:
    """Bar width: the smallest gap between consecutive starts (a missing bar only widens
    one gap, so the smallest is the true width as long as two bars are adjacent)."""
    if len(candles) < 2:
        raise ValueError("cannot infer the bar width from fewer than two candles; pass bar_ns")
    return min(b.start - a.start for a, b in pairwise(candles))


def candles_to_trades(
    candles: Sequence[Candle],
    product_id: str,
    bar_ns: int | None = None,
    base_increment: Decimal = DEFAULT_BASE_INCREMENT,
) -> list[MarketTrade]:
    """All bars as trades, four per bar via `candle_ticks`; times strictly increase.

    `bar_ns` None infers the width from the candles' spacing (`infer_bar_ns`).
    """
    if not candles:
        return []
    width = infer_bar_ns(candles) if bar_ns is None else bar_ns
    trades: list[MarketTrade] = []
    previous: Candle | None = None
    for candle in candles:
        if previous is not None and candle.start < previous.start + width:
            raise ValueError(
                f"candle at {candle.start} starts less than bar_ns={width} after the one "
                f"at {previous.start}: bars overlap or are out of order"
            )
        trades.extend(candle_ticks(candle, product_id, width, base_increment))
        previous = candle
    return trades
