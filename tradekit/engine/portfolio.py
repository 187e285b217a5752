"""The async engine: many pairs on one event loop, one feed, one store, shared risk.

    portfolio = Portfolio(decisions, exchange, store, feed, risk)
    handle = portfolio.start()   # in a notebook cell: schedules itself on the kernel's loop
    ...                          # other cells keep running
    await handle.stop()          # no task left, the store closed, stops left in place

or `await portfolio.run()` in a script. It holds no trading rule: each pair's core
decides and its `AsyncPairDriver` (the same code the sync engine runs, generated there)
journals and performs; this class routes events to pairs, keeps the portfolio's risk
limits in front of every entry, and runs the feed, the REST polling fallback and the
controls (pause, resume, kill switch).

**Pairs are independent.** The feed is read by its own task into a bounded inbox; a
router takes each event from it and hands it to its pair's *lane*: a worker task per
pair with its own queue, which handles that pair's events (trades, fills and order
reports, timers, polls, controls first) one at a time, in arrival order. A pair whose
REST call is retrying (the adapter backs off on 429, 5xx, timeouts) holds up only its own
lane: the feed keeps being read, the other pairs keep deciding on current prices, and
the slow pair, when it answers again, decides once, on the newest price it has: the
trades of its backlog that a newer one follows, or that are older than `stale_after_s`,
are only observed (the highs and the last price learnt, nothing decided on them).
Recovery is each lane's first job, so a pair the exchange cannot answer for does not
hold up the others' start either. A control (pause, resume, one per pair for the kill
switch) goes ahead of the events queued in its pair's lane: a pair whose call hangs
handles it when that call returns, the others at once. A lane's queue is unbounded: its
backlog is what the feed sends for that pair while one of its calls lasts (bounded by
the adapter's retries and timeouts), and is worked off fast (old trades are only
observed). Open orders are also looked up over REST every `poll_after_s` (a poll queued
in every lane), whatever the user channel says: the safety net for a silent channel or a
fill missed while a socket was down; degraded pairs are retried from the same poll once
their back-off is over.

What is shared stays correct without locks, because the core is synchronous: a pair's
`DecisionEngine.handle` checks the portfolio's risk limits (`PortfolioRisk.check`, which
reads the other pairs' entries and positions) and reserves its entry in the same
synchronous step, before any await, so two pairs can never both pass a check that only
one of them fits. Store writes are direct SQLite commits from the loop thread (WAL,
synchronous=NORMAL: about 0.05-0.1 ms each, and only for events that change something),
one transaction per step, so steps of different pairs interleave only between commits.

**A simulated market runs in order.** With an in-process market (an exchange with
`advance`, e.g. `AsyncExchange(PaperExchange)`), every trade matches the book first,
exactly as the sync engine does (stop news first, then the trade's fills, then the
trade), and nothing there ever waits on a network: so the router runs each lane's work
itself, to the end, before it takes the next event (`_run_lane`), and the journal is
deterministic, record for record the sync engine's. That is the only difference between
the two cases; the lanes, their handling and their order are the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradekit.core.decision import DecisionEngine
from tradekit.core.events import (
    Event,
    MarketTrade,
    OrderEventBase,
    OrderStatusReport,
    Timer,
    TradingState,
    TradingStateChanged,
)
from tradekit.core.orders import Order
from tradekit.core.risk import PortfolioRisk, RiskLimits
from tradekit.engine._async.driver import AsyncPairDriver, StepResult, fill_event
from tradekit.engine.freshness import TradeAges
from tradekit.engine.health import ExchangeHalted, HealthBook, PairHealth
from tradekit.engine.lanes import (
    Control,
    InboxItem,
    Job,
    Lane,
    LaneItem,
    Signal,
    is_trade,
    quiet,
)
from tradekit.engine.status import left_in_place, pair_status, resting_orders
from tradekit.exchange._async.protocols import AsyncExchangeApi, AsyncSimulatedMarket
from tradekit.exchange.types import TRANSIENT, ExchangeError
from tradekit.store.sqlite import Store

__all__ = [
    "ExchangeHalted",
    "PairHealth",
    "Portfolio",
    "PortfolioHandle",
    "PortfolioStats",
]

LIVE_CLOCK_NS = 120 * 10**9  # market time this close to the wall clock counts as live
FAIR_BATCH = 64  # events handled between two yields to the event loop during a burst
INBOX_SIZE = 1024  # feed events waiting at most (the reader waits beyond: back-pressure)


@dataclass
class PortfolioStats:
    messages: int = 0  # events taken from the feed
    commands: int = 0
    polls: int = 0  # REST lookups made because the user channel was silent
    unrouted: int = 0  # order events for no pair of ours
    deferred: int = 0  # trades seen too late to decide on (older than stale_after_s)
    superseded: int = 0  # trades only observed: a newer one of the pair was waiting
    # trades neither decided on nor observed: older than max_trade_age when received, or
    # older than the newest trade of their pair already seen (this run or the last)
    too_old: int = 0
    # a feed event's receipt to the end of the commands it caused (REST calls included)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    # ... to the moment its pair decided on it (how old the price was), same events
    decision_waits_ms: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


@runtime_checkable
class _Closable(Protocol):
    """A feed that can be closed (an async generator, the Coinbase feed)."""

    async def aclose(self) -> None: ...


class PortfolioHandle:
    """What `Portfolio.start()` returns: stop it, wait for it, see what went wrong."""

    def __init__(self, portfolio: Portfolio, task: asyncio.Task[None]) -> None:
        self.portfolio = portfolio
        self.task = task

    @property
    def running(self) -> bool:
        return not self.task.done()

    @property
    def exception(self) -> BaseException | None:
        """The error that ended the run (also journaled), or None."""
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def stop(self, keep_entries: bool = False) -> None:
        await self.portfolio.stop(keep_entries)

    async def wait(self) -> None:
        """Wait for the run to end (a timeout around this does not cancel the run)."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(self.task)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"PortfolioHandle({len(self.portfolio.drivers)} pairs, {state})"


class Portfolio:
    """Many pairs, one loop. See the module docstring."""

    def __init__(
        self,
        decisions: Iterable[DecisionEngine],
        exchange: AsyncExchangeApi,
        store: Store,
        feed: AsyncIterator[Event] | Callable[[], AsyncIterator[Event]] | None = None,
        *,
        limits: RiskLimits | None = None,
        poll_after_s: float = 5.0,  # REST safety net: open orders are looked up this often
        stale_after_s: float = 2.0,  # a trade that waited longer is seen, not decided on
        max_trade_age_s: float | None = 5.0,  # older when received: not even seen
        close_store: bool = False,
    ) -> None:
        self.exchange = exchange
        self.store = store
        self.risk = PortfolioRisk(limits or RiskLimits())
        self.drivers: dict[str, AsyncPairDriver] = {}
        for d in decisions:
            if d.product_id in self.drivers:
                raise ValueError(f"{d.product_id} is listed twice")
            self.drivers[d.product_id] = AsyncPairDriver(d, exchange, store)
        self._feed = feed
        self._market = exchange if isinstance(exchange, AsyncSimulatedMarket) else None
        # a simulated market is driven in order: see "A simulated market runs in order"
        self._in_order = self._market is not None
        self.poll_after_s = poll_after_s
        self.stale_after_s = stale_after_s
        self.max_trade_age_ns = None if max_trade_age_s is None else int(max_trade_age_s * 1e9)
        self._ages = TradeAges(self.max_trade_age_ns, store)
        self.close_store = close_store
        self.stats = PortfolioStats()
        self._inbox: asyncio.Queue[InboxItem] | None = None
        self._feed_iter: AsyncIterator[Event] | None = None
        self._urgent: deque[Control] = deque()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing = False  # a clean stop is cancelling entries: no trade decided on
        self._last_poll = time.monotonic()
        self._watchers: list[Callable[[str, StepResult], None]] = []
        self._health = HealthBook(list(self.drivers), store)
        self.health: dict[str, PairHealth] = self._health.pairs
        self._behind: set[str] = set()  # pairs that observed trades too late to decide on
        self._lanes: dict[str, Lane] = {pid: Lane(pid) for pid in self.drivers}
        self._failure: BaseException | None = None  # what ended a lane (ends the run)
        self._drained: asyncio.Future[None] | None = None  # the router waits for idle lanes
        self.started = False
        self.finished = False

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> PortfolioHandle:
        """Schedule `run()` on the running loop (a kernel's, in Jupyter) and return."""
        loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue(INBOX_SIZE)  # controls are accepted from now on
        self._task = loop.create_task(self.run(), name="tradekit-portfolio")
        return PortfolioHandle(self, self._task)

    async def stop(self, keep_entries: bool = False, timeout_s: float = 10.0) -> None:
        """End the run cleanly: resting entries cancelled (unless `keep_entries`: then
        `resting()` lists them), the feed closed, no task left, stops left in place."""
        if not keep_entries and self.running:
            await self._cancel_entries(timeout_s)
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _cancel_entries(self, timeout_s: float) -> None:
        """A clean stop leaves no entry buying with nobody watching: every pair with a
        working entry is halted (the core cancels the entry, journaled as any cancel,
        its outcome awaited, a fill meanwhile protected as usual), then given its
        trading state back for the next start. No trade is decided on meanwhile."""
        self._closing = True
        pids = [pid for pid, d in self.drivers.items() if d.decision.entry is not None]
        if not pids:
            return
        before = {pid: self.drivers[pid].decision.trading_state for pid in pids}
        with contextlib.suppress(TimeoutError, RuntimeError):
            halts = [self._control(pid, TradingState.HALTED, "clean stop: entry cancelled")
                     for pid in pids]  # fmt: skip
            await asyncio.wait_for(asyncio.gather(*halts), timeout_s)
            back = [
                self._control(pid, state, "clean stop: trading state kept for the next start")
                for pid, state in before.items()
                if state is not TradingState.HALTED
            ]
            await asyncio.wait_for(asyncio.gather(*back), timeout_s)

    def resting(self) -> list[tuple[str, Order, str]]:
        """What this run has on the exchange (as far as it knows), and why:
        (product_id, order, why) for every order not known to be over."""
        return resting_orders(self.drivers)

    async def run(self) -> None:
        """Recover every pair, then handle the feed until it ends or `stop()`."""
        if self._inbox is None:
            self._inbox = asyncio.Queue(INBOX_SIZE)
        try:
            self._restore()
            for lane in self._lanes.values():
                lane.items.appendleft(Job.RECOVER)
            self.started = True
            await self._consume()
            self.finished = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # surfaced on the handle, and journaled: never lost in a background task (if
            # the store itself is what failed, the note fails too: the error still stands)
            with contextlib.suppress(Exception):
                self.store.note(None, f"portfolio stopped by an error: {exc!r}", _now_ns())
            raise
        finally:
            for queue in (self._urgent, *(lane.urgent for lane in self._lanes.values())):
                while queue:  # controls never handled: their waiters learn it
                    c = queue.popleft()
                    if c.done is not None and not c.done.done():
                        c.done.set_exception(RuntimeError("the portfolio stopped before this"))
            await self._close_feed()
            if self.close_store:
                self.store.close()

    async def recover(self) -> None:
        """Every pair's saved state and open orders reconciled before it trades again. A
        pair the exchange cannot answer for now is degraded and tried again later (its
        market data is not acted on meanwhile); the others start. (`run()` does the same,
        each pair in its own lane.)"""
        self._restore()
        for pid in self.drivers:
            await self._recover_pair(pid)

    def _restore(self) -> None:
        """Every pair's saved decision state, under the portfolio's risk limits."""
        for pid, driver in self.drivers.items():
            driver.restore()
            self.risk.add(driver.decision)
            # across a restart: nothing older than what the last run already knew
            self._ages.seen(pid, driver.decision.last_ts)

    async def _recover_pair(self, pid: str, retry: bool = False) -> None:
        driver = self.drivers[pid]

        async def reconcile() -> None:
            await driver.sync_ids()
            for ev in await driver.recovery_events():
                await self._process(pid, ev)
            await driver.cancel_orphans()
            self.health[pid].recovered = True

        await self._guarded(pid, reconcile, retry)

    # -- exchange trouble ----------------------------------------------------------

    async def _guarded(
        self, pid: str, work: Callable[[], Awaitable[None]], retry: bool = False
    ) -> bool:
        """Run one pair's exchange work. Transient trouble (a reply lost, rate limited,
        the exchange down; or orders left in doubt because it did not answer) degrades
        the pair: stops stay where they are, the error is journaled once per episode,
        and the pair is settled again after a bounded exponential back-off with jitter;
        the first full answer ends the episode. A permanent error ends the run
        (ExchangeHalted, naming what is left in place)."""
        driver = self.drivers[pid]
        try:
            await work()
        except TRANSIENT as exc:
            self._degrade(pid, str(exc)[:200] or type(exc).__name__, retry)
            driver.unsettled = True  # ask about every order in doubt again
            return False
        except ExchangeError as exc:
            raise ExchangeHalted(f"{exc}; {self.left_in_place()}") from exc
        if driver.unsettled:
            self._degrade(pid, "orders in doubt: the exchange did not answer", retry)
            return False
        self._health.answered(pid, driver.decision.last_ts)
        return True

    def degrade(self, product_id: str, reason: str) -> None:
        """Outside news that the exchange is not answering for a pair (the feed's resync
        failed): degraded, tried again (and healed) once its back-off is over."""
        if product_id in self.drivers:
            self._degrade(product_id, reason, retry=False)

    def _degrade(self, pid: str, reason: str, retry: bool) -> None:
        self._health.degrade(pid, reason, retry, self.drivers[pid].decision.last_ts)

    def left_in_place(self) -> str:
        """What a stopped run leaves on the exchange, pair by pair, in one line."""
        return left_in_place(self.drivers)

    @property
    def behind(self) -> frozenset[str]:
        """Pairs that saw trades too late to decide on and have not caught up yet."""
        return frozenset(self._behind)

    async def _catch_up(self, pid: str) -> None:
        """Its backlog is gone: a pair that only observed late trades decides now, on the
        last price it saw (a Timer at its own market time: the stop catches up with the
        highs observed meanwhile)."""
        self._behind.discard(pid)
        ts = self.drivers[pid].decision.last_ts
        await self._guarded(pid, functools.partial(self._process, pid, Timer(ts)))

    async def _retry_degraded(self, pid: str) -> None:
        """A degraded pair whose back-off is over: try again (recovery first)."""
        health = self.health[pid]
        if not (health.degraded or not health.recovered) or time.monotonic() < health.retry_at:
            return
        if not health.recovered:
            await self._recover_pair(pid, retry=True)
            return
        driver = self.drivers[pid]

        async def settle() -> None:
            for ev in await driver.settle():
                await self._process(pid, ev)

        await self._guarded(pid, settle, retry=True)

    # -- controls (journaled as events of each pair) -------------------------------

    # Each control is queued at once and returns a future that is done when the pair
    # has handled it: ignore it, or `await portfolio.pause("SOL-USD")` to wait for that.

    def pause(self, product_id: str) -> asyncio.Future[None]:
        return self._control(product_id, TradingState.PAUSED, "paused")

    def resume(self, product_id: str) -> asyncio.Future[None]:
        return self._control(product_id, TradingState.ACTIVE, "resumed")

    def kill(
        self, reason: str = "kill switch", flatten_offset_pct: Decimal | None = None
    ) -> asyncio.Future[list[None]]:
        """Cancel every working entry and allow no new one. Stops stay in place, unless
        `flatten_offset_pct` is given: then each position is sold with a limit order that
        far below the last price (its stop cancelled first)."""
        self._check_running("kill switch")
        return quiet(
            asyncio.gather(
                *(
                    self._control(pid, TradingState.HALTED, reason, flatten_offset_pct)
                    for pid in self.drivers
                )
            )
        )

    def pause_all(self) -> asyncio.Future[list[None]]:
        self._check_running("pause all")
        return quiet(asyncio.gather(*(self.pause(pid) for pid in self.drivers)))

    def resume_all(self) -> asyncio.Future[list[None]]:
        self._check_running("resume all")
        return quiet(asyncio.gather(*(self.resume(pid) for pid in self.drivers)))

    def _check_running(self, what: str) -> None:
        if self._inbox is None or not self.running:
            why = "was never started" if self._task is None else "has stopped"
            raise RuntimeError(
                f"cannot {what}: the portfolio {why}, so nothing would act on it "
                "(start a new run to trade again)"
            )

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The background run `start()` scheduled (None before; done once it ended)."""
        return self._task

    @property
    def running(self) -> bool:
        """Started and not ended: controls are accepted."""
        return self._task is not None and not self._task.done() and not self._stopping

    def _control(
        self,
        product_id: str,
        state: TradingState,
        reason: str,
        flatten_offset_pct: Decimal | None = None,
    ) -> asyncio.Future[None]:
        if product_id not in self.drivers:
            known = ", ".join(self.drivers)
            raise KeyError(f"no pair {product_id!r} in this portfolio (it has {known})")
        self._check_running(f"{state.value.lower()} {product_id}")
        assert self._inbox is not None
        ev = TradingStateChanged(state, self._control_ts(product_id), reason, flatten_offset_pct)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Controls jump the queue: handled before any feed event still waiting (a kill
        # must not wait behind a backlog); the marker only wakes an idle router.
        quiet(done)
        self._urgent.append(Control(product_id, ev, done))
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(Signal.WAKE)
        return done

    def _control_ts(self, product_id: str) -> int:
        """A control's time, when it is handled: the wall clock on a live market, the
        pair's market time on historical data (a replay), so that a journal does not mix
        the two clocks (before a pair's first trade, only the wall clock is known)."""
        now = _now_ns()
        last = self.drivers[product_id].decision.last_ts
        if last and not 0 <= now - last <= LIVE_CLOCK_NS:
            return last
        return now

    # -- watching ------------------------------------------------------------------

    def watch(self, callback: Callable[[str, StepResult], None]) -> Callable[[], None]:
        """Call `callback(product_id, step)` after every step a pair takes (on the loop;
        each pair's steps in its order, pairs interleaved). It must be quick and must
        not raise (an error is journaled as a note and the callback dropped). Returns a
        function that stops the watching."""
        self._watchers.append(callback)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._watchers.remove(callback)

        return unwatch

    def _tell(self, pid: str, result: StepResult) -> None:
        for callback in list(self._watchers):
            try:
                callback(pid, result)
            except Exception as exc:
                self._watchers.remove(callback)
                with contextlib.suppress(Exception):
                    self.store.note(pid, f"a watcher failed and was dropped: {exc!r}", _now_ns())

    # -- the stream ----------------------------------------------------------------

    async def _consume(self) -> None:
        """The router: feed events and controls, in arrival order, to their pairs' lanes.

        The feed is read by its own task into a bounded inbox (back-pressure on a burst);
        this loop drains it, yields to the event loop every `FAIR_BATCH` events so that
        notebook cells and other tasks keep running during a burst, and queues a poll in
        every lane when `poll_after_s` has passed. It ends when the feed has ended and
        every lane has handled all it was given, or when a lane fails (its error)."""
        inbox = self._inbox
        assert inbox is not None
        lanes = list(self._lanes.values())
        if self._in_order:
            for lane in lanes:  # recovery, pair by pair, before any market data
                await self._drain(lane)
        else:
            for lane in lanes:
                lane.task = asyncio.ensure_future(self._serve(lane))
        feed = self._open_feed()
        reader = asyncio.ensure_future(self._read(feed)) if feed is not None else None
        handled = 0
        try:
            while not self._stopping:
                self._raise_failure()
                while self._urgent:
                    c = self._urgent.popleft()
                    lane = self._lanes[c.product_id]
                    lane.urgent.append(c)
                    await self._run_lane(lane)
                try:
                    item = inbox.get_nowait()
                except asyncio.QueueEmpty:
                    if reader is not None and reader.done():
                        await reader  # ended without room for its end marker
                        await self._lanes_done()
                        return
                    for pid in list(self._behind):  # caught up: decide on what was observed
                        await self._run_lane(self._lanes[pid])
                    if self._urgent or self._failure is not None:
                        continue
                    try:
                        item = await asyncio.wait_for(inbox.get(), self.poll_after_s)
                    except TimeoutError:
                        await self._poll()
                        continue
                if item is Signal.WAKE:
                    continue
                if item is Signal.END:
                    assert reader is not None
                    await reader  # a feed that failed raises here
                    await self._lanes_done()
                    return  # the feed ended and everything it sent is handled
                ev, received = item
                self.stats.messages += 1
                await self._dispatch(ev, None, received)
                handled += 1
                if handled % FAIR_BATCH == 0:
                    await asyncio.sleep(0)
                if time.monotonic() - self._last_poll > self.poll_after_s:
                    await self._poll()
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            for lane in lanes:
                if lane.task is not None and not lane.task.done():
                    lane.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await lane.task

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _lanes_done(self) -> None:
        """Wait until every lane has handled everything queued for it."""
        while True:
            self._raise_failure()
            if self._in_order or all(lane.idle for lane in self._lanes.values()):
                return
            waiter = asyncio.get_running_loop().create_future()
            self._drained = waiter
            try:
                await waiter
            finally:
                self._drained = None

    async def _run_lane(self, lane: Lane) -> None:
        """Have a lane handle what was queued for it: now, to the end, on a simulated
        market (the router waits: the journal's order is the sync engine's); else by
        waking its task (the router goes on at once)."""
        if self._in_order:
            await self._drain(lane)
        else:
            lane.wake()

    async def _route(self, pid: str, item: LaneItem) -> None:
        """Give a lane an item: queued and its task woken; in order (where nothing is
        ever left queued after a step), handled at once."""
        lane = self._lanes[pid]
        if self._in_order:
            await self._handle_item(lane, item)
        else:
            lane.items.append(item)
            lane.wake()

    async def _serve(self, lane: Lane) -> None:
        """A lane's task: handle its items, then wait for more. An error ends the run."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._drain(lane)
                lane.waiter = loop.create_future()
                drained = self._drained
                if drained is not None and not drained.done():
                    drained.set_result(None)  # the router waits for idle lanes
                await lane.waiter
                lane.waiter = None
        except Exception as exc:
            self._failure = exc
            drained = self._drained
            if drained is not None and not drained.done():
                drained.set_result(None)
            if self._inbox is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    self._inbox.put_nowait(Signal.WAKE)

    async def _drain(self, lane: Lane) -> None:
        """Handle a lane's items in order, controls first. When both its queue and the
        feed's inbox are empty, a pair that only observed late trades decides now."""
        pid = lane.pid
        while True:
            if lane.urgent:
                await self._control_now(lane.urgent.popleft())
            elif lane.items:
                await self._handle_item(lane, lane.items.popleft())
            elif pid in self._behind and self._inbox is not None and self._inbox.empty():
                await self._catch_up(pid)
            else:
                return
            lane.handled += 1
            if lane.handled % FAIR_BATCH == 0:
                await asyncio.sleep(0)

    async def _handle_item(self, lane: Lane, item: LaneItem) -> None:
        """One item of a lane: a poll, its recovery, or an event (see `_handle`)."""
        if item is Job.POLL:
            lane.polling = False
            await self._poll_pair(lane.pid)
        elif item is Job.RECOVER:
            await self._recover_pair(lane.pid)
        else:
            ev, received = item
            newer = bool(lane.items) and is_trade(lane.items[0])
            await self._handle(lane.pid, ev, received, newer)

    async def _control_now(self, c: Control) -> None:
        """A control, stamped when handled, on its pair's clock."""
        c.event = dataclasses.replace(c.event, ts=self._control_ts(c.product_id))
        await self._handle(c.product_id, c.event)
        if c.done is not None and not c.done.done():
            c.done.set_result(None)

    async def _read(self, feed: AsyncIterator[Event]) -> None:
        inbox = self._inbox
        assert inbox is not None
        try:
            async for ev in feed:
                await inbox.put((ev, time.perf_counter()))
        finally:
            # wakes the router: the feed ended (or failed: awaiting this task re-raises).
            # Never waits: cancelled with a full inbox, the router sees `done()` instead.
            with contextlib.suppress(asyncio.QueueFull):
                inbox.put_nowait(Signal.END)

    def _open_feed(self) -> AsyncIterator[Event] | None:
        source = self._feed
        if source is None:
            return None
        feed = source if isinstance(source, AsyncIterator) else source()
        self._feed_iter = feed
        return feed

    async def _close_feed(self) -> None:
        it = self._feed_iter
        if isinstance(it, _Closable):
            with contextlib.suppress(Exception):
                await it.aclose()

    async def _dispatch(
        self, ev: Event, product_id: str | None = None, received: float | None = None
    ) -> None:
        """Route one event to its pair's lane (a Timer to every pair's)."""
        if isinstance(ev, MarketTrade):
            if ev.product_id in self._lanes:
                await self._route(ev.product_id, (ev, received))
            return
        if isinstance(ev, Timer):
            for pid in self._lanes:
                await self._route(pid, (ev, received))
            return
        owner = product_id or self._owner(ev)
        if owner is None:
            self.stats.unrouted += 1
            return
        await self._route(owner, (ev, received))

    async def _handle(
        self, pid: str, ev: Event, received: float | None = None, newer: bool = False
    ) -> None:
        """One event of one pair, in its lane. A trade is decided on only if it is
        current: not older than `stale_after_s`, and not `newer` (a later trade of the
        pair is already waiting right behind it, as after a slow REST call: the pair
        decides once, on that one). Otherwise it is observed: the pair learns the price
        and the high, and its stop catches up with them at the next decision (on the
        next trade, or the catch-up once its backlog is gone)."""
        driver = self.drivers[pid]
        if isinstance(ev, MarketTrade):
            if self._market is not None:
                await self._advance(pid, driver, ev)
            elif received is not None and self._too_old(pid, ev, received):
                return
            if self._closing:
                return
            if not self.health[pid].recovered:
                return  # not reconciled yet: its orders' truth comes first
            late = received is not None and time.perf_counter() - received > self.stale_after_s
            if late or newer:
                driver.decision.observe(ev)
                driver.cursor += 1
                if late:
                    self.stats.deferred += 1
                    self._behind.add(pid)
                else:
                    self.stats.superseded += 1
                return
            await self._guarded(pid, functools.partial(self._process, pid, ev, received))
            return
        if isinstance(ev, Timer):
            if self.health[pid].recovered:
                await self._guarded(pid, functools.partial(self._process, pid, ev))
            return

        async def handle() -> None:
            if isinstance(ev, OrderStatusReport):
                for fill in await self._fills_behind(pid, ev):
                    await self._process(pid, fill, received)
            await self._process(pid, ev, received)

        await self._guarded(pid, handle)

    def _too_old(self, pid: str, trade: MarketTrade, received: float) -> bool:
        if self._ages.too_old(pid, trade, received):
            self.stats.too_old += 1
            return True
        return False

    async def _advance(self, pid: str, driver: AsyncPairDriver, trade: MarketTrade) -> None:
        """A simulated market: match this trade first, as the sync engine does."""
        market = self._market
        assert market is not None  # called only on a simulated market
        fills = await market.advance(trade)
        for ev in (await driver.trade_events(trade, fills))[:-1]:  # the trade: the caller's
            await self._process(pid, ev)

    async def _fills_behind(self, pid: str, ev: OrderStatusReport) -> list[Event]:
        """A user-channel report says more was filled: fetch those fills from REST first,
        with their trade ids, so the store books each one (the report then adds nothing;
        if REST cannot answer, the report's cumulative figures still book the position)."""
        driver = self.drivers[pid]
        order = driver.decision.orders.get(ev.client_order_id)
        if ev.filled_size is None or order is None or ev.filled_size <= order.filled_size:
            return []
        order_id = order.order_id or ev.order_id
        if order_id is None:
            return []
        try:
            fills = await self.exchange.list_fills(order_id=order_id)
        except ExchangeError:
            return []
        seen = order.trade_ids
        fresh = sorted(
            (f for f in fills if f.trade_id not in seen), key=lambda f: (f.ts, f.trade_id)
        )
        return [fill_event(f, ev.client_order_id) for f in fresh]

    def _owner(self, ev: Event) -> str | None:
        if not isinstance(ev, OrderEventBase) or not ev.client_order_id:
            return None
        coid = ev.client_order_id
        for pid, driver in self.drivers.items():
            if coid in driver.decision.orders:
                return pid
        for pid, driver in self.drivers.items():  # an order from before a trim
            if coid.startswith(driver.decision.id_prefix + "-"):
                return pid
        return None

    async def _process(self, pid: str, ev: Event, received: float | None = None) -> None:
        """One event and, in order, every outcome it leads to."""
        driver = self.drivers[pid]
        pending: deque[Event] = deque([ev])
        first = True
        settled = False
        deciding = time.perf_counter() if received is not None else 0.0
        while pending:
            result: StepResult = await driver.process(pending.popleft())
            if self._watchers:
                self._tell(pid, result)
            if result.commands:
                self.stats.commands += len(result.commands)
                if first and received is not None:
                    self.stats.latencies_ms.append((time.perf_counter() - received) * 1000)
                    self.stats.decision_waits_ms.append((deciding - received) * 1000)
            first = False
            for report in result.reports:
                self.risk.observe(report)
            pending.extendleft(reversed(result.outcomes))  # depth first, as every loop
            if not pending and driver.unsettled and not settled and not self.health[pid].degraded:
                # an order left in doubt (its outcomes applied first): ask once now; if
                # the exchange still does not answer, the back-off decides when again
                settled = True
                pending.extend(await driver.settle())

    async def _poll(self) -> None:
        """Every `poll_after_s`, a poll in every lane (one at a time per lane)."""
        self._last_poll = time.monotonic()
        for pid, lane in self._lanes.items():
            if not lane.polling:
                lane.polling = True
                await self._route(pid, Job.POLL)

    async def _poll_pair(self, pid: str) -> None:
        """Ask REST about every order the pair still has open: the user channel may be
        silent, or may have missed a fill while reconnecting (an order placed while the
        socket was down is in no resync). A degraded pair whose back-off is over is
        tried again first."""
        await self._retry_degraded(pid)
        health = self.health[pid]
        if not health.recovered or self._health.waiting(pid):
            return
        driver = self.drivers[pid]
        now = _now_ns()

        async def poll() -> None:
            # a quiet live market still lets time pass (entry timeouts); a replay of
            # old data, whose clock is not the wall clock, gets no timer
            last = driver.decision.last_ts
            if last and 0 <= now - last <= LIVE_CLOCK_NS:
                await self._process(pid, Timer(now))
            for order in list(driver.decision.pending_orders()):
                if order.order_id is None:
                    continue
                self.stats.polls += 1
                for ev in await driver.order_news(
                    order.client_order_id, order.order_id, driver.decision.last_ts
                ):
                    if isinstance(ev, OrderStatusReport) and not ev.client_order_id:
                        continue
                    await self._process(pid, ev)

        await self._guarded(pid, poll)

    # -- inspection ----------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        """One row per pair, exact Decimals (see `pair_status`)."""
        return [self.pair_status(pid) for pid in self.drivers]

    def pair_status(self, product_id: str) -> dict[str, object]:
        """What one pair is doing (see `tradekit.engine.status.pair_status`)."""
        driver = self.drivers[product_id]
        return pair_status(driver.decision, self.store, self.health[product_id])


def _now_ns() -> int:
    return time.time_ns()
