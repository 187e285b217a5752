"""The backtest path: the live engine's rules and paper exchange, minus the journal.

`ExecutionEngine` writes every decision to SQLite (and the paper exchange can write every
mutation to JSON lines) because a live run must survive a crash. A backtest can simply
be run again, so this driver keeps what decides (the `DecisionEngine`, the
`PaperExchange`, and the pair driver's code that performs commands and reads the
exchange's answers) and drops what only makes it durable: no store, no journal, no JSON
per event. `run_events` takes every trade of a stream, one at a time; `run_arrays`
takes a product's trades as integer arrays and hands over in bulk the ones the rules
would ignore (see its docstring).

`run_chunks` also follows a run of new highs that only ratchets a resting stop in one
step (`RatchetRuns`): the engine handles the run's last moving high, the moves before it
are recorded as the edits the exchange would have acknowledged.

Both share one step (`Steps`), `ExecutionEngine.run`'s, step for step: each trade
first moves the paper market (`advance`), then the events it caused are handled in the
engine's order (the stop's news when the trade reached the stop, then the fills, then
the trade), and the outcome of every command is handled before the next event, as the
engine's queue does. Commands are performed by the same `PairDriver.perform` as live
trading, so every command type the core has (and any it grows) is performed the same way.
tests/backtest/test_equivalence.py holds the two paths to identical trades, stops and P&L.

Bars (`bars=True`: four trades a bar, `tradekit.data.candles`' waypoints open, nearer
extreme, other extreme, close) are a continuous path: inside a bar the market passes
every price between two waypoints, so before a waypoint's trade `BarPath.cross` feeds
a trade at each resting order's price the leg passes (the paper book's `quiet_band`
edges: a stop's trigger on the way down, a resting sell's limit on the way up), and
after any trade `BarPath.settle` feeds the same price again while an order rests that
a trade there would fill (one just placed at the market fills at the market, never at
the next waypoint). Between bars there is no such path: the next bar's open is a jump,
so a stop it gaps through stays a gap-through. Those added trades carry the time of the
waypoint their leg leads to and count as that waypoint's tick.
"""

from __future__ import annotations

import itertools
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradekit.backtest.result import StopLog
from tradekit.core.commands import Command
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import Event, MarketTrade, OrderAccepted, OrderEdited, OrderRejected
from tradekit.core.money import MONEY_CONTEXT
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.core.reports import EntryEnded, EntryPlaced, Report, StopMoved
from tradekit.data.frames import price_steps
from tradekit.engine.execution import PairDriver
from tradekit.exchange.types import Fill

PROGRESS_EVERY = 1 << 16  # ticks between progress-bar updates
_PROGRESS_MASK = PROGRESS_EVERY - 1


@dataclass
class Trace:
    """What a run leaves behind, for `BacktestResult` (everything exact but the
    per-tick price samples, which only draw the equity curve)."""

    reports: list[tuple[int, Report]] = field(default_factory=list)
    fills: list[tuple[int, Fill]] = field(default_factory=list)
    stops: StopLog = field(default_factory=StopLog)  # integer columns, not objects
    commands: int = 0
    # (tick, ts, holding, protected) each time either changes
    states: list[tuple[int, int, bool, bool]] = field(default_factory=list)
    prices: Any = field(default_factory=lambda: array("d"))  # float64 (array or ndarray)
    times: Any = field(default_factory=lambda: array("q"))  # int64 ns
    n_ticks: int = 0
    handled: int = 0  # trades that went through the rules one by one (the rest: in bulk)
    followed: int = 0  # stop moves a ratchet run recorded (`RatchetRuns`), not handled
    refused: dict[str, int] = field(default_factory=dict)  # entries the exchange refused
    stop_moves: int = 0  # StopMoved reports of a stop that replaced another (not kept:
    # `stops` holds every stop the exchange acknowledged)
    last_price: Decimal | None = None
    first_ts: int = 0
    last_ts: int = 0


class LeanDriver(PairDriver):
    """The pair driver with its journal taken out (store None): it records instead."""

    def __init__(self, decision: DecisionEngine, exchange: Any, trace: Trace) -> None:
        super().__init__(decision, exchange, None)  # type: ignore[arg-type]
        self.trace = trace
        self.tick = 0
        # told every report, as the live portfolio tells its risk limits
        self.observers: list[Callable[[Report], None]] = []

    def journal(self, ev: Event | None, commands: list[Command], reports: list[Report]) -> None:
        self.trace.commands += len(commands)
        if reports:
            for observe in self.observers:
                for r in reports:
                    observe(r)
            if type(ev) is OrderRejected:
                reports = self._refused(ev, reports)
            trace = self.trace
            kept = [r for r in reports if type(r) is not StopMoved]
            if len(kept) < len(reports):
                moved = (r for r in reports if type(r) is StopMoved)
                trace.stop_moves += sum(1 for r in moved if r.old_trigger is not None)
            tick = self.tick
            trace.reports += [(tick, r) for r in kept]

    def _refused(self, ev: OrderRejected, reports: list[Report]) -> list[Report]:
        """An entry the exchange refused (funds, mostly: an account that ran dry is
        refused on every trade) is counted in `trace.refused`, by reason, instead of
        kept as its two reports (EntryPlaced, EntryEnded REJECTED): a long run with an
        empty account would otherwise keep two reports a trade."""
        ended = [
            r
            for r in reports
            if type(r) is EntryEnded
            and r.client_order_id == ev.client_order_id
            and r.status == "REJECTED"
        ]
        if not ended:
            return reports
        kept = self.trace.reports
        for k in range(len(kept) - 1, max(len(kept) - 8, -1), -1):
            placed = kept[k][1]
            if type(placed) is EntryPlaced and placed.client_order_id == ev.client_order_id:
                del kept[k]
                break
        return [r for r in reports if r not in ended]

    def _moved_in_place(self, cmd: Any, ts: int) -> None:
        pass  # measured in market time instead

    def _gap_closed(self, stop: Any, ts: int) -> None:
        self._gaps.pop(stop.client_order_id, None)  # measured in market time instead


class Steps:
    """One trade's full handling, shared by both loops: the market first (`advance`),
    then the engine's events in its order (the stop's news when the trade reached the
    stop, then the fills, then the trade), each command's outcome before the next event."""

    def __init__(self, decision: DecisionEngine, exchange: Any, trace: Trace) -> None:
        self.driver = LeanDriver(decision, exchange, trace)
        self.decision = self.driver.decision
        self.exchange = exchange
        self.trace = trace
        self.queue: deque[Event] = deque()
        self.state = (False, False)

    def trade(self, tick: int, trade: Any) -> None:
        """One trade, the hot path included."""
        fills = self.exchange.advance(trade)
        stop = self.decision.stop
        if not fills and (stop is None or stop.stop_price is None or trade.price > stop.stop_price):
            commands = self.decision.handle(trade)
            if commands or self.decision.has_reports:
                self.act(tick, trade, fills, commands)
        else:
            self.act(tick, trade, fills, None)

    def act(self, tick: int, trade: Any, fills: list[Fill], commands: list[Command] | None) -> None:
        """The rest of a trade that did something: `commands` when the engine has handled
        it (nothing filled, the stop not reached), None when its fills come first."""
        driver, queue, trace = self.driver, self.queue, self.trace
        driver.tick = tick
        if commands is not None:
            queue.extendleft(reversed(driver.after_handle(trade, commands).outcomes))
        else:
            trace.fills += [(tick, f) for f in fills]
            queue.extend(driver.trade_events(trade, fills))
        _drain(driver, queue, trace)
        if driver.unsettled:  # an order's state in doubt: ask before the next trade
            queue.extend(driver.settle())
            _drain(driver, queue, trace)
        now = _state(self.decision)
        if now != self.state:
            self.state = now
            trace.states.append((tick, trade.ts, now[0], now[1]))


_SETTLE_LIMIT = 8  # same-price trades fed after one trade (each fills what rests there)
_CROSS_LIMIT = 64  # resting prices one leg of a bar may pass (each is a fill or trigger)


class BarPath:
    """Bars as a continuous path (module docstring): the trades a leg between two
    waypoints adds, and the market staying at a price while an order rests there."""

    def __init__(self, steps: Steps, product_id: str) -> None:
        self.steps = steps
        self.exchange = steps.exchange
        self.product_id = product_id
        self.added = 0

    def cross(self, tick: int, start: Decimal, target: MarketTrade) -> None:
        """The leg from `start` to `target`'s price: a trade at every resting price it
        passes strictly between the two, in path order (the waypoint's own trade is the
        caller's)."""
        end = target.price
        at = start
        for _ in range(_CROSS_LIMIT):
            lo, hi = self.exchange.quiet_band(self.product_id)
            if end < at and end < lo < at:
                at = lo
            elif end > at and at < hi < end:
                at = hi
            else:
                return
            trade = MarketTrade(self.product_id, at, ONE, target.ts)
            self.steps.trade(tick, trade)
            self.added += 1
            self.settle(tick, trade)

    def settle(self, tick: int, trade: MarketTrade) -> None:
        """The market is still at `trade`'s price: again while something rests there."""
        price = trade.price
        for _ in range(_SETTLE_LIMIT):
            lo, hi = self.exchange.quiet_band(self.product_id)
            if lo < price < hi:
                return
            self.steps.trade(tick, trade)
            self.added += 1


class RatchetRuns:
    """Runs of new highs that only ratchet a resting stop, followed in one step.

    While the engine says so (`DecisionEngine.ratchet_band`), a trade above the
    position's high does one thing: the ratchet raises the stop's trigger
    (`PositionState.ratchet`) and protection moves the stop by an edit the paper
    exchange takes (same order, same size, a trigger under the trade that made the
    high). `ratchet_run` follows such a run with the ratchet's integer arithmetic (the
    fast path's: floor(high x keep) on the price grid, moving by more than
    `min_ratchet`) up to the first trade it cannot take; the engine is then handed the
    run's last moving high as a trade like any other, and the moves before it are
    recorded as the edits the exchange would have acknowledged (the stop history, the
    move and command counts). The trades in between are quiet and handed over in bulk.
    One handled trade per run instead of one per new high; `check` holds the engine's
    own stop to the run's last level, and tests/backtest/test_runner.py holds the whole
    run equal to `run_events` (every trade handled), stop for stop.
    """

    def __init__(self, steps: Steps, product_id: str, q: Decimal) -> None:
        from tradekit.backtest.fast import trail_ratios

        self.steps = steps
        self.product_id = product_id
        self.q = q
        ratios = trail_ratios(steps.decision.params.trail)
        self.kn, self.kd, self.ln, self.ld, self.mn, self.md = ratios
        self.scale = max(self.kn, self.kd, self.ln, self.ld, self.mn + self.md)
        self.fits = False  # the chunk's prices x the ratios stay inside int64
        self.expect: tuple[int, Decimal] | None = None  # (tick, trigger) the engine must set

    def chunk(self, prices: Any) -> None:
        self.fits = len(prices) > 0 and int(prices.max()) * self.scale < _INT_LIMIT

    def follow(self, prices: Any, times: Any, i: int, offset: int) -> int | None:
        """The next trade to hand the engine (the moves before it recorded), or None
        when no run starts here (the caller looks for the next loud trade instead)."""
        import numpy as np

        steps = self.steps
        decision = steps.decision
        band = decision.ratchet_band() if self.fits else None
        if band is None:
            return None
        pos, stop = decision.position, decision.stop
        assert pos is not None and stop is not None and stop.stop_price is not None
        lo_x, hi_x = steps.exchange.quiet_band(self.product_id)
        if lo_x != stop.stop_price:
            return None  # something else rests on the book
        high = price_steps(pos.highest, self.q)  # a trade's price, on the grid
        trigger = price_steps(stop.stop_price, self.q)  # rounded to it by the core
        low, top = band
        lo, hi, _ = band_in_steps((low, hi_x if top is None else min(top, hi_x), None), self.q)
        ratios = (self.kn, self.kd, self.mn, self.md)
        k, moves = ratchet_run(prices, i, lo, hi, high, trigger, ratios, np)
        if not len(moves):
            return k
        levels = prices[moves] * self.kn // self.kd
        self._record(times, offset, stop, moves[:-1], levels[:-1])
        last = int(moves[-1])
        self.expect = (offset + last, self._price(int(levels[-1])))
        return last

    def check(self, tick: int) -> None:
        """After the engine handled a run's last high: its stop is where the run said."""
        expect = self.expect
        if expect is None or expect[0] != tick:
            return
        self.expect = None
        pos = self.steps.decision.position
        got = None if pos is None else pos.stop_trigger
        if got != expect[1]:
            raise RuntimeError(
                f"the ratchet run and the engine disagree at trade {tick}: "
                f"the run's stop {expect[1]}, the engine's {got}"
            )

    def _record(self, times: Any, offset: int, stop: Any, at: Any, levels: Any) -> None:
        """The run's moves before its last: each an edit the exchange acknowledged."""
        trace = self.steps.trace
        count = len(at)
        limits = levels * self.ln // self.ld
        trace.stops.extend(at + offset, times[at], levels, limits, stop.size, self.q)
        trace.stop_moves += count
        trace.commands += count
        trace.followed += count

    def _price(self, steps: int) -> Decimal:
        return MONEY_CONTEXT.multiply(Decimal(steps), self.q)


def ratchet_run(
    P: Any, i: int, lo: int, hi: int, high: int, trigger: int, ratios: tuple[int, ...], np: Any
) -> tuple[int, Any]:
    """A ratchet run from trade `i` (`RatchetRuns`), in price steps: (k, moves), k the
    first trade the run cannot take (one at or under the stop's trigger as the moves
    before it left it, at or under `lo`, at or over `hi`, or a new high the stop would
    not follow; len(P) when the data ends first), `moves` the trades before k that made
    a new high (each moved the stop to floor(high x kn / kd)).

    Every new high inside a run moves the stop (one that would not ends it), so the
    trigger before a trade is the ratchet's level at the running maximum, or `trigger`
    before the run's first high: NumPy finds k in growing windows."""
    kn, kd, mn, md = ratios
    n = len(P)
    found = []
    at, width, first = i, 256, n
    while at < n:
        end = min(at + width, n)
        seg = P[at:end]
        top = np.maximum(np.maximum.accumulate(seg), high)
        before = np.empty_like(top)  # the running maximum before each trade
        before[0] = high
        before[1:] = top[:-1]
        new = seg > before
        armed = np.where(before > high, before * kn // kd, trigger)  # the trigger before
        loud = (seg <= lo) | (seg <= armed) | (seg >= hi)
        loud |= new & ((seg * kn // kd) * md <= armed * (md + mn))
        k = int(loud.argmax())
        stop = k if loud[k] else len(seg)
        highs = np.flatnonzero(new[:stop])
        if len(highs):
            found.append(highs + at)
            high = int(seg[highs[-1]])
            trigger = high * kn // kd
        if loud[k]:
            first = at + k
            break
        at, width = end, min(width * 4, 1 << 16)
    moves = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    return first, moves


def apply_control(steps: Steps, ev: Event) -> None:
    """An event from outside the market (a control: pause, the kill switch), handled
    with its outcomes as the engine's queue would."""
    steps.queue.append(ev)
    _drain(steps.driver, steps.queue, steps.trace)


def run_events(
    decision: DecisionEngine,
    exchange: Any,
    ticks: Any,
    *,
    sample: bool = True,
    progress: Callable[[int], None] | None = None,
    bars: bool = False,
) -> tuple[Trace, LeanDriver]:
    """Run every trade of `ticks` (an iterable of MarketTrade) through the decision
    engine and the paper exchange, one at a time; returns the trace and the driver (its
    decision engine holds the final state). `run_arrays` is the same, faster. `bars`:
    the trades are bars' waypoints, four a bar (see the module docstring)."""
    trace = Trace()
    steps = Steps(decision, exchange, trace)
    step = steps.trade
    prices_append = trace.prices.append
    times_append = trace.times.append
    tick = -1
    ticks = iter(ticks)
    first = next(ticks, None)
    if first is None:
        return trace, steps.driver
    trace.first_ts = first.ts
    trade = first
    path = BarPath(steps, first.product_id) if bars else None
    previous = first.price
    for tick, trade in enumerate(itertools.chain((first,), ticks)):
        if sample:
            prices_append(float(trade.price))
            times_append(trade.ts)
        if path is None:
            step(tick, trade)
        else:
            if tick & 3:
                path.cross(tick, previous, trade)
            step(tick, trade)
            path.settle(tick, trade)
            previous = trade.price
        if progress is not None and not tick & _PROGRESS_MASK and tick:
            progress(PROGRESS_EVERY)
    if progress is not None and tick >= 0:
        progress(tick % PROGRESS_EVERY + 1)
    trace.n_ticks = trace.handled = tick + 1
    if path is not None:
        trace.handled += path.added
    trace.last_price = trade.price
    trace.last_ts = trade.ts
    return trace, steps.driver


def run_arrays(
    decision: DecisionEngine,
    exchange: Any,
    product_id: str,
    prices: Any,
    times: Any,
    quote_increment: Decimal,
    *,
    sample: bool = True,
    progress: Callable[[int], None] | None = None,
    bars: bool = False,
) -> tuple[Trace, LeanDriver]:
    """`run_events` over a product's trades given as arrays (`prices` in whole quote
    increments, `times` in ns, int64), with the same result, trade for trade; `sample`
    keeps every trade's price and time for the equity curve. `run_chunks` with one
    chunk (see there)."""
    trace, driver = run_chunks(
        decision,
        exchange,
        product_id,
        [(prices, times)],
        quote_increment,
        progress=progress,
        bars=bars,
    )
    if sample and len(prices):
        trace.prices = as_floats(prices, quote_increment)
        trace.times = times
    return trace, driver


def run_chunks(
    decision: DecisionEngine,
    exchange: Any,
    product_id: str,
    chunks: Iterable[tuple[Any, Any]],
    quote_increment: Decimal,
    *,
    progress: Callable[[int], None] | None = None,
    bars: bool = False,
    after_chunk: Callable[[int, Any, Any, Trace], None] | None = None,
) -> tuple[Trace, LeanDriver]:
    """`run_events` over a product's trades given as arrays, chunk after chunk (each
    `(prices, times)`: prices in whole quote increments, times in ns, int64), so that a
    long source needs the memory of one chunk; `after_chunk(offset, prices, times,
    trace)` is called once a chunk is done (the trace's fills up to it are final). On bars a
    chunk holds whole bars.

    Most trades change nothing: a stop rests under the market, the price is below its
    high. The engine and the paper market each say which prices they would ignore
    (`DecisionEngine.quiet_band`, `PaperExchange.quiet_band`); NumPy finds the next
    trade outside both bands, and the trades before it are handed over in bulk
    (`skipped`: the last price, time and count, all they would have changed). Only the
    trades that can matter become `MarketTrade`s and go through the rules. The bands
    are conservative, so a trade in doubt is always handled in full; tests hold this
    path equal to `run_events` on every kind of path and setting. The trades' sizes are
    not used: the paper market fills whole orders ("full" fill model).
    """
    import numpy as np

    trace = Trace()
    steps = Steps(decision, exchange, trace)
    runs = RatchetRuns(steps, product_id, quote_increment)
    decision = steps.decision
    q = quote_increment
    path = BarPath(steps, product_id) if bars else None
    offset = 0
    previous: int | None = None  # the last price of the chunk before (steps)
    last: MarketTrade | None = None
    for prices, times in chunks:
        n = len(prices)
        if n == 0:
            continue

        def make(i: int, prices: Any = prices, times: Any = times) -> MarketTrade:
            price = MONEY_CONTEXT.multiply(Decimal(int(prices[i])), q)
            return MarketTrade(product_id, price, ONE, int(times[i]))

        if offset == 0:
            trace.first_ts = int(times[0])
        reported = 0
        runs.chunk(prices)
        i = 0
        while i < n:
            band = None if steps.driver.unsettled else quiet_band_of(decision, exchange, product_id)
            if band is None:
                j = i
            else:
                run_end = runs.follow(prices, times, i, offset)
                if run_end is None:
                    j = _next_loud(prices, times, i, *band_in_steps(band, q), np)
                else:
                    j = run_end
            if j > i:
                skipped_last = make(j - 1)
                decision.skipped(j - i, skipped_last)
                exchange.skipped(j - i, skipped_last)
            if j < n:
                tick = offset + j
                trade = make(j)
                if path is None:
                    steps.trade(tick, trade)
                else:
                    if tick & 3:
                        before = int(prices[j - 1]) if j else previous
                        assert before is not None
                        start = MONEY_CONTEXT.multiply(Decimal(before), q)
                        path.cross(tick, start, trade)
                    steps.trade(tick, trade)
                    path.settle(tick, trade)
                trace.handled += 1
                runs.check(tick)
            i = j + 1
            if progress is not None and i - reported >= PROGRESS_EVERY:
                progress(min(i, n) - reported)
                reported = min(i, n)
        if progress is not None and n > reported:
            progress(n - reported)
        last = make(n - 1)
        previous = int(prices[n - 1])
        if after_chunk is not None:
            after_chunk(offset, prices, times, trace)
        offset += n
    trace.n_ticks = offset
    if path is not None:
        trace.handled += path.added
    if last is not None:
        trace.last_price = last.price
        trace.last_ts = last.ts
    return trace, steps.driver


ONE = Decimal(1)


def as_floats(prices: Any, q: Decimal) -> Any:
    """The prices as floats, each the nearest float to its exact Decimal (as `float()`
    of the trade's price gives) when the grid is 1/k: one division, correctly rounded."""
    per_unit = 1 / q
    if per_unit == per_unit.to_integral_value():
        return prices / float(per_unit)
    return prices * float(q)


_NO_BOUND = 1 << 62  # beyond any price in steps, within int64
_INT_LIMIT = 1 << 62  # prices x ratios must stay under this (int64 arithmetic)


def quiet_band_of(
    decision: DecisionEngine, exchange: Any, product_id: str
) -> tuple[Decimal, Decimal | None, int | None] | None:
    """The prices (strictly between low and high) and times (before `until`) that
    neither the engine nor the paper market would act on; None: the next trade may."""
    band = decision.quiet_band()
    if band is None:
        return None
    low, high, until = band
    lo, hi = exchange.quiet_band(product_id)
    stop = decision.stop  # the driver asks the exchange about a stop the market reached
    if stop is not None and stop.stop_price is not None and stop.stop_price > lo:
        lo = stop.stop_price
    low = max(low, lo)
    high = hi if high is None else min(high, hi)
    return low, high, until


def band_in_steps(
    band: tuple[Decimal, Decimal | None, int | None], q: Decimal
) -> tuple[int, int, int | None]:
    """The band in whole quote increments: a trade at p steps is loud when p <= lo or
    p >= hi (exact: for low >= 0, p * q > low  <=>  p > floor(low / q))."""
    low, high, until = band
    ctx = MONEY_CONTEXT
    if low.is_infinite():
        lo = -_NO_BOUND
    else:
        steps, rest = ctx.divmod(low, q)  # truncated towards zero: floor below zero - 1
        lo = max(int(steps) - (1 if rest < 0 else 0), -_NO_BOUND)
    if high is None or high.is_infinite():
        hi = _NO_BOUND
    else:
        steps, rest = ctx.divmod(high, q)  # ceiling: one more when above zero and not exact
        hi = min(int(steps) + (1 if rest > 0 else 0), _NO_BOUND)
    return lo, hi, until


_PEEK = 8  # trades looked at one by one before NumPy is asked (a new high often follows one)


def _next_loud(
    prices: Any, times: Any, i: int, lo: int, hi: int, until: int | None, np: Any
) -> int:
    """The index of the first trade from `i` on that is outside the band (len: none)."""
    n = len(prices)
    at = min(i + _PEEK, n)
    if until is None:
        for k, p in enumerate(prices[i:at].tolist()):
            if p <= lo or p >= hi:
                return i + k
    else:
        near = zip(prices[i:at].tolist(), times[i:at].tolist(), strict=True)
        for k, (p, t) in enumerate(near):
            if p <= lo or p >= hi or t >= until:
                return i + k
    width = 256  # a long quiet run is searched in growing spans
    while at < n:
        end = min(at + width, n)
        seg = prices[at:end]
        loud = (seg <= lo) | (seg >= hi)
        if until is not None:
            loud |= times[at:end] >= until
        k = int(loud.argmax())
        if loud[k]:
            return at + k
        at, width = end, min(width * 4, 1 << 16)
    return n


def _drain(driver: LeanDriver, queue: deque[Event], trace: Trace) -> None:
    """Handle queued events in order, each one's outcomes before the next (the engine's
    queue discipline); note every stop the exchange acknowledged."""
    while queue:
        ev = queue.popleft()
        if type(ev) is OrderRejected:
            order = driver.decision.orders.get(ev.client_order_id)
            if order is not None and order.side is OrderSide.BUY:
                trace.refused[ev.reason] = trace.refused.get(ev.reason, 0) + 1
        result = driver.process(ev)
        if result.outcomes:
            queue.extendleft(reversed(result.outcomes))
        if type(ev) is OrderAccepted or type(ev) is OrderEdited:
            order = driver.decision.orders.get(ev.client_order_id)
            if order is not None and order.order_type is OrderType.STOP_LIMIT:
                trace.stops.add(driver.tick, ev.ts, order, driver.decision.product.quote_increment)


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
