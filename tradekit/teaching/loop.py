"""A trailing-stop loop small enough to read in one sitting: what students fill in and fix.

`TrailingStopLoop` buys once at the first trade, then keeps a stop-limit sell under the
price and moves it up (never down) by cancel-then-place, booking every fill once. Its
pieces are methods an exercise replaces: `candidate` (where the stop would go now),
`move_stop` (cancel the old stop, and only once the cancel is confirmed place the new
one), `book` (add a fill to the position). Run correctly, its journal equals the
reference engine's on the calm scenarios, step for step; `tradekit.teaching.check`
says where a changed loop first parts from it.

`AsyncScenarioExchange` is the same exchange behind `await`, for the porting exercise.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tradekit.core.events import MarketTrade
from tradekit.exchange.types import Fill
from tradekit.teaching.journal import Journal, ScenarioExchange, Step
from tradekit.teaching.scenario import Scenario, load

__all__ = ["AsyncScenarioExchange", "TrailingStopLoop"]

ZERO = Decimal(0)


class TrailingStopLoop:
    """One pair, one entry, one trailing stop, on a scenario (see the module docstring)."""

    def __init__(self, scenario: Scenario | str, seed: int | None = None) -> None:
        sc = load(scenario)
        self.scenario = sc if seed is None else sc.with_seed(seed)
        self.spec = self.scenario.spec()
        self.product = self.spec.product
        self.exchange = ScenarioExchange(self.scenario)
        self.journal: Journal = self.exchange.journal
        self.held = ZERO  # what the loop believes it holds
        self.trigger: Decimal | None = None  # the resting stop's trigger
        self.stop_id: str | None = None  # the resting stop's order id
        self.entry_id: str | None = None
        self.entry_price = ZERO  # the entry's fill price
        self.seen_fills: set[str] = set()
        self._seq = 0

    # -- the pieces exercises replace -------------------------------------------

    def candidate(self, price: Decimal) -> Decimal:
        """Where the stop would go for this price: `trail_pct` under it, rounded down to
        the product's price increment (rounded first, so a move always changes it)."""
        candidate: Decimal = self.product.price_down(price * (1 - self.spec.trail_pct))
        return candidate

    def move_stop(self, trigger: Decimal) -> None:
        """Cancel the resting stop; place the new one only once the cancel is confirmed
        (two stops resting could sell the position twice)."""
        if self.stop_id is not None:
            res = self.exchange.cancel_order(self.stop_id)
            if not res.success:
                return  # it filled or triggered: the fills will tell
        self.place_stop(trigger)

    def book(self, fill: Fill) -> None:
        """Add one fill to what is held, once: a fill is known by its trade id."""
        if fill.trade_id in self.seen_fills:
            return
        self.seen_fills.add(fill.trade_id)
        if fill.order_id == self.entry_id:
            self.entry_price = fill.price
            self.held += fill.size
        else:
            self.held -= fill.size

    # -- the rest of the loop ----------------------------------------------------

    def should_move(self, candidate: Decimal) -> bool:
        """The ratchet: only up, and only by more than `min_ratchet`."""
        return self.trigger is None or candidate > self.trigger * (1 + self.spec.min_ratchet)

    def next_id(self) -> str:
        self._seq += 1
        return f"student-{self._seq}"

    def place_stop(self, trigger: Decimal) -> None:
        limit = self.product.price_down(trigger * (1 - self.spec.stop_limit_buffer_pct))
        res = self.exchange.place_stop_limit(
            self.next_id(), self.product.product_id, self.held, trigger, limit
        )
        self.stop_id = res.order_id if res.success else None
        self.trigger = trigger if res.success else None

    def enter(self, trade: MarketTrade) -> None:
        assert self.spec.quote_budget is not None
        limit = self.product.price_down(trade.price)
        size = self.product.size_down(self.spec.quote_budget / limit)
        res = self.exchange.place_limit_buy(self.next_id(), trade.product_id, size, limit)
        self.entry_id = res.order_id

    def on_trade(self, tick: int, trade: MarketTrade) -> None:
        """One market trade: fills first, then the entry, the first stop, the ratchet."""
        self.exchange.tick = tick
        fills = self.exchange.advance(trade)
        before = self.held
        for fill in fills:
            self.book(fill)
        if self.entry_id is None and tick == 0:
            self.enter(trade)
        if self.held > 0 and self.stop_id is None and self.trigger is None:
            self.move_stop(self.candidate(self.entry_price))  # the first stop: from the fill
        if self.held > 0:
            candidate = self.candidate(trade.price)
            if self.should_move(candidate):
                self.move_stop(candidate)
        if self.held != before:
            self.journal.add(Step(tick, "booked", "position", size=self.held))

    def run(self) -> Journal:
        """Every trade of the scenario through the loop; returns its journal."""
        for tick, trade in enumerate(self.scenario.trades()):
            self.on_trade(tick, trade)
        return self.journal


class AsyncScenarioExchange:
    """A `ScenarioExchange` behind `await` (the porting exercise's exchange): each call
    gives the event loop a turn first, as a network call would, so a call left without
    `await` is a coroutine, not an answer."""

    def __init__(self, inner: ScenarioExchange) -> None:
        self.inner = inner

    @property
    def journal(self) -> Journal:
        return self.inner.journal

    @property
    def tick(self) -> int:
        return self.inner.tick

    @tick.setter
    def tick(self, value: int) -> None:
        self.inner.tick = value

    async def advance(self, trade: MarketTrade) -> list[Fill]:
        await asyncio.sleep(0)
        return self.inner.advance(trade)

    async def place_limit_buy(self, *args: Any) -> Any:
        await asyncio.sleep(0)
        return self.inner.place_limit_buy(*args)

    async def place_stop_limit(self, *args: Any) -> Any:
        await asyncio.sleep(0)
        return self.inner.place_stop_limit(*args)

    async def cancel_order(self, order_id: str) -> Any:
        await asyncio.sleep(0)
        return self.inner.cancel_order(order_id)
