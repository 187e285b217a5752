"""Price series for charts: timestamps and exact prices, decimation that keeps every
point that matters, and the one place a Decimal becomes a float (the plotting edge)."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.core.money import to_decimal

_EPOCH = datetime(1970, 1, 1)


def ts_to_datetime(ts: int) -> datetime:
    """Nanoseconds since the epoch (UTC) as a naive UTC datetime, to the microsecond.

    For the x axis only: the exact `ts` stays in the store.
    """
    return _EPOCH + timedelta(microseconds=ts // 1000)


def to_float(value: Decimal) -> float:
    """The plotting edge: the one place a Decimal becomes a float."""
    return float(value)


def price_points(
    prices: Iterable[MarketTrade] | Iterable[tuple[int, Decimal]],
    product_id: str | None = None,
) -> tuple[list[int], list[Decimal]]:
    """(timestamps, prices) from MarketTrades or (ts, price) pairs, sorted by time.

    Trades of another product than `product_id` (when given) are skipped. Prices must
    be Decimals, ints or numeric strings: a float is refused, as everywhere in tradekit.
    """
    ts_list: list[int] = []
    px_list: list[Decimal] = []
    for p in prices:
        if isinstance(p, MarketTrade):
            if product_id is not None and p.product_id != product_id:
                continue
            ts, price = p.ts, p.price
        else:
            ts, price = p
        ts_list.append(int(ts))
        px_list.append(price if type(price) is Decimal else to_decimal(price, "price"))
    if any(a > b for a, b in itertools.pairwise(ts_list)):
        order = sorted(range(len(ts_list)), key=ts_list.__getitem__)
        ts_list = [ts_list[i] for i in order]
        px_list = [px_list[i] for i in order]
    return ts_list, px_list


def decimate(prices: Sequence[Decimal], max_points: int, keep: Iterable[int] = ()) -> list[int]:
    """Indices of the points to draw: at most about `max_points` plus every kept index.

    The series is cut into `max_points // 2` buckets; each bucket contributes its lowest
    and its highest point (so no spike disappears), the first and last points are kept,
    and so is every index in `keep` (stop moves, fills) whatever its bucket. A series no
    longer than `max_points` is returned whole.
    """
    n = len(prices)
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if n <= max_points:
        return list(range(n))
    chosen = {0, n - 1}
    chosen.update(i for i in keep if 0 <= i < n)
    size = math.ceil(n / (max_points // 2))
    for start in range(0, n, size):
        seg = prices[start : start + size]
        chosen.add(start + seg.index(min(seg)))
        chosen.add(start + seg.index(max(seg)))
    return sorted(chosen)


def indices_at(ts_list: Sequence[int], wanted: Iterable[int]) -> set[int]:
    """Every index whose timestamp is in `wanted`; for a time with no trade, the last
    trade before it (so the line still passes next to the marker)."""
    out: set[int] = set()
    for ts in set(wanted):
        lo = bisect_left(ts_list, ts)
        hi = bisect_right(ts_list, ts)
        if lo < hi:
            out.update(range(lo, hi))
        elif lo > 0:
            out.add(lo - 1)
        elif ts_list:
            out.add(0)
    return out


def datetimes_of(ts_values: Sequence[int | None]) -> list[datetime | None]:
    return [None if t is None else ts_to_datetime(t) for t in ts_values]


def floats_of(values: Sequence[Decimal | None]) -> list[float | None]:
    return [None if v is None else to_float(v) for v in values]
