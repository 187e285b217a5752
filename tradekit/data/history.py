"""Real history: Coinbase's public candles, paged, rate-limited, cached, resumable.

    frame = fetch_candles("BTC-USD", "2024-05-01", "2024-06-01")   # one-minute bars

goes through the REST adapter (`CoinbaseRest.candles`, the public
`/market/products/{id}/candles` endpoint: no key needed) in pages of `PAGE` candles,
under the endpoint's 350-a-request limit, at most `rate_per_s` requests a second (the
adapter also waits out a 429). Every finished page is written at once to the cache, so
an interrupted download resumes where it stopped and a second call costs no request.

The cache is Parquet (pyarrow): a columnar file per page, compressed, read back as one
table; prices and volumes are kept as the exchange's decimal strings, so what comes
back is exactly what Coinbase sent (a float column would not be; a decimal128 column
would force one scale on every value). A page that reaches into the last `granularity`
before now is never cached (its last candle may still change). `tradekit candles` is
the command-line face of this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.exchange.coinbase.granularity import GRANULARITIES
from tradekit.exchange.types import Candle

PAGE = 300  # candles a request: under Coinbase's 350, with room for an inclusive end
DEFAULT_CACHE = Path("~/.tradekit/candles")
COLUMNS = ("start", "open", "high", "low", "close", "volume")
NS = 10**9


def to_unix_s(value: object, name: str) -> int:
    """Unix seconds from an int, a datetime, or an ISO-8601 text (UTC unless it says)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not a time")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(when.timestamp())
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{name}: {value!r} is neither unix seconds nor ISO-8601 (e.g. 2024-05-01)"
            ) from None
        return to_unix_s(when, name)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return to_unix_s(value.to_pydatetime(), name)
    raise ValueError(f"{name}: expected unix seconds, a datetime or ISO-8601 text, got {value!r}")


def pages(start_s: int, end_s: int, step_s: int) -> Iterator[tuple[int, int]]:
    """[start, end) cut into pages of PAGE candles on a fixed grid (so that two calls with
    different ranges share their cached pages)."""
    width = PAGE * step_s
    first = start_s - start_s % width
    for lo in range(first, end_s, width):
        yield lo, lo + width


def fetch_candles(
    product_id: str,
    start: object,
    end: object,
    granularity: str = "ONE_MINUTE",
    *,
    base_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    rate_per_s: float = 8.0,
    progress: bool = True,
    ca_file: str | None = None,
    now: Callable[[], float] = time.time,
    client: Any = None,
) -> Any:
    """Candles of `product_id` starting in [start, end), oldest first, as a DataFrame
    (`start` as UTC datetimes, OHLCV as exact Decimals; `frame.attrs["product_id"]`).

    base_url: Coinbase by default, or a `tradekit sim` URL. cache_dir: where pages are
    kept (default ~/.tradekit/candles; None keeps that default, "" disables the cache).
    output: also write the table there (.parquet, or .csv in Coinbase's column order).
    A range with no candles at all raises ValueError saying so (and writes nothing):
    an empty table would only fail later, in a backtest, far from the cause.
    """
    from tradekit.exchange.coinbase import DEFAULT_BASE_URL, CoinbaseRest

    step = GRANULARITIES.get(granularity)
    if step is None:
        raise ValueError(f"granularity: {granularity!r} is not one of {', '.join(GRANULARITIES)}")
    start_s = to_unix_s(start, "start")
    end_s = to_unix_s(end, "end")
    if end_s <= start_s:
        raise ValueError(f"end ({end_s}) must be after start ({start_s})")
    if not rate_per_s > 0:
        raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
    folder = _cache_folder(cache_dir, base_url, product_id, granularity)
    rest = client or CoinbaseRest(None, base_url or DEFAULT_BASE_URL, ca_file=ca_file)
    todo = list(pages(start_s, end_s, step))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="page", desc=f"{product_id} {granularity}")
    found: list[Candle] = []
    last_request = 0.0
    try:
        for lo, hi in todo:
            cached = None if folder is None else _read_page(folder / f"{lo}.parquet")
            if cached is None:
                wait = last_request + 1.0 / rate_per_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last_request = time.monotonic()
                cached = rest.candles(product_id, lo, hi, granularity)
                if folder is not None and hi + step <= now():
                    _write_page(folder / f"{lo}.parquet", cached)
            found.extend(c for c in cached if start_s * NS <= c.start < end_s * NS)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if client is None:
            rest.close()
    if not found:
        when = (
            f"{datetime.fromtimestamp(start_s, UTC):%Y-%m-%d %H:%M} to "
            f"{datetime.fromtimestamp(end_s, UTC):%Y-%m-%d %H:%M} UTC"
        )
        wrote = "" if output is None else f"; nothing written to {os.fspath(output)}"
        raise ValueError(
            f"no {granularity} candles of {product_id} from {when}: the exchange has no "
            "trades there (a range before the product was listed, in the future, or a "
            f"product id it does not know){wrote}"
        )
    frame = candles_frame(found, product_id)
    if output is not None:
        write_candles(frame, output)
    return frame


def _cache_folder(
    cache_dir: str | os.PathLike[str] | None, base_url: str | None, product_id: str, gran: str
) -> Path | None:
    if cache_dir is not None and os.fspath(cache_dir) == "":
        return None
    root = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE.expanduser()
    source = "coinbase" if base_url is None else _safe(base_url)
    folder = root / source / f"{product_id}-{gran}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _safe(url: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in url.split("://", 1)[-1])


def _table(candles: list[Candle]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "start": pa.array([c.start for c in candles], pa.int64()),
            **{
                name: pa.array([str(getattr(c, name)) for c in candles], pa.string())
                for name in COLUMNS[1:]
            },
        }
    )


def _write_page(path: Path, candles: list[Candle]) -> None:
    """Write a page atomically (a temporary file renamed): a crash never leaves half."""
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    pq.write_table(_table(candles), tmp, compression="zstd")
    os.replace(tmp, path)


def _read_page(path: Path) -> list[Candle] | None:
    import pyarrow.parquet as pq

    if not path.exists():
        return None
    try:  # a damaged cache file (unreadable, or readable with impossible values) is
        # fetched again, never trusted
        cols = pq.read_table(path).to_pydict()
        return [
            Candle(int(s), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))
            for s, o, h, lo, c, v in zip(*(cols[name] for name in COLUMNS), strict=True)
        ]
    except Exception:
        return None


def candles_frame(candles: list[Candle], product_id: str) -> Any:
    """Candles as a DataFrame: `start` (UTC datetimes) and exact Decimal OHLCV columns."""
    import pandas as pd

    unique = sorted({c.start: c for c in candles}.values(), key=lambda c: c.start)
    frame = pd.DataFrame(
        {
            "start": pd.to_datetime([c.start for c in unique], unit="ns", utc=True),
            **{
                name: pd.Series([getattr(c, name) for c in unique], dtype=object)
                for name in COLUMNS[1:]
            },
        }
    )
    frame.attrs["product_id"] = product_id
    return frame


def write_candles(frame: Any, path: str | os.PathLike[str]) -> Path:
    """A candle DataFrame to .parquet (exact decimal strings) or .csv (Coinbase's order)."""
    from tradekit.data.frames import dataframe_candles

    target = Path(path)
    candles = dataframe_candles(frame)
    if target.suffix.lower() == ".csv":
        with open(target, "w", encoding="utf-8", newline="") as f:
            f.write("start,low,high,open,close,volume\n")
            for c in candles:
                f.write(f"{c.start // NS},{c.low},{c.high},{c.open},{c.close},{c.volume}\n")
        return target
    import pyarrow.parquet as pq

    table = _table(candles)
    product_id = getattr(frame, "attrs", {}).get("product_id")
    if product_id:
        table = table.replace_schema_metadata({"tradekit.product_id": product_id})
    pq.write_table(table, target, compression="zstd")
    return target


def _open_table(path: str | os.PathLike[str]) -> Any:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ValueError(f"{os.fspath(path)}: not a readable Parquet file ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{os.fspath(path)}: missing column(s) {', '.join(missing)}")
    return table


_FLOAT_EXACT_CHARS = 16  # 15 digits and a point: every such decimal survives a float


def read_columns(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """A Parquet candle file as `BarColumns` (whole columns, no Decimal per row) and its
    product id; columns None when a value has more digits than a float holds exactly
    (`read_candles` then reads it as Decimals)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from tradekit.data.frames import BarColumns

    table = _open_table(path)
    meta = table.schema.metadata or {}
    product_id = meta.get(b"tradekit.product_id", b"").decode() or "BTC-USD"
    values = {}
    for name in COLUMNS[1:]:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            long = pc.max(pc.utf8_length(col)).as_py() or 0
            if (
                long > _FLOAT_EXACT_CHARS
                or pc.any(pc.match_substring(col, "e", ignore_case=True)).as_py()
            ):
                return None, product_id
            try:
                col = pc.cast(col, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"{os.fspath(path)}: column {name}: {exc}") from None
        values[name] = col.to_numpy(zero_copy_only=False).astype(np.float64)
    starts = table.column("start").to_numpy(zero_copy_only=False).astype(np.int64)
    return BarColumns.build(starts, values, os.fspath(path), None), product_id


def read_candles(path: str | os.PathLike[str]) -> Any:
    """A Parquet candle file written by `write_candles` (or `tradekit candles -o`)."""
    table = _open_table(path)
    cols = table.to_pydict()
    candles = [
        Candle(
            int(s),
            Decimal(str(o)),
            Decimal(str(h)),
            Decimal(str(lo)),
            Decimal(str(c)),
            Decimal(str(v)),
        )
        for s, o, h, lo, c, v in zip(*(cols[name] for name in COLUMNS), strict=True)
    ]
    meta = table.schema.metadata or {}
    product_id = meta.get(b"tradekit.product_id", b"").decode() or "BTC-USD"
    return candles_frame(candles, product_id)
