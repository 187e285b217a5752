"""The ExecutionEngine: one pair, one event per `step()`, every change durable.

Written once, async (`AsyncExecutionEngine`); the sync `ExecutionEngine` in
`tradekit/engine/_sync/loop.py` is generated from this file, so the sync and async
engines run the same loop line for line (the parity tests compare their journals).

It holds no trading rule and no exchange I/O of its own: the core decides, and the
pair driver journals and performs. What this class adds is the market loop: it pulls
ticks from a source, advances a simulated market (the paper exchange) tick by tick, and
queues each tick's fills and the commands' outcomes so that `step()` handles exactly one
event.

Market ticks that change nothing (no command, no report) are not written: the state they
touch (the highest price, the entry rule's window) is rebuilt on restart by replaying
ticks from the journaled cursor, which is exact because the core is deterministic.

Recovery (`recover()`, run by `start()` before any new event):
1. restore the decision state and its market cursor from the store;
2. replay the ticks the simulated market saw but the core did not (see below);
3. mark every request that was in flight as unknown, ask the exchange about each open
   order, apply fills and cancels that happened while down, and resend a placement the
   exchange never saw (same client_order_id, so never a second order);
4. cancel orphans: open orders with this engine's id prefix that it does not know;
5. the core then finishes any unfinished cancel/replace and makes sure the position has
   exactly one stop at the right level (its protection is level-triggered).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from tradekit.core.decision import DecisionEngine
from tradekit.core.events import Event, MarketTrade
from tradekit.engine._async.driver import AsyncPairDriver, StepResult
from tradekit.exchange._async.protocols import AsyncExchangeApi, AsyncSimulatedMarket
from tradekit.format import Facts
from tradekit.store.sqlite import Store


class AsyncExecutionEngine:
    """Drives one pair: `step()` one event, `run()` many, state inspectable in between.

    `ticks` is the market: a function giving the trades from a cursor (index) on. With a
    paper exchange the engine advances the exchange's market itself, tick by tick, so a
    run on a seeded path is fully deterministic.
    """

    def __init__(
        self,
        decision: DecisionEngine,
        exchange: AsyncExchangeApi,
        store: Store,
        ticks: Callable[[int], Iterator[MarketTrade]],
    ) -> None:
        self.driver = AsyncPairDriver(decision, exchange, store)
        self.exchange = exchange
        self.store = store
        self.product_id = decision.product_id
        self._ticks_from = ticks
        self._ticks: Iterator[MarketTrade] | None = None
        # an exchange whose market this loop advances (the paper exchange)
        self._market = exchange if isinstance(exchange, AsyncSimulatedMarket) else None
        self._queue: deque[Event] = deque()
        self.started = False
        self.finished = False

    @property
    def decision(self) -> DecisionEngine:
        return self.driver.decision

    @property
    def cursor(self) -> int:
        """Market trades the decision engine has handled."""
        return self.driver.cursor

    @property
    def unprotected_s(self) -> list[float]:
        return self.driver.unprotected_s

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> list[StepResult]:
        """Load saved state and reconcile with the exchange (idempotent)."""
        if self.started:
            return []
        self.started = True
        return await self.recover()

    async def step(self) -> StepResult | None:
        """Process exactly one event; None when the market has no more data."""
        if not self.started:
            await self.start()
        if not self._queue and not await self._pull():
            self.finished = True
            return None
        return await self._process(self._queue.popleft())

    async def run(self, ticks: int | None = None, until_ts: int | None = None) -> int:
        """Process events until `ticks` more market trades, a time, or the end of data.

        Returns the number of market trades handled. The loop is the hot path: a tick
        that fills nothing and changes no decision costs one advance and one handle.
        """
        if not self.started:
            await self.start()
        handled = 0
        driver = self.driver
        while ticks is None or handled < ticks:
            if self._queue:
                ev = self._queue.popleft()
                await self._process(ev)
                if isinstance(ev, MarketTrade):
                    handled += 1
                continue
            if not await self._pull():
                self.finished = True
                break
            ev = self._queue[0]
            if until_ts is not None and ev.ts > until_ts:
                break
            if len(self._queue) == 1 and type(ev) is MarketTrade:
                # fast path: nothing filled; most ticks end here with no command
                self._queue.popleft()
                decision = driver.decision
                commands = decision.handle(ev)
                driver.cursor += 1
                handled += 1
                if commands or decision.has_reports:
                    result = await driver.after_handle(ev, commands)
                    self._queue.extendleft(reversed(result.outcomes))
        # finish what the last trade started (outcomes of its commands), so that the
        # state a caller inspects is settled, not halfway through a cancel/replace
        while self._queue and not isinstance(self._queue[0], MarketTrade):
            await self._process(self._queue.popleft())
        return handled

    # -- internals ---------------------------------------------------------------------

    async def _pull(self) -> bool:
        """Queue the next market tick, with what it caused on a simulated market."""
        driver = self.driver
        if driver.unsettled:
            settled = await driver.settle()
            if settled:
                self._queue.extend(settled)
                return True
        if self._ticks is None:
            self._ticks = self._ticks_from(self.cursor)
        trade = next(self._ticks, None)
        if trade is None:
            return False
        fills = await self._market.advance(trade) if self._market is not None else []
        self._queue.extend(await driver.trade_events(trade, fills))
        return True

    async def _process(self, ev: Event) -> StepResult:
        result = await self.driver.process(ev)
        # outcomes are handled next, before the next market tick, in order
        self._queue.extendleft(reversed(result.outcomes))
        return result

    async def _drain(self, results: list[StepResult]) -> None:
        while self._queue and not isinstance(self._queue[0], MarketTrade):
            results.append(await self._process(self._queue.popleft()))

    # -- recovery ----------------------------------------------------------------------

    async def recover(self) -> list[StepResult]:
        """Bring the saved state and the exchange's truth together (see module doc)."""
        results: list[StepResult] = []
        if not self.driver.restore():
            return results
        await self.driver.sync_ids()
        cursor = self.cursor
        self._ticks = self._ticks_from(cursor)
        market_seq = self._market.market_seq if self._market is not None else None
        # A simulated market may be ahead of the decision engine: it processed trades
        # [cursor, market_seq) before the crash. All but the last changed nothing (a fill
        # would have been journaled with a later cursor), so the engine replays them alone
        # (exact: the core is deterministic); the last one's fills come from the lookups
        # below, then the trade itself is handled, in the order a live run has them.
        trade_at_cursor: MarketTrade | None = None
        if market_seq is not None and market_seq > cursor:
            for _ in range(market_seq - 1 - cursor):
                trade = next(self._ticks, None)
                if trade is None:
                    break
                results.append(await self._process(trade))
                await self._drain(results)
            trade_at_cursor = next(self._ticks, None)
        for ev in await self.driver.recovery_events():
            self._queue.append(ev)
            await self._drain(results)
        await self.driver.cancel_orphans()
        if trade_at_cursor is not None:
            self._queue.append(trade_at_cursor)  # already advanced at the exchange
        return results

    # -- inspection --------------------------------------------------------------------

    def summary(self) -> Facts:
        """The pair at a glance: the exact Decimals, shown rounded in a notebook (Facts)."""
        d = self.decision
        pos = d.position
        summary = {
            "product_id": self.product_id,
            "phase": d.phase.value,
            "cursor": self.cursor,
            "last_price": d.last_price,
            "position": None
            if pos is None
            else {
                "open_size": pos.open_size,
                "entry_price": pos.entry_price,
                "highest": pos.highest,
                "stop_trigger": pos.stop_trigger,
                "stop_limit": pos.stop_limit,
            },
            "live_stops": len(d.live_stops()),
            "realized_pnl": self.store.total_realized_pnl(self.product_id),
        }
        return Facts(summary, product=d.product)
