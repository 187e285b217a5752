"""`tradekit.backtest(data, config_or_params)`: one question, one call, one result."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import localcontext
from typing import Any, overload

from tradekit.backtest.curve import KEEP_EVERY_TRADE, Curve
from tradekit.backtest.fast import FastPathRefused, run_fast, spec_params
from tradekit.backtest.result import BacktestResult, StopLevel, Trade
from tradekit.backtest.runner import Trace, _as_floats, run_chunks, run_events
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, resolve_spec
from tradekit.core.decision import DecisionEngine
from tradekit.core.money import MONEY_CONTEXT, ZERO
from tradekit.core.reports import PositionClosed, PositionOpened

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
    curve = Curve(spec.balance, _period(source), source.bars, keep)

    def after_chunk(offset: int, prices: Any, times: Any, trace: Trace) -> None:
        curve.add(offset, _as_floats(prices, q), times, trace.fills)

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
                keep_moves=(total or 0) <= KEEP_EVERY_TRADE,
            )
    finally:
        if bar is not None:
            bar.close()
    return _event_result(spec, source, trace, driver.decision, exchange, curve)


def _period(source: TickSource) -> int | None:
    """A return's period: a bar, or for trades a minute or their spacing (None: from
    the first chunk of trades)."""
    if source.bars:
        return source.bar_ns
    if source.path is not None:
        return max(60 * 10**9, source.path.tick_ns)
    return None


def _first_price(source: TickSource, spec: BacktestSpec) -> Any:
    cached = source._arrays.get(spec.product.quote_increment)
    if cached is not None and len(cached[0]):
        with localcontext(MONEY_CONTEXT):
            return int(cached[0][0]) * spec.product.quote_increment
    first = next(iter(source.stream()), None)
    return None if first is None else first.price


def _event_result(
    spec: BacktestSpec,
    source: TickSource,
    trace: Trace,
    decision: DecisionEngine,
    exchange: Any,
    curve: Curve,
) -> BacktestResult:

    product = spec.product
    per_bar = source.ticks_per_bar
    trades: list[Trade] = []
    opened: tuple[int, int] | None = None
    for tick, report in trace.reports:
        if type(report) is PositionOpened:
            opened = (tick, report.ts)
        elif type(report) is PositionClosed:
            assert opened is not None
            trades.append(
                Trade(
                    opened[0],
                    opened[0] // per_bar,
                    opened[1],
                    report.entry_price,
                    report.size,
                    tick,
                    tick // per_bar,
                    report.ts,
                    report.exit_price,
                    report.fees,
                    report.realized_pnl,
                )
            )
            opened = None
    last = trace.last_price
    pos = decision.position
    with localcontext(MONEY_CONTEXT):
        if pos is not None and opened is not None and last is not None:
            entry = pos.entry_price
            assert entry is not None
            trades.append(
                Trade(
                    opened[0],
                    opened[0] // per_bar,
                    opened[1],
                    entry,
                    pos.open_size,
                    None,
                    None,
                    None,
                    None,
                    pos.fees,
                    pos.proceeds + pos.open_size * last - pos.cost - pos.fees,
                )
            )
        # the account as this pair's fills left it (the exchange's balances, unless the
        # exchange is shared by a portfolio: then this pair's share of it)
        cash, held = curve.cash, curve.held
        final = cash + held * last if last is not None else cash
        fees = sum((f.commission for _, f in trace.fills), ZERO)
    stops = _StopsOf(trace.stops, per_bar)
    holding_ns, unprotected_ns = _durations(trace)
    n = trace.n_ticks
    drawn = curve.finish(trace.first_ts, spec.balance)
    return BacktestResult(
        product=product,
        params=spec_params(spec),
        path="events",
        trades=trades,
        stops=stops,
        initial_equity=spec.balance,
        final_equity=final,
        fees=fees,
        stop_moves=trace.stop_moves,
        n_ticks=n,
        ticks_per_bar=per_bar,
        first_ts=trace.first_ts,
        last_ts=trace.last_ts,
        last_price=last,
        holding_ns=holding_ns,
        unprotected_ns=unprotected_ns,
        reports=[r for _, r in trace.reports],
        handled=trace.handled,
        refused=dict(trace.refused),
        first_price=_first_price(source, spec) if n else None,
        **drawn,
    )


class _StopsOf(Sequence[StopLevel]):
    """The trace's stop history as StopLevels, each made when asked for (a long run's
    history is not held twice)."""

    def __init__(self, placed: list[Any], per_bar: int) -> None:
        self._placed = placed
        self._per_bar = per_bar

    def __len__(self) -> int:
        return len(self._placed)

    def _level(self, s: Any) -> StopLevel:
        return StopLevel(s.tick, s.tick // self._per_bar, s.ts, s.trigger, s.limit, s.size)

    @overload
    def __getitem__(self, i: int) -> StopLevel: ...
    @overload
    def __getitem__(self, i: slice) -> list[StopLevel]: ...
    def __getitem__(self, i: int | slice) -> StopLevel | list[StopLevel]:
        if isinstance(i, slice):
            return [self._level(s) for s in self._placed[i]]
        return self._level(self._placed[i])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} stops>"


def _durations(trace: Trace) -> tuple[int, int]:
    """Market time holding, and holding without an acknowledged resting stop."""
    holding = unprotected = 0
    states = [*trace.states, (trace.n_ticks, trace.last_ts, False, False)]
    for (_, ts, hold, prot), (_, nxt, _, _) in itertools.pairwise(states):
        if hold:
            holding += nxt - ts
            if not prot:
                unprotected += nxt - ts
    return holding, unprotected
