"""One pair's driver: journal what the core decided, then do it on the exchange.

Written once, async; `tradekit/engine/_sync/driver.py` is generated from this file by
`tools/gen_sync.py`, so the sync ExecutionEngine and the async engine perform commands,
read the exchange's truth and recover after a crash with the same code, line for line.

The driver holds no trading rule. For each event it asks the core for commands, commits
the event, the commands (as intents), the reports, the touched orders and the core's
snapshot in ONE store transaction, and only then sends the commands; each command's
outcome comes back as events for the caller to feed in, in order, before new market data.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tradekit.core.commands import (
    CancelOrder,
    Command,
    EditStopOrder,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    QueryOrder,
    placement,
)
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import (
    CancelRejected,
    CancelUnknown,
    EditRejected,
    Event,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderEventBase,
    OrderFilled,
    OrderNotFound,
    OrderRejected,
    OrderSubmitUnknown,
    Timer,
)
from tradekit.core.orders import Order, OrderStatus
from tradekit.core.reports import Report
from tradekit.exchange._async.protocols import AsyncExchangeApi, AsyncStopEditor
from tradekit.exchange.coinbase.pacing import priority_of, request_priority
from tradekit.exchange.types import TRANSIENT, Fill, status_report
from tradekit.store.sqlite import Store


@dataclass(slots=True)
class StepResult:
    """What handling one event did: the commands it caused and their outcomes."""

    event: Event | None
    commands: list[Command] = field(default_factory=list)
    outcomes: list[Event] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


# an edit refused because the order already has the levels asked for: settled by a lookup
EDIT_EQUAL = "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"


def fill_event(f: Fill, client_order_id: str | None = None) -> OrderFilled:
    """A fill as a core event; Coinbase's fills do not name the client order id."""
    coid = client_order_id or f.client_order_id
    return OrderFilled(coid, f.trade_id, f.price, f.size, f.commission, f.ts)


class AsyncPairDriver:
    """Performs one pair's commands on an exchange adapter and journals everything."""

    def __init__(self, decision: DecisionEngine, exchange: AsyncExchangeApi, store: Store) -> None:
        self.decision = decision
        self.exchange = exchange
        self.store = store
        self.product_id = decision.product_id
        # may the exchange move a resting stop in place? (then no unprotected gap)
        self._editor = exchange if isinstance(exchange, AsyncStopEditor) else None
        self.can_edit_stops = self._editor is not None and self._editor.can_edit_stops_for(
            self.product_id  # learned per product
        )
        decision.can_edit_stops = self.can_edit_stops
        self.cursor = 0  # market trades the decision engine has handled (journaled)
        # stop moves in progress: new stop's id -> (old stop's id, when its cancel was sent)
        self._gaps: dict[str, tuple[str, float]] = {}
        self.unprotected_s: list[float] = []  # every measured cancel-then-place gap
        # an order's state is in doubt and a lookup failed too: `settle()` asks again
        self.unsettled = False

    # -- one event -----------------------------------------------------------------

    async def process(self, ev: Event) -> StepResult:
        """Handle one event: decide, journal, perform. Outcomes are in the result."""
        commands = self.decision.handle(ev)
        if isinstance(ev, MarketTrade):
            self.cursor += 1
        return await self.after_handle(ev, commands)

    async def after_handle(self, ev: Event | None, commands: list[Command]) -> StepResult:
        reports = self.decision.take_reports()
        result = StepResult(ev, commands, [], reports)
        if not (commands or reports) and isinstance(ev, MarketTrade | Timer):
            return result  # nothing changed that a restart could not rebuild
        self.journal(ev, commands, reports)
        for cmd in commands:
            result.outcomes.extend(await self.perform(cmd))
        return result

    def journal(self, ev: Event | None, commands: list[Command], reports: list[Report]) -> None:
        self.store.record(
            self.product_id,
            event=ev,
            commands=commands,
            reports=reports,
            orders=self._touched(ev, commands),
            snapshot=self.decision.snapshot(),
            cursor=self.cursor,
            ts=self.decision.last_ts,
        )

    def _touched(self, ev: Event | None, commands: list[Command]) -> list[Order]:
        ids = {c.client_order_id for c in commands}
        for c in commands:
            if isinstance(c, CancelOrder) and c.then is not None:
                ids.add(c.then.client_order_id)
        if isinstance(ev, OrderEventBase) and ev.client_order_id:
            ids.add(ev.client_order_id)
        orders = self.decision.orders
        return [orders[i] for i in sorted(ids) if i in orders]

    # -- commands ------------------------------------------------------------------

    async def perform(self, cmd: Command) -> list[Event]:
        """Do one command on the exchange; its outcome as events (never an exception
        for what the exchange answered; transport trouble becomes an *unknown* event).
        Its requests wait for their turn by its priority (protective ones first)."""
        with request_priority(priority_of(cmd)):
            return await self._perform(cmd)

    async def _perform(self, cmd: Command) -> list[Event]:
        ts = self.decision.last_ts
        try:
            if isinstance(cmd, PlaceLimitBuy):
                res = await self.exchange.place_limit_buy(
                    cmd.client_order_id, cmd.product_id, cmd.size, cmd.limit_price
                )
            elif isinstance(cmd, PlaceLimitSell):
                res = await self.exchange.place_limit_sell(
                    cmd.client_order_id, cmd.product_id, cmd.size, cmd.limit_price
                )
            elif isinstance(cmd, PlaceStopLimitSell):
                res = await self.exchange.place_stop_limit(
                    cmd.client_order_id, cmd.product_id, cmd.size, cmd.stop_price, cmd.limit_price
                )
            elif isinstance(cmd, EditStopOrder):
                return await self._edit(cmd, ts)
            elif isinstance(cmd, QueryOrder):
                news = await self.order_news(cmd.client_order_id, cmd.order_id, ts)
                return news or [OrderNotFound(cmd.client_order_id, ts)]
            else:
                if cmd.then is not None:
                    self._gaps[cmd.then.client_order_id] = (cmd.client_order_id, time.monotonic())
                cancelled = await self.exchange.cancel_order(cmd.order_id)
                if cancelled.success:
                    return await self.order_news(cmd.client_order_id, cmd.order_id, ts)
                # refused (filled, triggered, or a passing failure): the core asks the
                # exchange (QueryOrder) and its answer decides
                return [CancelRejected(cmd.client_order_id, cancelled.failure_reason, ts)]
        except TRANSIENT as exc:
            # Never assumed failed: say it is unknown; the core asks the exchange at once.
            if isinstance(cmd, CancelOrder):
                return [CancelUnknown(cmd.client_order_id, ts, str(exc))]
            if isinstance(cmd, QueryOrder):
                self.unsettled = True  # no answer: `settle()` asks again
                return []
            return [OrderSubmitUnknown(cmd.client_order_id, ts, str(exc))]
        if res.success and res.order_id:
            if isinstance(cmd, PlaceStopLimitSell):
                self._gap_closed(cmd, ts)
            return [OrderAccepted(cmd.client_order_id, res.order_id, ts)]
        return [OrderRejected(cmd.client_order_id, res.failure_reason or "UNKNOWN", ts)]

    async def _edit(self, cmd: EditStopOrder, ts: int) -> list[Event]:
        editor = self._editor
        if editor is None:  # the core edits only where the exchange said it can
            return [EditRejected(cmd.client_order_id, "this exchange does not edit orders", ts)]
        try:
            res = await editor.edit_order(cmd.order_id, cmd.size, cmd.limit_price, cmd.stop_price)
        except TRANSIENT:
            try:
                return await self.edit_truth(cmd.client_order_id, cmd.order_id, ts)
            except TRANSIENT:
                self.unsettled = True  # `settle()` asks again
                return []
        if res.success:
            self._moved_in_place(cmd, ts)
            return [OrderEdited(cmd.client_order_id, cmd.size, cmd.stop_price, cmd.limit_price, ts)]
        reason = res.failure_reason or "UNKNOWN"
        if reason == EDIT_EQUAL:  # the order has these levels already (an earlier try took)
            try:
                return await self.edit_truth(cmd.client_order_id, cmd.order_id, ts)
            except TRANSIENT:
                self.unsettled = True  # `settle()` asks again
                return []
        if editor.note_edit_refused(self.product_id, reason):  # unsupported: for good
            self.can_edit_stops = self.decision.can_edit_stops = False
        return [EditRejected(cmd.client_order_id, reason, ts)]

    async def edit_truth(self, coid: str, order_id: str, ts: int) -> list[Event]:
        """An edit whose answer is unknown: the order's levels, as the exchange has them."""
        o = await self.exchange.get_order(order_id)
        if o is None:
            return [EditRejected(coid, "order not found after an unanswered edit", ts)]
        news = await self.order_news(coid, order_id, ts)
        news = [e for e in news if not isinstance(e, OrderAccepted)]
        return [OrderEdited(coid, o.size, o.stop_price, o.limit_price, ts), *news]

    def _moved_in_place(self, cmd: EditStopOrder, ts: int) -> None:
        """Journal a stop moved by an edit: it never stopped resting (0 ms unprotected,
        beside the cancel-then-place moves' measured gaps)."""
        self.unprotected_s.append(0.0)
        self.store.record_outcome(
            self.product_id,
            cmd.client_order_id,
            {"replaces": cmd.client_order_id, "unprotected_ms": 0.0, "edited": True},
            ts,
        )

    def _gap_closed(self, stop: PlaceStopLimitSell, ts: int) -> None:
        """Journal how long the position was unprotected while its stop moved (wall
        time from sending the cancel to the new stop's acknowledgement)."""
        gap = self._gaps.pop(stop.client_order_id, None)
        if gap is None:
            return
        seconds = time.monotonic() - gap[1]
        self.unprotected_s.append(seconds)
        self.store.record_outcome(
            self.product_id,
            stop.client_order_id,
            {"replaces": gap[0], "unprotected_ms": round(seconds * 1000, 3)},
            ts,
        )

    # -- the exchange's truth ------------------------------------------------------

    def coid_of(self, fill: Fill) -> str:
        """The client order id of a fill (Coinbase's fills only name the order id)."""
        if fill.client_order_id:
            return fill.client_order_id
        for order in self.decision.orders.values():
            if order.order_id == fill.order_id:
                return order.client_order_id
        return ""

    async def order_news(self, coid: str, order_id: str | None, ts: int) -> list[Event]:
        """The exchange's truth about one order: unseen fills first, then its status."""
        if order_id:
            o = await self.exchange.get_order(order_id)
        else:
            o = await self.exchange.get_order_by_client_id(coid)
        if o is None:
            return []
        known = self.decision.orders.get(coid)
        seen = known.trade_ids if known is not None else set()
        events: list[Event] = []
        if order_id is None:
            events.append(OrderAccepted(coid, o.order_id, ts))
        if o.filled_size > (known.filled_size if known is not None else 0):
            fills = await self.exchange.list_fills(order_id=o.order_id)
            fresh = [f for f in sorted(fills, key=_fill_key) if f.trade_id not in seen]
            events += [fill_event(f, coid) for f in fresh]
        if o.status is not OrderStatus.FILLED or o.triggered:
            events.append(status_report(o, ts))
        return events

    async def settle(self) -> list[Event]:
        """Ask again about every order whose last request has an unknown outcome; a
        placement the exchange still does not have is sent again (same id)."""
        self.unsettled = False
        events: list[Event] = []
        doubtful = (
            OrderStatus.SUBMIT_UNKNOWN,
            OrderStatus.CANCEL_UNKNOWN,
            OrderStatus.UNKNOWN_ORDER_STATUS,
            OrderStatus.PENDING_EDIT,  # never in flight here: its answer was lost
        )
        for order in list(self.decision.pending_orders()):
            if order.status in doubtful:
                try:
                    events += await self._recover_order(order, self.decision.last_ts)
                except TRANSIENT:
                    self.unsettled = True
        return events

    async def trade_events(self, trade: MarketTrade, fills: list[Fill]) -> list[Event]:
        """The events of one trade on a simulated market, after it matched the trade
        (`advance` gave `fills`), in the one order every loop handles them: the stop's
        news when the trade reached the stop (it may have triggered without a fill),
        then the fills, then the trade itself. The sync and async loops, the portfolio
        and the backtest runner all take a trade's events from here, and handle each
        event's outcomes before the next event (`handle_all`): the same outcome
        whatever the loop."""
        events: list[Event] = []
        stop = self.decision.stop
        if stop is not None and stop.stop_price is not None and trade.price <= stop.stop_price:
            events += await self.stop_news(trade, fills)
        events += [fill_event(f, self.coid_of(f)) for f in fills]
        events.append(trade)
        return events

    async def handle_all(self, events: list[Event]) -> list[StepResult]:
        """Handle `events` in order, each one's outcomes (and theirs) before the next:
        the queue discipline of every loop, written once."""
        queue: deque[Event] = deque(events)
        results: list[StepResult] = []
        while queue:
            result = await self.process(queue.popleft())
            results.append(result)
            queue.extendleft(reversed(result.outcomes))
        return results

    async def stop_news(self, trade: MarketTrade, fills: list[Fill]) -> list[Event]:
        """A print at or below the stop may have triggered it without filling it (a gap
        through its limit): fills would tell, silence does not, so ask the exchange.
        To be handled before the trade's other fills: the trigger happened at this print,
        and the core must know the stop is executing before it reacts to an entry fill."""
        stop = self.decision.stop
        if (
            stop is None
            or stop.triggered
            or stop.stop_price is None
            or trade.price > stop.stop_price
            or stop.order_id is None
            or stop.status is not OrderStatus.OPEN
            or any(f.order_id == stop.order_id for f in fills)
        ):
            return []
        return await self.order_news(stop.client_order_id, stop.order_id, trade.ts)

    # -- recovery ------------------------------------------------------------------

    def restore(self) -> bool:
        """Load the saved decision state; False when there is none (a first start)."""
        saved = self.store.load_engine_state(self.product_id)
        if saved is None:
            return False
        snapshot, cursor = saved
        decision = DecisionEngine.restore(self.decision.params, self.decision.rule, snapshot)
        decision.can_edit_stops = self.can_edit_stops
        self.decision = decision
        self.cursor = cursor
        return True

    async def recovery_events(self) -> list[Event]:
        """What happened to every open order while we were away, as events.

        In-flight requests are first marked unknown (a journaled placement or cancel may
        or may not have reached the exchange); then each order is looked up (by order
        id, or by client_order_id when the id never came back); a placement the
        exchange never saw is sent again with the same client_order_id."""
        ts = self.decision.last_ts
        events: list[Event] = []
        for order in list(self.decision.pending_orders()):
            events += await self._recover_order(order, ts)
        return events

    async def sync_ids(self, limit: int = 1000) -> int:
        """Skip client order ids the exchange already knows (see DecisionEngine's doc).

        The id counter is saved in the same commit as the command that uses it, but a
        commit that was not fsync'd can be lost to a power cut while its order reached
        the exchange; the restored counter would then hand out that id again, and
        Coinbase answers a reused id with the OLD order. So before any new id is sent the
        next ids are looked up, and the used ones are skipped (and noted). Run right
        after `restore()`, before anything can decide."""
        decision = self.decision
        skipped = 0
        while skipped < limit:
            coid = f"{decision.id_prefix}-{decision.seq + 1}"
            if await self.exchange.get_order_by_client_id(coid) is None:
                break
            decision.skip_ids(1)
            skipped += 1
        if skipped:
            self.store.note(
                self.product_id,
                f"skipped {skipped} client order id(s) the exchange already knows "
                f"(the store lost its last commit): next id {decision.id_prefix}-"
                f"{decision.seq + 1}",
                decision.last_ts,
            )
        return skipped

    async def _recover_order(self, order: Order, ts: int) -> list[Event]:
        coid = order.client_order_id
        status = order.status
        events: list[Event] = []
        if status is OrderStatus.INITIALIZED:
            events.append(OrderSubmitUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_CANCEL:
            events.append(CancelUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_EDIT and order.order_id is not None:
            return await self.edit_truth(coid, order.order_id, ts)
        if order.order_id is None:
            found = await self.exchange.get_order_by_client_id(coid)
            if found is None:
                # Never reached the exchange: send it now (same id: cannot be a second order).
                cmd = placement(order)
                self.journal(None, [cmd], [])
                return events + await self.perform(cmd)
            events.append(OrderAccepted(coid, found.order_id, ts))
            order_id: str | None = found.order_id
        else:
            order_id = order.order_id
        news = await self.order_news(coid, order_id, ts)
        return events + [e for e in news if not isinstance(e, OrderAccepted)]

    async def cancel_orphans(self) -> int:
        """Cancel open orders with this engine's id prefix that it does not know."""
        prefix = self.decision.id_prefix + "-"
        known = self.decision.orders
        cancelled = 0
        for o in await self.exchange.list_open_orders(self.product_id):
            if o.client_order_id.startswith(prefix) and o.client_order_id not in known:
                res = await self.exchange.cancel_order(o.order_id)
                cancelled += 1
                self.store.note(
                    self.product_id,
                    f"cancelled orphan order {o.client_order_id} ({o.order_id}): "
                    f"{'ok' if res.success else res.failure_reason}",
                    self.decision.last_ts,
                )
        return cancelled


def _fill_key(f: Fill) -> tuple[int, str]:
    return (f.ts, f.trade_id)
