"""`tradekit.sweep(grid, data)`: many backtests, one DataFrame, on any Executor.

    frame = tradekit.sweep({"trail_pct": ["0.01", "0.02"], "min_ratchet": ["0", "0.001"]},
                           "btc.parquet", params="portfolio.toml")

Each configuration is the base parameters with the grid's values put in
(`BacktestSpec.with_`: any spec field, `entry_<name>`, and the pair's protection and
sanity settings by their config names, e.g. `{"print_band_pct": ["off", "0.02"]}`).
Work is cut into a few chunks per worker; a chunk runs the fast path where it is exact
and the event path otherwise (`engine="auto"`), and sends back one row of statistics
per configuration. Rows come back in grid order, whatever order
the workers finish in, so every executor gives the same DataFrame.

Executors: a process pool by default (its workers get the data once, at start-up); any
`concurrent.futures.Executor`; or a Dask `distributed.Client` (the data is scattered to
the cluster once, then every task names it). Nothing the user writes has to be
importable by the workers: the task function is this module's, and configurations and
data travel as plain values (specs, integer arrays, candles, a seeded path's recipe).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from tradekit.backtest.fast import FastPathRefused, run_fast
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, resolve_spec
from tradekit.core.money import MONEY_CONTEXT, plain

STAT_COLUMNS = (
    "engine",
    "trades",
    "closed_trades",
    "pnl",
    "return",
    "final_equity",
    "max_drawdown",
    "win_rate",
    "exposure",
    "fees",
    "stop_moves",
    "unprotected_s",
    # the ranking statistics (BacktestResult.stats: definitions in its module)
    "sharpe",
    "sortino",
    "calmar",
    "cagr",
    "buy_and_hold_return",
    "profit_factor",
    "expectancy",
    "best_trade",
    "worst_trade",
    "avg_trade",
    "avg_trade_duration_s",
    "max_trade_duration_s",
    "max_drawdown_duration_s",
)


@dataclass(frozen=True)
class Payload:
    """The market data as a worker needs it: integer arrays for the fast path, and what
    rebuilds the trade stream for the event path (candles, a path's recipe, trades)."""

    product_id: str
    prices: Any
    times: Any
    ticks_per_bar: int
    events_data: Any  # picklable: PricePath, list of Candle / MarketTrade, a file path
    fast_ok: bool = True  # False: prices off the grid, every run takes the event path


_WORKER_PAYLOAD: Payload | None = None


def _set_payload(payload: Payload) -> None:
    global _WORKER_PAYLOAD
    _WORKER_PAYLOAD = payload


def run_chunk(
    payload: Payload | None,
    specs: Sequence[tuple[int, BacktestSpec]],
    engine: str,
    risk_free: float = 0.0,
) -> list[tuple[int, dict[str, Any]]]:
    """Run configurations on the data; one (index, statistics) pair each. The task every
    worker runs (module-level, so any executor can ship it by name)."""
    data = payload if payload is not None else _WORKER_PAYLOAD
    if data is None:
        raise RuntimeError("sweep worker without data")
    out = []
    source: TickSource | None = None
    for index, spec in specs:
        result = None
        if engine == "fast" and not data.fast_ok:
            raise FastPathRefused("prices off the product's price grid")
        if engine != "events" and data.fast_ok:
            spec = spec.at_bar_bound(functools.partial(_bar_start, data))
            try:
                result = run_fast(
                    spec,
                    data.prices,
                    data.times,
                    ticks_per_bar=data.ticks_per_bar,
                    detail=False,
                    bars=data.ticks_per_bar == 4,
                )
            except FastPathRefused:
                if engine == "fast":
                    raise
        if result is None:
            from tradekit.backtest.api import event_backtest

            if source is None:
                source = as_source(data.events_data, data.product_id)
            result = event_backtest(spec, source, progress=False)
        stats = result.stats(risk_free)
        out.append((index, {"engine": result.path, **{k: stats[k] for k in STAT_COLUMNS[1:]}}))
    return out


def _bar_start(data: Payload, bar: int) -> int:
    if not 0 <= bar * data.ticks_per_bar < len(data.times):
        count = len(data.times) // data.ticks_per_bar
        raise IndexError(f"entry at_bar {bar}: the data has {count}")
    return int(data.times[bar * data.ticks_per_bar])


def expand_grid(
    grid: Mapping[str, Iterable[Any]] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """A dict of axes -> every combination (the last axis varies fastest); a list of
    dicts -> those configurations as they are."""
    if isinstance(grid, Mapping):
        names = list(grid)
        axes = [list(grid[name]) for name in names]
        for name, values in zip(names, axes, strict=True):
            if not values:
                raise ValueError(f"grid: {name} has no values")
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
    return [dict(g) for g in grid]


def _coerce(name: str, value: Any) -> Any:
    """Grid values as the spec wants them: exact Decimals (floats refused), ints, text
    (durations, names, and "off" for a guard)."""
    if isinstance(value, float):
        raise TypeError(
            f"grid {name}: floats are refused ({value!r}); give Decimals or strings such as "
            f"{str(value)!r}"
        )
    if name in _TEXT_AXES or value == "off":
        return value
    whole = name in _INT_AXES
    if not whole and not isinstance(value, str | int):
        return value  # a Decimal, or what the spec will name as wrong
    try:
        number = Decimal(value)
        if whole and number != number.to_integral_value():
            raise ValueError
    except (ArithmeticError, ValueError, TypeError):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"grid {name}: {value!r} is not {kind}") from None
    return int(number) if whole else number


_INT_AXES = (
    "entry_at_tick",
    "entry_at_bar",
    "max_entry_wait_ns",
    "confirm_trades",
    "gap_exit_after_trades",
)
_TEXT_AXES = ("max_entry_wait", "entry_rule", "on_breach", "exit_reprice_after", "gap_exit_after")


def sweep(
    grid: Mapping[str, Iterable[Any]] | Sequence[Mapping[str, Any]],
    data: object,
    executor: Any = None,
    *,
    params: object = None,
    engine: str = "auto",
    workers: int | None = None,
    product_id: str | None = None,
    progress: bool = True,
    risk_free: float = 0.0,
) -> Any:
    """Backtest every configuration of `grid` on `data`; a DataFrame, one row each.

    params: the base configuration (as for `tradekit.backtest`; default a 2 % trail,
    entered once at the start). executor: None (a process pool of `workers`, default
    the CPU count), any concurrent.futures.Executor, or a Dask distributed.Client.
    engine: "auto" (fast path where exact), "fast" (raise where not) or "events".
    Each row has the statistics of `BacktestResult.stats(risk_free)` (Sharpe, Sortino,
    Calmar, CAGR, profit factor...), so `frame.sort_values("sharpe")` ranks the grid.
    """
    import pandas as pd

    if engine not in ("auto", "fast", "events"):
        raise ValueError(f"engine must be auto, fast or events, got {engine!r}")
    configs = expand_grid(grid)
    if not configs:
        raise ValueError("grid: no configurations")
    source = as_source(data, product_id)
    base = resolve_spec(
        params if params is not None else {"trail_pct": Decimal("0.02")},
        product_id or source.product_id,
    )
    configs = [{k: _coerce(k, v) for k, v in c.items()} for c in configs]
    specs = [(i, base.with_(**c)) for i, c in enumerate(configs)]
    payload = _payload(source, base, engine)
    n_workers = workers or _worker_count(executor)
    # dealt round-robin: neighbouring configurations (a small trail_pct: many trades,
    # the slow ones) spread over every chunk instead of loading one worker
    n_chunks = min(len(specs), n_workers * 4)
    chunks = [specs[c::n_chunks] for c in range(n_chunks)]
    rows: dict[int, dict[str, Any]] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), unit="config", desc="sweep")
    own = None
    try:
        if executor is None:
            own = ProcessPoolExecutor(n_workers, initializer=_set_payload, initargs=(payload,))
            futures = [own.submit(run_chunk, None, chunk, engine, risk_free) for chunk in chunks]
        elif hasattr(executor, "scatter") and hasattr(executor, "submit"):  # a Dask Client
            remote = executor.scatter(payload, broadcast=True)
            futures = [
                executor.submit(run_chunk, remote, chunk, engine, risk_free, pure=False)
                for chunk in chunks
            ]
        elif isinstance(executor, Executor) or hasattr(executor, "submit"):
            futures = [
                executor.submit(run_chunk, payload, chunk, engine, risk_free) for chunk in chunks
            ]
        else:
            raise TypeError(
                f"executor: expected a concurrent.futures.Executor or a Dask Client, "
                f"got {type(executor).__name__}"
            )
        for fut in _completed(executor, futures):
            for index, stats in fut.result():
                rows[index] = stats
            if bar is not None:
                bar.update(len(rows) - bar.n)
    finally:
        if bar is not None:
            bar.close()
        if own is not None:
            own.shutdown(cancel_futures=True)
    table = [{**configs[i], **rows[i]} for i in range(len(configs))]
    return pd.DataFrame(table)


def _completed(executor: Any, futures: list[Any]) -> Iterable[Any]:
    if executor is not None and hasattr(executor, "scatter"):
        from distributed import as_completed as dask_completed

        return dask_completed(futures)  # type: ignore[no-untyped-call]
    return as_completed(futures)


def _worker_count(executor: Any) -> int:
    if executor is None:
        return os.cpu_count() or 1
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int):
        return n
    info = getattr(executor, "scheduler_info", None)
    if callable(info):
        try:
            return max(1, len(info().get("workers", {})))
        except Exception:
            return 2
    return 2


def _payload(source: TickSource, base: BacktestSpec, engine: str) -> Payload:
    prices = times = None
    fast_ok = engine != "events"
    if fast_ok:
        try:
            prices, times = source.arrays(base.product.quote_increment)
        except ValueError:
            prices = times = None
            fast_ok = False
    events_data: Any
    if source.columns is not None:
        events_data = source.columns
    elif source.candles is not None:
        events_data = list(source.candles)
    elif source.kind == "path":
        events_data = _path_of(source)
    else:
        events_data = list(source.stream())
    if prices is None:  # off the price grid: every configuration takes the event path
        import numpy as np

        prices = times = np.empty(0, dtype=np.int64)
    return Payload(source.product_id, prices, times, source.ticks_per_bar, events_data, fast_ok)


def _path_of(source: TickSource) -> Any:
    owner = getattr(source.stream, "__self__", None)
    return owner if owner is not None else list(source.stream())


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """A command-line axis: `name=start:stop:count` (count values, both ends included)
    or `name=v1,v2,...`. Numbers stay exact Decimals."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise ValueError(f"--grid {text!r}: expected NAME=START:STOP:COUNT or NAME=V1,V2,...")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValueError(f"--grid {text!r}: a range is START:STOP:COUNT")
        try:
            start, stop, count = Decimal(parts[0]), Decimal(parts[1]), int(parts[2])
        except (ArithmeticError, ValueError):
            raise ValueError(
                f"--grid {text!r}: START and STOP are numbers, COUNT a whole number"
            ) from None
        if count < 1:
            raise ValueError(f"--grid {text!r}: COUNT must be at least 1")
        if count == 1:
            return name, [start]
        with localcontext(MONEY_CONTEXT):
            step = (stop - start) / (count - 1)
            values = [start + step * i for i in range(count)]
        return name, [_tidy(v) for v in values]
    return name, [v.strip() for v in spec.split(",") if v.strip()]


def _tidy(v: Decimal) -> Decimal:
    """At most 12 decimal places, no trailing zeros, never exponent notation."""
    with localcontext(MONEY_CONTEXT):
        return Decimal(plain(v.quantize(Decimal("1e-12")).normalize()))


def heatmap(frame: Any, x: str, y: str, value: str = "return", title: str | None = None) -> Any:
    """A Plotly heatmap of one statistic over two grid axes (floats at the edge: colour).

    Fractions (a return, a drawdown, a trail) read as percentages; a statistic that can
    go either way (a return, P&L) gets a red-to-green scale centred at zero, so a grid
    of losses is all red; a drawdown reads darker where it is deeper."""
    import plotly.graph_objects as go

    from tradekit import format as fmt

    table = frame.pivot_table(index=y, columns=x, values=value, aggfunc="first")
    as_pct = fmt.kind_of(value) == "pct"
    scale = 100.0 if as_pct else 1.0
    z = [[None if v != v else float(v) * scale for v in row] for row in table.to_numpy()]

    def label(axis: str, v: Any) -> str:
        return fmt.for_people(axis, Decimal(str(v))) if _numeric(v) else str(v)

    if value == "max_drawdown":
        colours: dict[str, Any] = {"colorscale": "Reds"}
    else:
        colours = {"colorscale": "RdYlGn", "zmid": 0}
    unit = "%" if as_pct else ""
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[label(x, c) for c in table.columns],
            y=[label(y, i) for i in table.index],
            colorbar={"title": value + (" (%)" if as_pct else ""), "ticksuffix": unit},
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>{value} %{{z:,.2f}}{unit}<extra></extra>",
            **colours,
        )
    )
    fig.update_layout(
        title=title or f"{value} by {x} and {y}",
        xaxis_title=x,
        yaxis_title=y,
        xaxis={"type": "category"},
        yaxis={"type": "category"},
        height=420,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return fig


def _numeric(v: Any) -> bool:
    try:
        Decimal(str(v))
    except ArithmeticError:
        return False
    return not isinstance(v, bool)
