"""The async engine: many pairs on one event loop, one feed, one store, shared risk.

    portfolio = Portfolio(decisions, exchange, store, feed, risk)
    handle = portfolio.start()   # in a notebook cell: schedules itself on the kernel's loop
    ...                          # other cells keep running
    await handle.stop()          # no task left, the store closed, stops left in place

or `await portfolio.run()` in a script. It holds no trading rule: each pair's core
decides and its `AsyncPairDriver` (the same code the sync engine runs, generated there)
journals and performs; this class composes the parts that route events to pairs
(`stream.py`: the feed, the lanes of `lanes.py`, the REST polling fallback), take each
pair's steps (`steps.py`: the portfolio's risk limits learn every report, watchers see
every step), reconcile pairs and guard their exchange work (`recovery.py`, with the
health of `health.py`) and take the user's controls (`controls.py`: pause, resume, the
kill switch); it owns the run's life cycle (start, stop, run) and answers for it.

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
itself, to the end, before it takes the next event (see `stream.py`), and the journal is
deterministic, record for record the sync engine's. That is the only difference between
the two cases; the lanes, their handling and their order are the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from decimal import Decimal

from tradekit.core.decision import DecisionEngine
from tradekit.core.events import Event, TradingState
from tradekit.core.orders import Order
from tradekit.core.risk import PortfolioRisk, RiskLimits
from tradekit.engine._async.driver import AsyncPairDriver, StepResult
from tradekit.engine.controls import Controls
from tradekit.engine.freshness import TradeAges
from tradekit.engine.health import ExchangeHalted, HealthBook, PairHealth
from tradekit.engine.lanes import Job, Lane, RunState
from tradekit.engine.recovery import Recovery
from tradekit.engine.stats import PortfolioStats
from tradekit.engine.status import pair_status, resting_orders
from tradekit.engine.steps import Steps
from tradekit.engine.stream import Stream
from tradekit.exchange._async.protocols import AsyncExchangeApi
from tradekit.store.sqlite import Store

__all__ = [
    "ExchangeHalted",
    "PairHealth",
    "Portfolio",
    "PortfolioHandle",
    "PortfolioStats",
]

INBOX_SIZE = 1024  # feed events waiting at most (the reader waits beyond: back-pressure)


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
        self.max_trade_age_ns = None if max_trade_age_s is None else int(max_trade_age_s * 1e9)
        self.close_store = close_store
        self.stats = PortfolioStats()
        self._run = RunState()
        ages = TradeAges(self.max_trade_age_ns, store)
        health = HealthBook(list(self.drivers), store)
        self.health: dict[str, PairHealth] = health.pairs
        self._lanes: dict[str, Lane] = {pid: Lane(pid) for pid in self.drivers}
        self._steps = Steps(self.drivers, self.risk, self.health, self.stats, store)
        self._recovery = Recovery(self.drivers, self.risk, ages, health, self._steps)
        self._controls = Controls(self.drivers, self._run)
        self._stream = Stream(
            feed,
            exchange,
            self.drivers,
            self._lanes,
            self._run,
            controls=self._controls,
            recovery=self._recovery,
            steps=self._steps,
            health=health,
            ages=ages,
            stats=self.stats,
            poll_after_s=poll_after_s,
            stale_after_s=stale_after_s,
        )
        self.started = False
        self.finished = False

    @property
    def poll_after_s(self) -> float:
        """REST safety net: open orders are looked up this often (seconds)."""
        return self._stream.poll_after_s

    @poll_after_s.setter
    def poll_after_s(self, seconds: float) -> None:
        self._stream.poll_after_s = seconds

    @property
    def stale_after_s(self) -> float:
        """A trade that waited longer than this (seconds) is seen, not decided on."""
        return self._stream.stale_after_s

    @stale_after_s.setter
    def stale_after_s(self, seconds: float) -> None:
        self._stream.stale_after_s = seconds

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> PortfolioHandle:
        """Schedule `run()` on the running loop (a kernel's, in Jupyter) and return."""
        loop = asyncio.get_running_loop()
        self._run.inbox = asyncio.Queue(INBOX_SIZE)  # controls are accepted from now on
        task = loop.create_task(self.run(), name="tradekit-portfolio")
        self._run.task = task
        return PortfolioHandle(self, task)

    async def stop(self, keep_entries: bool = False, timeout_s: float = 10.0) -> None:
        """End the run cleanly: resting entries cancelled (unless `keep_entries`: then
        `resting()` lists them), the feed closed, no task left, stops left in place."""
        if not keep_entries and self.running:
            await self._cancel_entries(timeout_s)
        self._run.stopping = True
        task = self._run.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _cancel_entries(self, timeout_s: float) -> None:
        """A clean stop leaves no entry buying with nobody watching: every pair with a
        working entry is halted (the core cancels the entry, journaled as any cancel,
        its outcome awaited, a fill meanwhile protected as usual), then given its
        trading state back for the next start. No trade is decided on meanwhile."""
        self._run.closing = True
        pids = [pid for pid, d in self.drivers.items() if d.decision.entry is not None]
        if not pids:
            return
        before = {pid: self.drivers[pid].decision.trading_state for pid in pids}
        control = self._controls.control
        with contextlib.suppress(TimeoutError, RuntimeError):
            halts = [control(pid, TradingState.HALTED, "clean stop: entry cancelled")
                     for pid in pids]  # fmt: skip
            await asyncio.wait_for(asyncio.gather(*halts), timeout_s)
            back = [
                control(pid, state, "clean stop: trading state kept for the next start")
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
        if self._run.inbox is None:
            self._run.inbox = asyncio.Queue(INBOX_SIZE)
        try:
            self._recovery.restore()
            for lane in self._lanes.values():
                lane.items.appendleft(Job.RECOVER)
            self.started = True
            await self._stream.consume()
            self.finished = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # surfaced on the handle, and journaled: never lost in a background task (if
            # the store itself is what failed, the note fails too: the error still stands)
            with contextlib.suppress(Exception):
                self.store.note(None, f"portfolio stopped by an error: {exc!r}", time.time_ns())
            raise
        finally:
            self._controls.abandon(self._lanes.values())  # their waiters learn it
            await self._stream.close_feed()
            if self.close_store:
                self.store.close()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The background run `start()` scheduled (None before; done once it ended)."""
        return self._run.task

    @property
    def running(self) -> bool:
        """Started and not ended: controls are accepted."""
        return self._run.running

    # -- recovery and exchange trouble (recovery.py) --------------------------------

    async def recover(self) -> None:
        """Every pair's saved state and open orders reconciled before it trades again. A
        pair the exchange cannot answer for now is degraded and tried again later (its
        market data is not acted on meanwhile); the others start. (`run()` does the same,
        each pair in its own lane.)"""
        self._recovery.restore()
        for pid in self.drivers:
            await self._recovery.recover_pair(pid)

    def degrade(self, product_id: str, reason: str) -> None:
        """Outside news that the exchange is not answering for a pair (the feed's resync
        failed): degraded, tried again (and healed) once its back-off is over."""
        if product_id in self.drivers:
            self._recovery.degrade(product_id, reason, retry=False)

    def left_in_place(self) -> str:
        """What a stopped run leaves on the exchange, pair by pair, in one line."""
        return self._recovery.left_in_place()

    @property
    def behind(self) -> frozenset[str]:
        """Pairs that saw trades too late to decide on and have not caught up yet."""
        return frozenset(self._stream.behind)

    # -- controls (controls.py; journaled as events of each pair) -------------------

    # Each control is queued at once and returns a future that is done when the pair
    # has handled it: ignore it, or `await portfolio.pause("SOL-USD")` to wait for that.

    def pause(self, product_id: str) -> asyncio.Future[None]:
        return self._controls.pause(product_id)

    def resume(self, product_id: str) -> asyncio.Future[None]:
        return self._controls.resume(product_id)

    def kill(
        self, reason: str = "kill switch", flatten_offset_pct: Decimal | None = None
    ) -> asyncio.Future[list[None]]:
        """Cancel every working entry and allow no new one. Stops stay in place, unless
        `flatten_offset_pct` is given: then each position is sold with a limit order that
        far below the last price (its stop cancelled first)."""
        return self._controls.kill(reason, flatten_offset_pct)

    def pause_all(self) -> asyncio.Future[list[None]]:
        return self._controls.pause_all()

    def resume_all(self) -> asyncio.Future[list[None]]:
        return self._controls.resume_all()

    # -- watching (steps.py) --------------------------------------------------------

    def watch(self, callback: Callable[[str, StepResult], None]) -> Callable[[], None]:
        """Call `callback(product_id, step)` after every step a pair takes (on the loop;
        each pair's steps in its order, pairs interleaved). It must be quick and must
        not raise (an error is journaled as a note and the callback dropped). Returns a
        function that stops the watching."""
        return self._steps.watch(callback)

    # -- inspection ----------------------------------------------------------------

    def status(self) -> list[dict[str, object]]:
        """One row per pair, exact Decimals (see `pair_status`)."""
        return [self.pair_status(pid) for pid in self.drivers]

    def pair_status(self, product_id: str) -> dict[str, object]:
        """What one pair is doing (see `tradekit.engine.status.pair_status`)."""
        driver = self.drivers[product_id]
        return pair_status(driver.decision, self.store, self.health[product_id])
