"""The backtest path: the live engine's rules and paper exchange, minus the journal.

`ExecutionEngine` writes every decision to SQLite (and the paper exchange can write every
mutation to JSON lines) because a live run must survive a crash. A backtest can simply
be run again, so this driver keeps what decides (the `DecisionEngine`, the
`PaperExchange`, and the pair driver's code that performs commands and reads the
exchange's answers) and drops what only makes it durable: no store, no journal, no JSON
per event. Ticks stream from their source, one at a time.

The loop is `ExecutionEngine.run`'s, step for step: each trade first moves the paper
market (`advance`), then the events it caused are handled in the engine's order (the
stop's news when the trade reached the stop, then the fills, then the trade), and the
outcome of every command is handled before the next event, as the engine's queue does.
Commands are performed by the same `PairDriver.perform` as live trading, so every
command type the core has (and any it grows) is performed the same way.
tests/backtest/test_equivalence.py holds the two paths to identical trades, stops and P&L.
"""

from __future__ import annotations

import itertools
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradekit.core.commands import Command
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import Event, OrderAccepted, OrderEdited
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.core.reports import Report
from tradekit.engine._sync.driver import PairDriver, fill_event
from tradekit.exchange.types import Fill

PROGRESS_EVERY = 1 << 16  # ticks between progress-bar updates
_PROGRESS_MASK = PROGRESS_EVERY - 1


@dataclass(frozen=True, slots=True)
class StopPlaced:
    """A stop the exchange acknowledged (placed, or edited in place): the stop history."""

    tick: int
    ts: int
    client_order_id: str
    trigger: Decimal
    limit: Decimal
    size: Decimal


@dataclass
class Trace:
    """What a run leaves behind, for `BacktestResult` (everything exact but the
    per-tick price samples, which only draw the equity curve)."""

    reports: list[tuple[int, Report]] = field(default_factory=list)
    fills: list[tuple[int, Fill]] = field(default_factory=list)
    stops: list[StopPlaced] = field(default_factory=list)
    commands: int = 0
    # (tick, ts, holding, protected) each time either changes
    states: list[tuple[int, int, bool, bool]] = field(default_factory=list)
    prices: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    times: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    n_ticks: int = 0
    last_price: Decimal | None = None
    first_ts: int = 0
    last_ts: int = 0


class LeanDriver(PairDriver):
    """The pair driver with its journal taken out (store None): it records instead."""

    def __init__(self, decision: DecisionEngine, exchange: Any, trace: Trace) -> None:
        super().__init__(decision, exchange, None)  # type: ignore[arg-type]
        self.trace = trace
        self.tick = 0

    def journal(self, ev: Event | None, commands: list[Command], reports: list[Report]) -> None:
        tick = self.tick
        self.trace.commands += len(commands)
        self.trace.reports.extend((tick, r) for r in reports)

    def _gap_closed(self, stop: Any, ts: int) -> None:
        self._gaps.pop(stop.client_order_id, None)  # measured in market time instead


def run_events(
    decision: DecisionEngine,
    exchange: Any,
    ticks: Any,
    *,
    sample: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[Trace, LeanDriver]:
    """Run every trade of `ticks` (an iterable of MarketTrade) through the decision
    engine and the paper exchange; returns the trace and the driver (its decision
    engine holds the final state)."""
    trace = Trace()
    driver = LeanDriver(decision, exchange, trace)
    decision = driver.decision
    handle = decision.handle
    advance = exchange.advance
    prices_append = trace.prices.append
    times_append = trace.times.append
    queue: deque[Event] = deque()
    state = (False, False)
    tick = -1
    ticks = iter(ticks)
    first = next(ticks, None)
    if first is None:
        return trace, driver
    trace.first_ts = first.ts
    trade = first
    for tick, trade in enumerate(itertools.chain((first,), ticks)):
        price = trade.price
        if sample:
            prices_append(float(price))
            times_append(trade.ts)
        fills = advance(trade)
        stop = decision.stop
        if not fills and (stop is None or stop.stop_price is None or price > stop.stop_price):
            # the hot path: nothing filled, the stop not reached
            commands = handle(trade)
            if not commands and not decision.has_reports:
                if progress is not None and not tick & _PROGRESS_MASK and tick:
                    progress(PROGRESS_EVERY)
                continue
            driver.tick = tick
            result = driver.after_handle(trade, commands)
            queue.extendleft(reversed(result.outcomes))
        else:
            driver.tick = tick
            if stop is not None and stop.stop_price is not None and price <= stop.stop_price:
                queue.extend(driver.stop_news(trade, fills))
            for f in fills:
                trace.fills.append((tick, f))
                queue.append(fill_event(f, driver.coid_of(f)))
            queue.append(trade)
        _drain(driver, queue, trace)
        if driver.unsettled:  # an order's state in doubt: ask before the next trade
            queue.extend(driver.settle())
            _drain(driver, queue, trace)
        now = _state(decision)
        if now != state:
            state = now
            trace.states.append((tick, trade.ts, now[0], now[1]))
        if progress is not None and not tick & _PROGRESS_MASK and tick:
            progress(PROGRESS_EVERY)
    if progress is not None and tick >= 0:
        progress(tick % PROGRESS_EVERY + 1)
    trace.n_ticks = tick + 1
    if trade is not None:
        trace.last_price = trade.price
        trace.last_ts = trade.ts
    return trace, driver


def _drain(driver: LeanDriver, queue: deque[Event], trace: Trace) -> None:
    """Handle queued events in order, each one's outcomes before the next (the engine's
    queue discipline); note every stop the exchange acknowledged."""
    while queue:
        ev = queue.popleft()
        result = driver.process(ev)
        if result.outcomes:
            queue.extendleft(reversed(result.outcomes))
        if type(ev) is OrderAccepted or type(ev) is OrderEdited:
            order = driver.decision.orders.get(ev.client_order_id)
            if order is not None and order.order_type is OrderType.STOP_LIMIT:
                assert order.stop_price is not None
                trace.stops.append(
                    StopPlaced(
                        driver.tick,
                        ev.ts,
                        order.client_order_id,
                        order.stop_price,
                        order.limit_price,
                        order.size,
                    )
                )


def _state(d: DecisionEngine) -> tuple[bool, bool]:
    """(holding, protected): protected = an acknowledged stop rests, not yet triggered."""
    pos = d.position
    if pos is None or pos.open_size <= 0:
        return (False, False)
    stop = d.stop
    protected = (
        stop is not None
        and stop.status is OrderStatus.OPEN
        and not stop.triggered
        and stop.side is OrderSide.SELL
    )
    return (True, protected)
