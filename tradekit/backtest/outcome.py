"""What a run on the event engine comes to: its trace (reports, fills, stop history,
states) and the equity curve turned into a `BacktestResult`. Shared by the single-pair
backtest (`api`) and the portfolio backtest (`portfolio`), one rule for both."""

from __future__ import annotations

import itertools
from decimal import localcontext
from typing import Any

from tradekit.backtest.curve import Curve
from tradekit.backtest.fast import spec_params
from tradekit.backtest.result import BacktestResult, Trade
from tradekit.backtest.runner import Trace
from tradekit.backtest.source import TickSource
from tradekit.backtest.spec import BacktestSpec
from tradekit.core.decision import DecisionEngine
from tradekit.core.money import MONEY_CONTEXT, ZERO
from tradekit.core.reports import PositionClosed, PositionOpened


def source_period(source: TickSource) -> int | None:
    """A return's period: a bar, or for trades a minute or their spacing (None: from
    the first chunk of trades)."""
    if source.bars:
        return source.bar_ns
    if source.path is not None:
        return max(60 * 10**9, source.path.tick_ns)
    return None


def first_price_of(source: TickSource, spec: BacktestSpec) -> Any:
    cached = source._arrays.get(spec.product.quote_increment)
    if cached is not None and len(cached[0]):
        with localcontext(MONEY_CONTEXT):
            return int(cached[0][0]) * spec.product.quote_increment
    first = next(iter(source.stream()), None)
    return None if first is None else first.price


def event_result(
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
    stops = trace.stops.history(per_bar)
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
        first_price=first_price_of(source, spec) if n else None,
        **drawn,
    )


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
