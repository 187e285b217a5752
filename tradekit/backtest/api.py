"""`tradekit.backtest(data, config_or_params)`: one question, one call, one result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradekit.backtest.curve import KEEP_EVERY_TRADE, Curve
from tradekit.backtest.fast import FastPathRefused, run_fast
from tradekit.backtest.outcome import event_result, source_period
from tradekit.backtest.result import BacktestResult
from tradekit.backtest.runner import Trace, as_floats, run_chunks, run_events
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, resolve_spec
from tradekit.core.decision import DecisionEngine

ENGINES = ("events", "fast", "auto")


def backtest(
    first: object,
    second: object = None,
    /,
    *,
    data: Mapping[str, object] | None = None,
    engine: str = "events",
    product_id: str | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> Any:
    """Backtest one pair's rules on market data; returns a `BacktestResult`. Or, given
    `data={pair: market data, ...}`, a portfolio: `backtest(config, data={...})` runs
    every pair on one account under the portfolio's risk limits and returns a
    `PortfolioResult` (`tradekit.backtest.portfolio`; `limits=`, `halt_at=` there).

    One pair: `backtest(data, config_or_params)`. data: candles (a CSV/Parquet file, a
    list of Candle, a DataFrame with OHLCV columns), a recording (a `Recording` or a
    .jsonl path), a seeded `PricePath`, or a list of MarketTrade. config_or_params: a
    `tradekit run` TOML file (its first pair, or `product_id`'s; an optional
    `[backtest]` table sets balance, fees and entry), a Config, a dict such as
    `{"trail_pct": "0.02"}`, or a BacktestSpec. Every way starts from the same defaults,
    the live config's (`tradekit.backtest.spec`). Keyword overrides change single
    parameters (`trail_pct=Decimal("0.03")`, `entry_offset_pct=...`,
    `print_band_pct="off"`).

    engine: "events" (default) runs the live engine's DecisionEngine and PaperExchange
    without journaling; "fast" the compiled NumPy path (raises FastPathRefused when it
    cannot be exact); "auto" the fast path when it can, else the events. `progress`: a
    tqdm bar (default: for runs of 200,000 ticks or more).
    """
    if data is not None:
        if second is not None:
            raise TypeError("backtest(config, data={...}): the market data goes in data=")
        if engine != "events":
            raise ValueError("a portfolio backtest runs on the event engine (engine='events')")
        from tradekit.backtest.portfolio import portfolio_backtest

        return portfolio_backtest(first, data, progress=progress, **overrides)
    if second is None:
        raise TypeError("backtest(data, config_or_params): the parameters are missing")
    data_, config_or_params = first, second
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    source = as_source(data_, product_id)
    spec = resolve_spec(config_or_params, product_id or source.product_id, **overrides)
    if spec.product_id != source.product_id:
        raise ValueError(
            f"the data is {source.product_id} but the parameters are for {spec.product_id}"
        )
    if engine != "events":
        try:
            return fast_backtest(spec, source)
        except FastPathRefused:
            if engine == "fast":
                raise
    return event_backtest(spec, source, progress=progress)


def fast_backtest(spec: BacktestSpec, source: TickSource, detail: bool = True) -> BacktestResult:
    """The NumPy fast path on a source (its integer arrays are built once and kept)."""
    spec = spec.at_bar_bound(source.bar_start)
    try:
        prices, times = source.arrays(spec.product.quote_increment)
    except ValueError as exc:
        raise FastPathRefused(str(exc)) from None
    return run_fast(
        spec, prices, times, ticks_per_bar=source.ticks_per_bar, detail=detail, bars=source.bars
    )


def event_backtest(
    spec: BacktestSpec,
    source: TickSource,
    *,
    progress: bool | None = None,
    sample: bool = True,
) -> BacktestResult:
    """The backtest path: DecisionEngine + PaperExchange, no journal. The trades go
    through `run_chunks` (only those that can matter are handled one by one): a seeded
    path streams in chunks (memory independent of its length), other sources as their
    integer arrays; a source with a price off the product's grid streams through
    `run_events` instead. `sample`: keep every trade's price and equity for the chart
    (runs up to `curve.KEEP_EVERY_TRADE` trades; longer ones keep one a period)."""
    import numpy as np

    spec = spec.at_bar_bound(source.bar_start)
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    exchange = spec.exchange()
    total = source.n_ticks
    show = progress if progress is not None else (total or 0) >= 200_000
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="tick", unit_scale=True, desc="backtest")
    update = bar.update if bar is not None else None
    q = spec.product.quote_increment
    keep = sample and (total or 0) <= KEEP_EVERY_TRADE
    curve = Curve(spec.balance, source_period(source), source.bars, keep, total)

    def after_chunk(offset: int, prices: Any, times: Any, trace: Trace) -> None:
        curve.add(offset, as_floats(prices, q), times, trace.fills)

    try:
        chunks = source.chunks(q)
        if chunks is None:  # off the grid: the exact per-trade loop takes any price
            trace, driver = run_events(
                decision, exchange, source.stream(), sample=True, progress=update, bars=source.bars
            )
            curve.keep_all = sample
            floats = np.frombuffer(trace.prices, dtype=np.float64)
            curve.add(0, floats, np.frombuffer(trace.times, dtype=np.int64), trace.fills)
        else:
            trace, driver = run_chunks(
                decision,
                exchange,
                source.product_id,
                chunks,
                q,
                progress=update,
                bars=source.bars,
                after_chunk=after_chunk,
            )
    finally:
        if bar is not None:
            bar.close()
    return event_result(spec, source, trace, driver.decision, exchange, curve)
