"""The stream: the feed read into a bounded inbox, each event routed to its pair's lane,
each lane's items handled in order (controls first), and the REST polls. Apart from
`Portfolio` because it is the one part that decides *when* a pair handles what: which
trades are decided on and which only observed, when a lane yields, and how a simulated
market is run in order (see the docstring of `tradekit.engine.portfolio`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol, runtime_checkable

from tradekit.core.events import Event, MarketTrade, OrderEventBase, OrderStatusReport, Timer
from tradekit.engine._async.driver import AsyncPairDriver, fill_event
from tradekit.engine.controls import Controls
from tradekit.engine.freshness import TradeAges, is_live
from tradekit.engine.health import HealthBook
from tradekit.engine.lanes import Control, Job, Lane, LaneItem, RunState, Signal, is_trade
from tradekit.engine.recovery import Recovery
from tradekit.engine.stats import PortfolioStats
from tradekit.engine.steps import Steps
from tradekit.exchange._async.protocols import AsyncExchangeApi, AsyncSimulatedMarket
from tradekit.exchange.types import ExchangeError

__all__ = ["FAIR_BATCH", "Feed", "Stream"]

FAIR_BATCH = 64  # events handled between two yields to the event loop during a burst

Feed = AsyncIterator[Event] | Callable[[], AsyncIterator[Event]]


@runtime_checkable
class _Closable(Protocol):
    """A feed that can be closed (an async generator, the Coinbase feed)."""

    async def aclose(self) -> None: ...


class Stream:
    """The router and the lanes' work for one portfolio's run."""

    def __init__(
        self,
        feed: Feed | None,
        exchange: AsyncExchangeApi,
        drivers: Mapping[str, AsyncPairDriver],
        lanes: Mapping[str, Lane],
        run: RunState,
        *,
        controls: Controls,
        recovery: Recovery,
        steps: Steps,
        health: HealthBook,
        ages: TradeAges,
        stats: PortfolioStats,
        poll_after_s: float,
        stale_after_s: float,
    ) -> None:
        self._feed = feed
        self.exchange = exchange
        self._market = exchange if isinstance(exchange, AsyncSimulatedMarket) else None
        # a simulated market is driven in order: see "A simulated market runs in order"
        self._in_order = self._market is not None
        self.drivers = drivers
        self.lanes = lanes
        self.run = run
        self.controls = controls
        self.recovery = recovery
        self.steps = steps
        self.health = health
        self.ages = ages
        self.stats = stats
        self.poll_after_s = poll_after_s
        self.stale_after_s = stale_after_s
        self.behind: set[str] = set()  # pairs that observed trades too late to decide on
        self._feed_iter: AsyncIterator[Event] | None = None
        self._last_poll = time.monotonic()
        self._failure: BaseException | None = None  # what ended a lane (ends the run)
        self._drained: asyncio.Future[None] | None = None  # the router waits for idle lanes

    async def consume(self) -> None:
        """The router: feed events and controls, in arrival order, to their pairs' lanes.

        The feed is read by its own task into a bounded inbox (back-pressure on a burst);
        this loop drains it, yields to the event loop every `FAIR_BATCH` events so that
        notebook cells and other tasks keep running during a burst, and queues a poll in
        every lane when `poll_after_s` has passed. It ends when the feed has ended and
        every lane has handled all it was given, or when a lane fails (its error)."""
        inbox = self.run.inbox
        assert inbox is not None
        lanes = list(self.lanes.values())
        if self._in_order:
            for lane in lanes:  # recovery, pair by pair, before any market data
                await self._drain(lane)
        else:
            for lane in lanes:
                lane.task = asyncio.ensure_future(self._serve(lane))
        feed = self._open_feed()
        reader = asyncio.ensure_future(self._read(feed)) if feed is not None else None
        urgent = self.controls.urgent
        handled = 0
        try:
            while not self.run.stopping:
                self._raise_failure()
                while urgent:
                    c = urgent.popleft()
                    lane = self.lanes[c.product_id]
                    lane.urgent.append(c)
                    await self._run_lane(lane)
                try:
                    item = inbox.get_nowait()
                except asyncio.QueueEmpty:
                    if reader is not None and reader.done():
                        await reader  # ended without room for its end marker
                        await self._lanes_done()
                        return
                    for pid in list(self.behind):  # caught up: decide on what was observed
                        await self._run_lane(self.lanes[pid])
                    if urgent or self._failure is not None:
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
                await self.dispatch(ev, None, received)
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
            if self._in_order or all(lane.idle for lane in self.lanes.values()):
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
        lane = self.lanes[pid]
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
            if self.run.inbox is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    self.run.inbox.put_nowait(Signal.WAKE)

    async def _drain(self, lane: Lane) -> None:
        """Handle a lane's items in order, controls first. When both its queue and the
        feed's inbox are empty, a pair that only observed late trades decides now."""
        pid = lane.pid
        run = self.run
        while True:
            if lane.urgent:
                await self._control_now(lane.urgent.popleft())
            elif lane.items:
                await self._handle_item(lane, lane.items.popleft())
            elif pid in self.behind and run.inbox is not None and run.inbox.empty():
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
            await self.recovery.recover_pair(lane.pid)
        else:
            ev, received = item
            newer = bool(lane.items) and is_trade(lane.items[0])
            await self._handle(lane.pid, ev, received, newer)

    async def _control_now(self, c: Control) -> None:
        """A control, stamped when handled, on its pair's clock."""
        c.event = dataclasses.replace(c.event, ts=self.controls.control_ts(c.product_id))
        await self._handle(c.product_id, c.event)
        if c.done is not None and not c.done.done():
            c.done.set_result(None)

    async def _read(self, feed: AsyncIterator[Event]) -> None:
        inbox = self.run.inbox
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

    async def close_feed(self) -> None:
        it = self._feed_iter
        if isinstance(it, _Closable):
            with contextlib.suppress(Exception):
                await it.aclose()

    async def dispatch(
        self, ev: Event, product_id: str | None = None, received: float | None = None
    ) -> None:
        """Route one event to its pair's lane (a Timer to every pair's)."""
        if isinstance(ev, MarketTrade):
            if ev.product_id in self.lanes:
                await self._route(ev.product_id, (ev, received))
            return
        if isinstance(ev, Timer):
            for pid in self.lanes:
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
        process = self.steps.process
        guarded = self.recovery.guarded
        if isinstance(ev, MarketTrade):
            if self._market is not None:
                await self._advance(pid, driver, ev)
            elif received is not None and self._too_old(pid, ev, received):
                return
            if self.run.closing:
                return
            if not self.health.pairs[pid].recovered:
                return  # not reconciled yet: its orders' truth comes first
            late = received is not None and time.perf_counter() - received > self.stale_after_s
            if late or newer:
                driver.decision.observe(ev)
                driver.cursor += 1
                if late:
                    self.stats.deferred += 1
                    self.behind.add(pid)
                else:
                    self.stats.superseded += 1
                return
            await guarded(pid, functools.partial(process, pid, ev, received))
            return
        if isinstance(ev, Timer):
            if self.health.pairs[pid].recovered:
                await guarded(pid, functools.partial(process, pid, ev))
            return

        async def handle() -> None:
            if isinstance(ev, OrderStatusReport):
                for fill in await self._fills_behind(pid, ev):
                    await process(pid, fill, received)
            await process(pid, ev, received)

        await guarded(pid, handle)

    def _too_old(self, pid: str, trade: MarketTrade, received: float) -> bool:
        if self.ages.too_old(pid, trade, received):
            self.stats.too_old += 1
            return True
        return False

    async def _advance(self, pid: str, driver: AsyncPairDriver, trade: MarketTrade) -> None:
        """A simulated market: match this trade first, as the sync engine does."""
        market = self._market
        assert market is not None  # called only on a simulated market
        fills = await market.advance(trade)
        for ev in (await driver.trade_events(trade, fills))[:-1]:  # the trade: the caller's
            await self.steps.process(pid, ev)

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

    async def _catch_up(self, pid: str) -> None:
        """Its backlog is gone: a pair that only observed late trades decides now, on the
        last price it saw (a Timer at its own market time: the stop catches up with the
        highs observed meanwhile)."""
        self.behind.discard(pid)
        ts = self.drivers[pid].decision.last_ts
        await self.recovery.guarded(pid, functools.partial(self.steps.process, pid, Timer(ts)))

    async def _poll(self) -> None:
        """Every `poll_after_s`, a poll in every lane (one at a time per lane)."""
        self._last_poll = time.monotonic()
        for pid, lane in self.lanes.items():
            if not lane.polling:
                lane.polling = True
                await self._route(pid, Job.POLL)

    async def _poll_pair(self, pid: str) -> None:
        """Ask REST about every order the pair still has open: the user channel may be
        silent, or may have missed a fill while reconnecting (an order placed while the
        socket was down is in no resync). A degraded pair whose back-off is over is
        tried again first."""
        await self.recovery.retry_degraded(pid)
        health = self.health.pairs[pid]
        if not health.recovered or self.health.waiting(pid):
            return
        driver = self.drivers[pid]
        now = time.time_ns()
        process = self.steps.process

        async def poll() -> None:
            # a quiet live market still lets time pass (entry timeouts); a replay of
            # old data, whose clock is not the wall clock, gets no timer
            if is_live(driver.decision.last_ts, now):
                await process(pid, Timer(now))
            for order in list(driver.decision.pending_orders()):
                if order.order_id is None:
                    continue
                self.stats.polls += 1
                for ev in await driver.order_news(
                    order.client_order_id, order.order_id, driver.decision.last_ts
                ):
                    if isinstance(ev, OrderStatusReport) and not ev.client_order_id:
                        continue
                    await process(pid, ev)

        await self.recovery.guarded(pid, poll)
